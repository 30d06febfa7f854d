"""Output: ``OUT/sentences`` and ``OUT/articles`` (``datasets`` folders), exports, ``run.json``.

Rows are written chunk by chunk to Arrow shard files under ``OUT/.mtqa/shards`` (each shard
written to a temporary name and renamed, so a shard on disk is always whole); ``finish``
memory-maps the shards into the final datasets, so memory stays bounded however large the
job. The output folder is checked before any model is loaded: it must not exist (unless
``overwrite``) and must be writable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.ipc as ipc
from datasets import Features, List, Value

from mtqa.errors import OutputError
from mtqa.signals.base import Column

_DTYPES = {"float32": Value("float32"), "int32": Value("int32"), "string": Value("string"), "bool": Value("bool")}

SPAN = {"start": Value("int32"), "end": Value("int32"), "label": Value("string"), "score": Value("float32"), "note": Value("string")}

SENTENCE_BASE = {
    "article_id": Value("string"),
    "sentence_id": Value("int32"),
    "paragraph_id": Value("int32"),
    "start": Value("int32"),
    "end": Value("int32"),
    "text": Value("string"),
    "quality": Value("float32"),
    "flags": List(Value("string")),
    "spans": List(SPAN),
}

ARTICLE_FEATURES = Features({
    "article_id": Value("string"),
    "origin": Value("string"),
    "n_sentences": Value("int32"),
    "quality": Value("float32"),
    "flagged_share": Value("float32"),
    "worst_sentence_id": Value("int32"),
    "text": Value("string"),
})


def sentence_features(columns: Iterable[Column]) -> Features:
    feats = dict(SENTENCE_BASE)
    for c in columns:
        feats[c.name] = _DTYPES[c.dtype]
    return Features(feats)


def check_output(out: Path, overwrite: bool) -> None:
    """Fail early (before loading a model) if ``out`` cannot be used."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out}: output folder exists; pass --overwrite to replace it (or choose another -o)")
    probe_dir = out if out.exists() else out.parent
    try:
        probe_dir.mkdir(parents=True, exist_ok=True)
        probe = probe_dir / f".mtqa-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({exc.strerror or exc})") from None


class ShardWriter:
    """Appends row chunks as Arrow shards and assembles the final datasets."""

    def __init__(self, out: Path, sentence_columns: Iterable[Column], overwrite: bool = False):
        self.out = out
        self.sentence_features = sentence_features(sentence_columns)
        self.shards = out / ".mtqa" / "shards"
        if overwrite and out.exists():
            shutil.rmtree(out)
        self.shards.mkdir(parents=True, exist_ok=True)
        self.n_shards = 0

    def _write(self, rows: list[dict], features: Features, name: str) -> None:
        schema = features.arrow_schema
        table = pa.Table.from_pylist(rows, schema=schema)
        final = self.shards / name
        tmp = final.with_suffix(".tmp")
        with ipc.new_stream(str(tmp), schema) as writer:
            writer.write_table(table)
        os.replace(tmp, final)

    def write_chunk(self, sentence_rows: list[dict], article_rows: list[dict]) -> None:
        k = self.n_shards
        self._write(sentence_rows, self.sentence_features, f"sentences-{k:06d}.arrow")
        self._write(article_rows, ARTICLE_FEATURES, f"articles-{k:06d}.arrow")
        self.n_shards += 1

    def _assemble(self, kind: str, features: Features, description: str):
        import datasets

        files = sorted(self.shards.glob(f"{kind}-*.arrow"))
        parts = [datasets.Dataset.from_file(str(f)) for f in files]
        ds = datasets.concatenate_datasets(parts) if parts else datasets.Dataset.from_list([], features=features)
        ds.info.description = description
        ds.save_to_disk(str(self.out / kind))
        return ds

    def finish(self, run_info: dict[str, Any], formats: list[str], description: str) -> dict[str, Any]:
        sentences = self._assemble("sentences", self.sentence_features, description)
        articles = self._assemble("articles", ARTICLE_FEATURES, description)
        for fmt in formats:
            export(sentences, self.out / f"sentences.{fmt}", fmt)
            export(articles, self.out / f"articles.{fmt}", fmt)
        write_json_atomic(self.out / "run.json", run_info)
        shutil.rmtree(self.out / ".mtqa", ignore_errors=True)
        return {"sentences": sentences, "articles": articles}


def export(ds, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        ds.to_parquet(str(path))
    elif fmt == "jsonl":
        ds.to_json(str(path), lines=True, force_ascii=False)
    elif fmt == "csv":
        # CSV cannot hold lists of structs: flags and spans become JSON strings
        flat = ds.map(lambda r: {"flags": json.dumps(r["flags"]), "spans": json.dumps(r["spans"], ensure_ascii=False)}
                      if "spans" in r else {}, features=None) if "spans" in ds.column_names else ds
        flat.to_csv(str(path), index=False)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
