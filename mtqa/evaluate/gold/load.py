"""Which reader a gold file needs (:func:`detect_format`), reading it (:func:`load_gold`), exporting it.

Kept apart from ``common.py`` because it imports every reader, and every reader imports
``common``.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from mtqa.errors import ConfigError, MtqaError
from mtqa.evaluate.gold.common import GoldSet, first_line, merge
from mtqa.evaluate.gold.generic import read_generic
from mtqa.evaluate.gold.mlqe import read_mlqe
from mtqa.evaluate.gold.mqm_ted import read_mqm_ted
from mtqa.evaluate.gold.wmtqe22 import read_wmtqe22
from mtqa.evaluate.gold.wmtqe23 import looks_wmtqe23, read_wmtqe23

FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet", "mlqe", "wmtqe22", "mqm-ted", "wmtqe23-spans")


def detect_format(path: str) -> str:
    name = path.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "mlqe"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    first = first_line(path)
    if name.endswith(".tsv") or ("\t" in first and not name.endswith(".csv")):
        cols = first.rstrip("\r\n").split("\t")
        if cols[:2] == ["system", "doc"] and "target" in cols and "severity" in cols:
            return "mqm-ted"
        if cols[:2] == ["index", "original"] and "translation" in cols:
            return "mlqe"
        if looks_wmtqe23(first):
            return "wmtqe23-spans"
        return "tsv"
    header = next(csv.reader([first]), [])
    if {"lp", "seg_id", "mt", "z_score"} <= set(header):
        return "wmtqe22"
    return "csv"


def load_gold(
    path: str,
    fmt: str = "auto",
    *,
    key: str | None = None,
    score: str | None = None,
    text: str | None = None,
    source: str | None = None,
    spans: str | None = None,
) -> GoldSet:
    """Read a gold file. ``key`` re-keys a known format by one of its fields."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown gold format '{fmt}' (one of: {', '.join(FORMATS)})")
    p = Path(path)
    if not p.exists():
        raise MtqaError(f"{path}: gold file not found")
    if p.is_dir():
        raise MtqaError(f"{path}: is a folder; the gold must be a file")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt in ("csv", "tsv", "jsonl", "parquet"):
        return read_generic(path, fmt, key=key, score=score, text=text, source=source, spans=spans)
    reader = {"mlqe": read_mlqe, "wmtqe22": read_wmtqe22, "mqm-ted": read_mqm_ted, "wmtqe23-spans": read_wmtqe23}[fmt]
    gold = reader(path)
    if score:
        names = gold.score_names()
        if score not in names:
            raise ConfigError(f"{path}: no gold score '{score}' in {fmt} (available: {', '.join(names)})")
        gold.default_score = score
    if key and key != "id":
        if not all(key in r.fields for r in gold.records):
            raise ConfigError(f"{path}: --gold-key '{key}' is not a field of {fmt} (fields: {', '.join(gold.field_names())})")
        for r in gold.records:
            r.id = r.fields[key]
        gold.records, merged = merge(gold.records)
        gold.id_rule = f"field '{key}'"
        if merged:
            gold.notes.append(f"{merged} records merged into records with the same '{key}'")
    return gold


def export_segments(gold: GoldSet, out: str | os.PathLike | None) -> int:
    """Write the gold's MT output as JSONL (``id``, ``text``, ``source`` when known) for scoring.

    ``python -m mtqa score FILE --unit segment -o OUT`` then scores each line as one segment
    whose ``article_id`` is the gold id, so ``python -m mtqa evaluate OUT --gold ...`` joins.
    ``out`` of ``None`` or ``"-"`` writes to stdout. Returns the number of lines written.
    """
    records = [r for r in gold.records if r.text is not None and r.text.strip()]
    if not records:
        raise MtqaError(f"{gold.path}: no MT text to export")
    own = out not in (None, "-")
    try:
        f = open(out, "w", encoding="utf-8") if own else sys.stdout
    except OSError as exc:
        raise MtqaError(f"{out}: cannot write ({exc.strerror})") from None
    try:
        for r in records:
            row = {"id": r.id, "text": r.text}
            if r.source is not None:
                row["source"] = r.source
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if own:
            f.close()
    return len(records)
