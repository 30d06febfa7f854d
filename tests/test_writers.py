"""The writer's safety rules on real folders, without a model: what OUT may be, what
``--overwrite`` may delete, the output lock, empty outputs, failed writes, chunk hashes."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from mtqa.errors import OutputError
from mtqa.signals.base import Column
from mtqa.types import Article
from mtqa.writers import (OutputLock, ShardWriter, check_output, check_target, chunk_digest, clear_output,
                          foreign_entries)


def fake_output(folder: Path, *, formats=("parquet",), report=True) -> Path:
    """A folder laid out exactly as a finished mtqa output (the files' contents do not matter here)."""
    for kind in ("sentences", "articles"):
        (folder / kind).mkdir(parents=True)
        for name in ("data-00000-of-00001.arrow", "dataset_info.json", "state.json"):
            (folder / kind / name).write_text("x")
        for fmt in formats:
            (folder / f"{kind}.{fmt}").write_text("x")
    (folder / "run.json").write_text(json.dumps({"mtqa_version": "0.1.0", "signature": "mtqa:0.1.0|..."}))
    if report:
        (folder / "report.html").write_text("<html></html>")
    return folder


def test_a_finished_output_is_recognised_and_holds_nothing_foreign(tmp_path):
    out = fake_output(tmp_path / "out")
    assert foreign_entries(out) == []
    check_target(out, [], overwrite=True)  # may be replaced
    with pytest.raises(OutputError, match="output folder exists"):
        check_output(out, overwrite=False)


@pytest.mark.parametrize("extra", ["thesis.docx", "sub/notes.md", "sentences/mine.txt", ".hidden"])
def test_overwrite_refuses_a_folder_with_files_mtqa_did_not_write(tmp_path, extra):
    out = fake_output(tmp_path / "out")
    (out / extra).parent.mkdir(parents=True, exist_ok=True)
    (out / extra).write_text("the user's")
    with pytest.raises(OutputError, match="files mtqa did not write"):
        check_output(out, overwrite=True)
    with pytest.raises(OutputError, match="files mtqa did not write"):
        clear_output(out)  # the last line of defence, run just before deleting
    assert (out / extra).read_text() == "the user's"


def test_overwrite_refuses_a_folder_that_is_not_an_mtqa_output(tmp_path):
    """Only mtqa-named entries but no run.json/manifest written by mtqa: not recognisably ours."""
    out = tmp_path / "out"
    (out / "sentences").mkdir(parents=True)
    (out / "sentences" / "data.arrow").write_text("x")
    (out / "run.json").write_text('{"my": "own run.json"}')
    with pytest.raises(OutputError, match="not an mtqa output"):
        check_output(out, overwrite=True)


def test_a_symlink_in_the_output_is_never_followed(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.arrow").write_text("keep")
    out = fake_output(tmp_path / "out")
    import shutil

    shutil.rmtree(out / "articles")
    (out / "articles").symlink_to(precious)
    with pytest.raises(OutputError, match="articles/"):
        check_output(out, overwrite=True)
    assert (precious / "data.arrow").read_text() == "keep"


@pytest.mark.parametrize("where", [".", "..", "../.."])
def test_the_working_directory_and_its_parents_are_refused(tmp_path, monkeypatch, where):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="working directory"):
            check_output(Path(where), overwrite)


def test_an_output_holding_or_being_an_input_is_refused(tmp_path):
    src = tmp_path / "proj" / "in" / "a.txt"
    src.parent.mkdir(parents=True)
    src.write_text("An article.")
    for out in (tmp_path / "proj", tmp_path / "proj" / "in", src):
        with pytest.raises(OutputError, match="input"):
            check_output(out, True, inputs=[str(src)])
    with pytest.raises(OutputError, match="is the input"):
        check_output(tmp_path / "proj" / "in", True, inputs=[str(tmp_path / "proj" / "in")])
    # next to the inputs is fine
    assert check_output(tmp_path / "proj" / "out", False, inputs=[str(src)]) is False


def test_clear_output_deletes_only_mtqa_files_and_keeps_the_folder_and_lock(tmp_path):
    out = fake_output(tmp_path / "out", formats=("parquet", "csv", "jsonl"))
    (out / ".mtqa" / "shards").mkdir(parents=True)
    (out / ".mtqa" / "manifest.json").write_text("{}")
    with OutputLock(out):
        clear_output(out)
        assert out.is_dir() and [p.name for p in out.iterdir()] == [".mtqa"]
        assert [p.name for p in (out / ".mtqa").iterdir()] == ["lock"]
    assert out.is_dir() and not (out / ".mtqa").exists()  # our own empty state folder is tidied, OUT stays


def test_one_lock_per_output(tmp_path):
    out = tmp_path / "out"
    first = OutputLock(out).acquire()
    try:
        assert (out / ".mtqa" / "lock").read_text().strip().isdigit()
        # flock locks belong to the open file: a second open in this very process conflicts too
        with pytest.raises(OutputError, match=r"another mtqa job \(pid \d+\) is writing"):
            OutputLock(out).acquire()
    finally:
        first.release()
    assert not out.exists()  # created by the lock, nothing written: no stub left
    with OutputLock(out):
        pass


def test_lock_survives_the_previous_holder_removing_its_file(tmp_path):
    """A job that opened the lock file just before its holder removed it must not think it holds the lock."""
    import fcntl
    import os

    out = tmp_path / "out"
    (out / ".mtqa").mkdir(parents=True)
    stale = os.open(out / ".mtqa" / "lock", os.O_RDWR | os.O_CREAT)
    (out / ".mtqa" / "lock").unlink()  # the previous holder released and removed it
    fcntl.flock(stale, fcntl.LOCK_EX)  # someone locks the removed file
    try:
        with OutputLock(out) as lock:  # locks the live file, not the removed one
            assert os.stat(lock.path).st_ino == os.fstat(lock.fd).st_ino
            with pytest.raises(OutputError, match="another mtqa job"):
                OutputLock(out).acquire()
    finally:
        os.close(stale)


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
    assert datasets.load_from_disk(str(out / "sentences")).features == writer.sentence_features
    assert {"lm_tokens", "slor", "quality", "spans"} <= set(writer.sentence_features)
    assert (out / "sentences.parquet").is_file() and (out / "articles.csv").is_file()
    assert not (out / ".mtqa").exists()
    assert foreign_entries(out) == []  # and a later --overwrite may replace all of it


def test_disk_full_is_one_line_with_the_path_and_what_to_do(tmp_path, monkeypatch):
    from mtqa import writers

    out = tmp_path / "out"
    row = {"article_id": "a", "origin": "f", "n_sentences": 0, "quality": None, "flagged_share": None,
           "worst_sentence_id": None, "text": "t"}
    with OutputLock(out):
        writer = ShardWriter(out, COLUMNS, key="k", signature="sig")
        writer.write_chunk([], [row], k=0, digest="d0")

        def full(*a, **kw):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(writers.ipc, "new_stream", full)
        with pytest.raises(OutputError) as info:
            writer.write_chunk([], [row], k=1, digest="d1")
    msg = str(info.value)
    assert "\n" not in msg and "sentences-00000001.arrow" in msg and "no space left on device" in msg
    assert "Nothing already scored is lost" in msg and "run the same command again to resume" in msg
    manifest = json.loads((out / ".mtqa" / "manifest.json").read_text())
    assert list(manifest["chunks"]) == ["0"]  # chunk 0 kept; chunk 1 not recorded
    assert not list((out / ".mtqa" / "shards").glob("*.tmp*"))  # no half shard left taking space


def test_chunk_digest_covers_every_input_field():
    base = [Article("a", "Text one.", "f:row 1", source="Quelle", reference="Ref")]
    d = chunk_digest(base)
    assert d == chunk_digest([Article("a", "Text one.", "f:row 1", source="Quelle", reference="Ref")])
    for changed in (Article("b", "Text one.", "f:row 1", "Quelle", "Ref"), Article("a", "Text one!", "f:row 1", "Quelle", "Ref"),
                    Article("a", "Text one.", "g:row 1", "Quelle", "Ref"), Article("a", "Text one.", "f:row 1", None, "Ref"),
                    Article("a", "Text one.", "f:row 1", "Quelle", "")):
        assert chunk_digest([changed]) != d
    # no ambiguity between field boundaries
    assert chunk_digest([Article("ab", "c", "o")]) != chunk_digest([Article("a", "bc", "o")])
