"""What every gold reader shares: the record types, MQM weights, ``<v>`` markers, merging, tables.

The readers (one module per format) build :class:`GoldRecord` lists with these helpers;
``load.py`` picks the reader. Errors are one line naming the file (:func:`gold_error`).
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable

from mtqa.errors import MtqaError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class GoldRecord:
    id: str
    text: str | None
    scores: dict[str, float]
    source: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    #: (start, end, label) character offsets into ``text``; ``None`` = not annotated
    spans: list[tuple[int, int, str]] | None = None


@dataclass
class GoldSet:
    path: str
    format: str
    records: list[GoldRecord]
    default_score: str
    id_rule: str
    rows_read: int = 0
    notes: list[str] = field(default_factory=list)

    def score_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.records:
            names.update(dict.fromkeys(r.scores))
        return list(names)

    def field_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.records:
            names.update(dict.fromkeys(r.fields))
        return list(names)

    @property
    def has_spans(self) -> bool:
        return any(r.spans is not None for r in self.records)

    def describe(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "records": len(self.records),
            "rows_read": self.rows_read,
            "id_rule": self.id_rule,
            "scores": self.score_names(),
            "fields": self.field_names(),
            "has_spans": self.has_spans,
            "notes": list(self.notes),
        }



# --------------------------------------------------------------------------- helpers


#: an MQM segment whose summed score (-(5 x major + 1 x minor)) is at or below this counts as
#: having a major error even without one marked major (the weight of five majors in minors)
MQM_NO_MAJOR_FLOOR = -25.0
#: WMT QE 2022's ``score`` is 100 minus the weighted errors: one major error costs 5
WMTQE22_NO_MAJOR_ABOVE = 95.0


def no_major_error(record: GoldRecord, gold: "GoldSet") -> float | None:
    """1.0 when the MQM raters found no major error in the segment, 0.0 when they did, None for
    gold without MQM severities (DA, generic scores): the event ``quality`` is a probability of.

    MQM with per-segment severity counts (``n_major``): no major error and a summed MQM score
    above :data:`MQM_NO_MAJOR_FLOOR`; WMT QE 2022: ``score`` above :data:`WMTQE22_NO_MAJOR_ABOVE`.
    The training corpus labels its MQM segments with this too (:mod:`mtqa.train.corpus`).
    """
    if "n_major" in record.scores:
        total = record.scores.get(gold.default_score)
        no_floor = total is None or total != total or total > MQM_NO_MAJOR_FLOOR
        return 1.0 if record.scores["n_major"] == 0 and no_floor else 0.0
    if gold.format == "wmtqe22" and record.scores.get("score") is not None:
        return 1.0 if record.scores["score"] > WMTQE22_NO_MAJOR_ABOVE else 0.0
    return None


def gold_error(path: str, message: str) -> MtqaError:
    return MtqaError(f"{path}: {message}")


def to_float(value: Any) -> float | None:
    """A number, NaN for an empty cell, ``None`` when the value is not numeric."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        v = value.strip()
        if v == "" or v.lower() in ("nan", "na", "null", "none"):
            return math.nan
        try:
            return float(v)
        except ValueError:
            return None
    return None


def field_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def open_text(path: str):
    return open(path, encoding="utf-8-sig", newline="")


def first_line(path: str) -> str:
    try:
        with open_text(path) as f:
            return f.readline()
    except UnicodeDecodeError:
        return ""


WEIGHT_MAJOR, WEIGHT_MINOR, WEIGHT_PUNCT, WEIGHT_NONTRANS = 5.0, 1.0, 0.1, 25.0


def mqm_weight(severity: str, category: str = "") -> float:
    """Google MQM severity weight (Freitag et al. 2021)."""
    sev = severity.strip().lower()
    cat = category.strip().lower()
    if cat.startswith("non-translation"):
        return WEIGHT_NONTRANS
    if sev == "major" or sev == "critical":
        return WEIGHT_MAJOR
    if sev == "minor":
        return WEIGHT_PUNCT if cat == "fluency/punctuation" else WEIGHT_MINOR
    return 0.0


def parse_marked(target: str, open_tag: str = "<v>", close_tag: str = "</v>") -> tuple[str, list[tuple[int, int]]]:
    """Strip ``<v>...</v>`` markers; return the plain text and the marked (start, end) offsets."""
    plain: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    length = 0
    start: int | None = None
    token = re.compile(re.escape(open_tag) + "|" + re.escape(close_tag))
    for m in token.finditer(target):
        chunk = target[pos : m.start()]
        plain.append(chunk)
        length += len(chunk)
        if m.group() == open_tag:
            start = length
        elif start is not None:
            spans.append((start, length))
            start = None
        pos = m.end()
    plain.append(target[pos:])
    if start is not None:  # unclosed marker: up to the end
        spans.append((start, length + len(target) - pos))
    return "".join(plain), spans


def merge(records: Iterable[GoldRecord]) -> tuple[list[GoldRecord], int]:
    """Merge records sharing an id (scores averaged, spans united); return them and #merged."""
    by_id: "OrderedDict[str, list[GoldRecord]]" = OrderedDict()
    for r in records:
        by_id.setdefault(r.id, []).append(r)
    out = []
    merged = 0
    for rid, group in by_id.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        merged += len(group) - 1
        first = group[0]
        scores: dict[str, float] = {}
        for name in dict.fromkeys(k for g in group for k in g.scores):
            vals = [g.scores[name] for g in group if name in g.scores and not math.isnan(g.scores[name])]
            scores[name] = sum(vals) / len(vals) if vals else math.nan
        spans = None
        if any(g.spans is not None for g in group):
            spans = sorted({s for g in group if g.spans for s in g.spans})
        out.append(GoldRecord(rid, first.text, scores, first.source, dict(first.fields), spans))
    return out, merged



def read_table(path: str, fmt: str) -> list[dict[str, Any]]:
    """Rows of a csv/tsv/jsonl/parquet file as dicts."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if fmt == "jsonl":
            rows = []
            with open_text(path) as f:
                head = f.read(1)
                f.seek(0)
                if head == "[":  # a JSON array
                    data = json.load(f)
                    if not isinstance(data, list):
                        raise gold_error(path, "a JSON file must hold a list of objects")
                    return data
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise gold_error(path, f"line {n}: not valid JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise gold_error(path, f"line {n}: expected a JSON object")
                    rows.append(row)
            return rows
        with open_text(path) as f:
            if fmt == "tsv":
                return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
            return list(csv.DictReader(f))
    except MtqaError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise gold_error(path, f"cannot read as {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except Exception as exc:  # pyarrow errors
        raise gold_error(path, f"cannot read as {fmt}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
