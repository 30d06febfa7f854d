"""Gold judgements in a plain table (csv, tsv, jsonl, parquet): columns found by name.

id from ``--gold-key`` (default column ``id``, else the 0-based row number); text from
``text``/``mt``/``translation``/``target``/``hyp``; source from ``source``/``src``/``original``;
every numeric column is a score (the default is ``--gold-column``, else the first of
:data:`SCORE_COLUMNS`, else the only numeric column); spans from a ``spans`` column (a list of
``[start, end]`` or ``{"start", "end"}``, JSON in a CSV cell) or OK/BAD word tags from a
``tags`` column.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mtqa.errors import ConfigError
from mtqa.evaluate.gold.common import GoldRecord, GoldSet, field_str, gold_error, merge, read_table, to_float
from mtqa.evaluate.spans import tags_to_spans

TEXT_COLUMNS = ("text", "mt", "translation", "target", "hyp", "hypothesis")
SOURCE_COLUMNS = ("source", "src", "original")
SCORE_COLUMNS = ("score", "z_mean", "z_score", "mean", "mqm", "da", "gold")
SPAN_COLUMNS = ("spans", "error_spans")
TAG_COLUMNS = ("tags", "word_tags")


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], path: str, what: str) -> str | None:
    if wanted:
        if wanted not in columns:
            raise ConfigError(f"{path}: no {what} column '{wanted}' (columns: {', '.join(columns)})")
        return wanted
    lower = {c.lower(): c for c in columns}
    for c in candidates:
        if c in lower:
            return lower[c]
    return None


def _is_tags(sample: Any) -> bool:
    """Whether a spans-or-tags cell holds word tags (OK/BAD strings, booleans) rather than spans."""
    if isinstance(sample, str):
        try:
            sample = json.loads(sample)
        except json.JSONDecodeError:
            return True  # "OK BAD OK"
    if isinstance(sample, (list, tuple)) and sample:
        return isinstance(sample[0], (str, bool, int, float))
    return False


def _parse_spans(value: Any, text: str | None, row: int, path: str) -> list[tuple[int, int, str]] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise gold_error(path, f"row {row}: spans must be JSON, e.g. [[0, 4], [10, 15]]") from None
    out = []
    for item in value or []:
        if isinstance(item, dict):
            out.append((int(item["start"]), int(item["end"]), str(item.get("label", "") or "")))
        elif isinstance(item, (list, tuple)) and len(item) >= 2:
            out.append((int(item[0]), int(item[1]), str(item[2]) if len(item) > 2 else ""))
        else:
            raise gold_error(path, f"row {row}: cannot read span {item!r}")
    return out


def _parse_tags(value: Any, text: str | None, row: int, path: str) -> list[tuple[int, int, str]] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if text is None:
        raise gold_error(path, "word tags need a text column")
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else value.split()
    try:
        return [(s, e, "BAD") for s, e in tags_to_spans(text, value)]
    except ValueError as exc:
        raise gold_error(path, f"row {row}: {exc}") from None


def read_generic(
    path: str,
    fmt: str,
    key: str | None = None,
    score: str | None = None,
    text: str | None = None,
    source: str | None = None,
    spans: str | None = None,
) -> GoldSet:
    rows = read_table(path, fmt)
    if not rows:
        raise gold_error(path, "no rows")
    columns = list(dict.fromkeys(k for r in rows[:1000] for k in r))
    id_col = _pick(columns, key, ("id",), path, "id")
    text_col = _pick(columns, text, TEXT_COLUMNS, path, "text")
    source_col = _pick(columns, source, SOURCE_COLUMNS, path, "source")
    span_col = tag_col = None
    if spans:
        if spans not in columns:
            raise ConfigError(f"{path}: no spans column '{spans}' (columns: {', '.join(columns)})")
        sample = next((r[spans] for r in rows if r.get(spans) not in (None, "")), None)
        is_tags = _is_tags(sample)
        span_col, tag_col = (None, spans) if is_tags else (spans, None)
    else:
        span_col = _pick(columns, None, SPAN_COLUMNS, path, "spans")
        tag_col = None if span_col else _pick(columns, None, TAG_COLUMNS, path, "tags")
    special = {c for c in (id_col, text_col, source_col, span_col, tag_col) if c}
    numeric = []
    for c in columns:
        if c in special:
            continue
        vals = [to_float(r.get(c)) for r in rows]
        if all(v is not None for v in vals) and any(not math.isnan(v) for v in vals):
            numeric.append(c)
    score_col = _pick(columns, score, SCORE_COLUMNS, path, "score")
    if score_col is None:
        if len(numeric) == 1:
            score_col = numeric[0]
        else:
            raise ConfigError(
                f"{path}: cannot tell which column is the gold score; pass --gold-column "
                f"(numeric columns: {', '.join(numeric) or 'none'})"
            )
    if score_col not in numeric:
        raise ConfigError(f"{path}: gold column '{score_col}' is not numeric")
    notes = []
    if id_col is None:
        notes.append("no 'id' column: ids are 0-based row numbers (use --gold-key or --join order)")
    records = []
    for i, r in enumerate(rows):
        rid = field_str(r.get(id_col)) if id_col else str(i)
        t = r.get(text_col) if text_col else None
        t = None if t is None else str(t)
        rec = GoldRecord(
            id=rid,
            text=t,
            scores={c: to_float(r.get(c)) for c in numeric},
            source=None if not source_col or r.get(source_col) is None else str(r.get(source_col)),
            fields={c: field_str(v) for c, v in r.items() if c not in special and not isinstance(v, (list, dict))},
        )
        if span_col:
            rec.spans = _parse_spans(r.get(span_col), t, i + 1, path)
        elif tag_col:
            rec.spans = _parse_tags(r.get(tag_col), t, i + 1, path)
        records.append(rec)
    records, merged = merge(records)
    if merged:
        notes.append(f"{merged} rows merged into rows with the same id (scores averaged)")
    rule = f"column '{id_col}'" if id_col else "0-based row number"
    return GoldSet(path, fmt, records, score_col, rule, len(rows), notes)
