"""Shards, manifest and final datasets (:mod:`mtqa.writers.shards`): empty outputs, failed writes."""

from __future__ import annotations

import errno
import json

import pytest

from mtqa.errors import OutputError
from mtqa.signals.base import Column
from mtqa.writers import OutputLock, ShardWriter, foreign_entries


COLUMNS = [Column("lm_tokens", "int32", "tokens"), Column("slor", "float32", "SLOR")]


def test_nothing_to_score_gives_valid_empty_datasets(tmp_path):
    import datasets

    out = tmp_path / "out"
    with OutputLock(out):
        writer = ShardWriter(out, COLUMNS, key="k", signature="sig")
        writer.write_chunk([], [], k=0, digest="d")
        result = writer.finish({"mtqa_version": "x", "signature": "sig"}, ["parquet", "jsonl", "csv"], "sig")
    for kind in ("sentences", "articles"):
        ds = datasets.load_from_disk(str(out / kind))
        assert len(ds) == 0 and ds.features == result[kind].features
    assert datasets.load_from_disk(str(out / "sentences")).features == writer.sentence_features.features()
    assert {"lm_tokens", "slor", "quality", "spans"} <= set(writer.sentence_features)
    assert (out / "sentences.parquet").is_file() and (out / "articles.csv").is_file()
    assert not (out / ".mtqa").exists()
    assert foreign_entries(out) == []  # and a later --overwrite may replace all of it


def test_disk_full_is_one_line_with_the_path_and_what_to_do(tmp_path, monkeypatch):
    from mtqa.writers import shards

    out = tmp_path / "out"
    row = {"article_id": "a", "origin": "f", "n_sentences": 0, "quality": None, "flagged_share": None,
           "worst_sentence_id": None, "text": "t"}
    with OutputLock(out):
        writer = ShardWriter(out, COLUMNS, key="k", signature="sig")
        writer.write_chunk([], [row], k=0, digest="d0")

        def full(*a, **kw):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(shards.ipc, "new_stream", full)
        with pytest.raises(OutputError) as info:
            writer.write_chunk([], [row], k=1, digest="d1")
    msg = str(info.value)
    assert "\n" not in msg and "sentences-00000001.arrow" in msg and "no space left on device" in msg
    assert "Nothing already scored is lost" in msg and "run the same command again to resume" in msg
    manifest = json.loads((out / ".mtqa" / "manifest.json").read_text())
    assert list(manifest["chunks"]) == ["0"]  # chunk 0 kept; chunk 1 not recorded
    assert not list((out / ".mtqa" / "shards").glob("*.tmp*"))  # no half shard left taking space
