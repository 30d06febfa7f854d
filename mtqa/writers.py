"""Output: ``OUT/sentences`` and ``OUT/articles`` (``datasets`` folders), exports, ``run.json``.

Rows are written chunk by chunk to Arrow shard files under ``OUT/.mtqa/shards`` (each shard
written to a temporary name and renamed, so a shard on disk is always whole), recorded in
``OUT/.mtqa/manifest.json`` so a killed job resumes; ``finish``
memory-maps the shards into the final datasets, so memory stays bounded however large the
job. The output folder is checked before any model is loaded: it must not exist (unless
``overwrite``) and must be writable.
"""

from __future__ import annotations

import hashlib
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


MANIFEST_VERSION = 1


def job_key(config_dump: dict) -> str:
    """What must match for an unfinished OUT to be resumed: the config minus where/how it is shown."""
    keep = {k: v for k, v in config_dump.items() if k not in ("output", "overwrite", "progress", "summary_worst", "report")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(out: Path) -> dict | None:
    path = out / ".mtqa" / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_output(out: Path, overwrite: bool, key: str | None = None) -> bool:
    """Fail early (before loading a model) if ``out`` cannot be used.

    Returns True when ``out`` holds an unfinished job with the same settings (``key``), which
    the caller then resumes. An unfinished job with other settings, or a finished one, is
    refused unless ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    resume = False
    if out.exists() and not overwrite:
        manifest = read_manifest(out)
        if manifest is not None:
            if manifest.get("key") != key or manifest.get("version") != MANIFEST_VERSION:
                raise OutputError(f"{out}: holds an unfinished job with other settings; rerun it with the same settings to "
                                  f"resume it, pass --overwrite to replace it, or choose another -o")
            resume = True
        elif any(p.name != ".mtqa" for p in out.iterdir()):
            raise OutputError(f"{out}: output folder exists; pass --overwrite to replace it (or choose another -o)")
    probe_dir = out if out.exists() else out.parent
    try:
        probe_dir.mkdir(parents=True, exist_ok=True)
        probe = probe_dir / f".mtqa-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({exc.strerror or exc})") from None
    return resume


def ids_digest(article_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(article_ids).encode()).hexdigest()[:16]


class ShardWriter:
    """Writes row chunks as Arrow shards with a manifest, and assembles the final datasets.

    Shard ``k`` holds the rows of input chunk ``k`` (chunks are deterministic: the readers
    always yield the same articles in the same order). Each shard is written to a temporary
    name and renamed, then the manifest ``OUT/.mtqa/manifest.json`` (also replaced
    atomically) records it: a chunk counts as done only once the manifest lists it, so a job
    killed at any point resumes where the manifest stops, and every row is written once.
    """

    def __init__(self, out: Path, sentence_columns: Iterable[Column], overwrite: bool = False, *,
                 key: str | None = None, signature: str | None = None, resume: bool = False):
        self.out = out
        self.sentence_features = sentence_features(sentence_columns)
        self.state = out / ".mtqa"
        self.shards = self.state / "shards"
        if overwrite and out.exists():
            shutil.rmtree(out)
        manifest = read_manifest(out) if resume else None
        if manifest is not None and signature is not None and manifest.get("signature") not in (None, signature):
            raise OutputError(f"{out}: holds an unfinished job scored with another model or library version "
                              f"({manifest.get('signature')}); pass --overwrite to start again")
        if manifest is None and self.state.exists():
            shutil.rmtree(self.state)  # a job killed before its first manifest: nothing to keep
        self.shards.mkdir(parents=True, exist_ok=True)
        self.manifest = manifest or {"version": MANIFEST_VERSION, "key": key, "signature": signature, "chunks": {}}
        self.resumed = manifest is not None
        self.sentences_at_start = sum(c["sentences"] for c in self.done.values())
        self.tokens_at_start = sum(c.get("tokens", 0) for c in self.done.values())
        self._save_manifest()

    # chunks -----------------------------------------------------------------------------
    @property
    def done(self) -> dict[str, dict]:
        return self.manifest["chunks"]

    def is_done(self, k: int, article_ids: list[str]) -> bool:
        entry = self.done.get(str(k))
        if entry is None:
            return False
        if entry["ids"] != ids_digest(article_ids):
            raise OutputError(f"{self.out}: the inputs changed since this job was started (chunk {k} holds other "
                              f"articles); pass --overwrite to start again")
        return True

    def _save_manifest(self) -> None:
        write_json_atomic(self.state / "manifest.json", self.manifest)

    def _write(self, rows: list[dict], features: Features, name: str) -> None:
        schema = features.arrow_schema
        table = pa.Table.from_pylist(rows, schema=schema)
        final = self.shards / name
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        with ipc.new_stream(str(tmp), schema) as writer:
            writer.write_table(table)
        os.replace(tmp, final)

    def write_chunk(self, sentence_rows: list[dict], article_rows: list[dict], *, k: int | None = None,
                    article_ids: list[str] | None = None, extra: dict | None = None) -> None:
        """Write chunk ``k`` (default: the next one) and record it in the manifest."""
        if k is None:
            k = max((int(x) for x in self.done), default=-1) + 1
        if sentence_rows or article_rows:
            self._write(sentence_rows, self.sentence_features, f"sentences-{k:08d}.arrow")
            self._write(article_rows, ARTICLE_FEATURES, f"articles-{k:08d}.arrow")
        ids = article_ids if article_ids is not None else [r["article_id"] for r in article_rows]
        self.done[str(k)] = {"ids": ids_digest(ids), "sentences": len(sentence_rows), "articles": len(article_rows),
                             **(extra or {})}
        self._save_manifest()

    @property
    def n_shards(self) -> int:
        return len(self.done)

    # assembling -------------------------------------------------------------------------
    def _assemble(self, kind: str, features: Features, description: str):
        import datasets

        ks = sorted(int(k) for k, v in self.done.items() if v["sentences"] or v["articles"])
        if ks:
            # the shards are streamed, batch by batch, into one Arrow file that the dataset then
            # memory-maps: memory stays flat however many shards there are (concatenate_datasets
            # over thousands of shards kept ~175 KB of table objects per shard)
            joined = self.state / f"{kind}-joined.arrow"
            tmp = joined.with_suffix(f".tmp{os.getpid()}")
            with ipc.new_stream(str(tmp), features.arrow_schema) as writer:
                for k in ks:
                    with pa.memory_map(str(self.shards / f"{kind}-{k:08d}.arrow")) as source:
                        for batch in ipc.open_stream(source):
                            writer.write_batch(batch)
            os.replace(tmp, joined)
            ds = datasets.Dataset.from_file(str(joined))
        else:
            ds = datasets.Dataset.from_list([], features=features)
        ds.info.description = description
        save_dataset_atomic(ds, self.out / kind, self.state)
        return datasets.load_from_disk(str(self.out / kind))

    def finish(self, run_info: dict[str, Any], formats: list[str], description: str) -> dict[str, Any]:
        sentences = self._assemble("sentences", self.sentence_features, description)
        articles = self._assemble("articles", ARTICLE_FEATURES, description)
        for fmt in formats:
            export(sentences, self.out / f"sentences.{fmt}", fmt)
            export(articles, self.out / f"articles.{fmt}", fmt)
        write_json_atomic(self.out / "run.json", run_info)
        shutil.rmtree(self.state, ignore_errors=True)
        return {"sentences": sentences, "articles": articles}


def save_dataset_atomic(ds, final: Path, scratch: Path) -> None:
    """``save_to_disk`` into a scratch folder, then swap it in (a kill leaves the old or the new)."""
    tmp = scratch / f"tmp-{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    ds.save_to_disk(str(tmp))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def export(ds, path: Path, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    _export(ds, tmp, fmt)
    os.replace(tmp, path)


def _export(ds, path: Path, fmt: str) -> None:
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
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
