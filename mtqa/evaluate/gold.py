"""Gold (human) quality judgements, read from the usual MT-evaluation file formats.

Every reader returns a :class:`GoldSet`: one :class:`GoldRecord` per segment of MT output,
with a stable string ``id`` (the join key), the MT ``text``, the ``source`` when the file has
it, numeric ``scores`` (one of which is compared with the predictions), string ``fields``
usable with ``--group-by``, and error ``spans`` (character offsets into ``text``) when the
format annotates them.

Formats and their ids (``--gold-format``; ``auto`` recognises all of them):

``mlqe``  MLQE-PE DA tarball (``mlqepe-ro-en-dev.tar.gz``) or the TSV inside it
    (columns ``index, original, translation, scores, mean, z_scores, z_mean, model_scores``;
    the ru-en file has ``segid`` in place of ``index``). id = ``"{lp}:{index}"`` (or
    ``"{lp}:{segid}"``), e.g. ``ro-en:0`` (the language pair comes from the tar member or file
    name; plain ``index`` when it cannot be found). Scores ``z_mean`` (default),
    ``mean``, ``model_scores``. Fields ``lp``.
``wmtqe22``  WMT QE 2022 MQM CSV (columns ``<unnamed index>, lp, annotator, seg_id, src, mt,
    score, z_score``). id = the unnamed first column, i.e. the 0-based row number ("0" ..
    "1018"); ``seg_id`` restarts at 0 in every document so it is not unique. Scores
    ``z_score`` (default; the official metric is Spearman with it), ``score``. Fields ``lp``,
    ``annotator``, ``doc`` (0-based document number, counted from the ``seg_id`` restarts),
    ``seg_id``.
``mqm-ted``  Google MQM TSV (``system, doc, doc_id, seg_id, rater, source, target, category,
    severity``; one row per error, the span in ``<v>...</v>`` inside ``target``).
    id = ``"{system}:{doc_id}:{seg_id}"``. Score ``mqm`` = minus the severity weights (Major 5,
    Minor 1, Minor Fluency/Punctuation 0.1, Non-translation 25, Neutral/No-error 0) summed per
    rater and averaged over raters; also ``n_major``, ``n_minor``. Spans: the ``<v>`` markers
    (omissions and source errors have none). Fields ``system``, ``doc``, ``doc_id``,
    ``seg_id``, ``rater``.
``wmtqe23-spans``  WMT QE 2023 span TSV, no header: ``system, doc, seg_id, rater, source,
    target, starts, ends, severities`` (space-separated lists; an error-free row has ``-1``,
    ``-1``, ``no-error``). id = ``"{system}:{doc}:{seg_id}"``. Some rows of the newstest2021
    file have a document name split at its spaces into several columns, which pushes out the
    ``rater`` (and, for names of three words, the ``seg_id`` too): the name is rejoined with
    spaces, the rater left empty, and a lost ``seg_id`` replaced by the row's 1-based position
    among the rows of that system and document. Score ``mqm`` = -(5 x major + 1 x minor);
    also ``n_major``, ``n_minor``, ``n_errors``. Fields ``system``, ``doc``, ``seg_id``,
    ``rater``.
``csv``/``tsv``/``jsonl``/``parquet``  a table: id from ``--gold-key`` (default column
    ``id``); text from ``text``/``mt``/``translation``/``target``/``hyp``; source from
    ``source``/``src``/``original``; every numeric column is a score (default ``score``,
    ``z_mean``, ``z_score``, ``mean``, ``mqm``, ``da``, ``gold`` or the only numeric column);
    spans from a ``spans`` column (a list of ``[start, end]`` or ``{"start", "end"}``, JSON in
    a CSV cell) or OK/BAD word tags from a ``tags`` column.

Rows sharing an id are merged: scores averaged, spans united.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import tarfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mtqa.errors import ConfigError, MtqaError
from mtqa.evaluate.spans import tags_to_spans

FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet", "mlqe", "wmtqe22", "mqm-ted", "wmtqe23-spans")

TEXT_COLUMNS = ("text", "mt", "translation", "target", "hyp", "hypothesis")
SOURCE_COLUMNS = ("source", "src", "original")
SCORE_COLUMNS = ("score", "z_mean", "z_score", "mean", "mqm", "da", "gold")
SPAN_COLUMNS = ("spans", "error_spans")
TAG_COLUMNS = ("tags", "word_tags")

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


def _err(path: str, message: str) -> MtqaError:
    return MtqaError(f"{path}: {message}")


def _to_float(value: Any) -> float | None:
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


def _field_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_text(path: str):
    return open(path, encoding="utf-8-sig", newline="")


def _first_line(path: str) -> str:
    try:
        with _open_text(path) as f:
            return f.readline()
    except UnicodeDecodeError:
        return ""


_WEIGHT_MAJOR, _WEIGHT_MINOR, _WEIGHT_PUNCT, _WEIGHT_NONTRANS = 5.0, 1.0, 0.1, 25.0


def mqm_weight(severity: str, category: str = "") -> float:
    """Google MQM severity weight (Freitag et al. 2021)."""
    sev = severity.strip().lower()
    cat = category.strip().lower()
    if cat.startswith("non-translation"):
        return _WEIGHT_NONTRANS
    if sev == "major" or sev == "critical":
        return _WEIGHT_MAJOR
    if sev == "minor":
        return _WEIGHT_PUNCT if cat == "fluency/punctuation" else _WEIGHT_MINOR
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


def _merge(records: Iterable[GoldRecord]) -> tuple[list[GoldRecord], int]:
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


# --------------------------------------------------------------------------- generic tables


def read_table(path: str, fmt: str) -> list[dict[str, Any]]:
    """Rows of a csv/tsv/jsonl/parquet file as dicts."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if fmt == "jsonl":
            rows = []
            with _open_text(path) as f:
                head = f.read(1)
                f.seek(0)
                if head == "[":  # a JSON array
                    data = json.load(f)
                    if not isinstance(data, list):
                        raise _err(path, "a JSON file must hold a list of objects")
                    return data
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise _err(path, f"line {n}: not valid JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise _err(path, f"line {n}: expected a JSON object")
                    rows.append(row)
            return rows
        with _open_text(path) as f:
            if fmt == "tsv":
                return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
            return list(csv.DictReader(f))
    except MtqaError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise _err(path, f"cannot read as {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except Exception as exc:  # pyarrow errors
        raise _err(path, f"cannot read as {fmt}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


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
            raise _err(path, f"row {row}: spans must be JSON, e.g. [[0, 4], [10, 15]]") from None
    out = []
    for item in value or []:
        if isinstance(item, dict):
            out.append((int(item["start"]), int(item["end"]), str(item.get("label", "") or "")))
        elif isinstance(item, (list, tuple)) and len(item) >= 2:
            out.append((int(item[0]), int(item[1]), str(item[2]) if len(item) > 2 else ""))
        else:
            raise _err(path, f"row {row}: cannot read span {item!r}")
    return out


def _parse_tags(value: Any, text: str | None, row: int, path: str) -> list[tuple[int, int, str]] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if text is None:
        raise _err(path, "word tags need a text column")
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else value.split()
    try:
        return [(s, e, "BAD") for s, e in tags_to_spans(text, value)]
    except ValueError as exc:
        raise _err(path, f"row {row}: {exc}") from None


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
        raise _err(path, "no rows")
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
        vals = [_to_float(r.get(c)) for r in rows]
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
        rid = _field_str(r.get(id_col)) if id_col else str(i)
        t = r.get(text_col) if text_col else None
        t = None if t is None else str(t)
        rec = GoldRecord(
            id=rid,
            text=t,
            scores={c: _to_float(r.get(c)) for c in numeric},
            source=None if not source_col or r.get(source_col) is None else str(r.get(source_col)),
            fields={c: _field_str(v) for c, v in r.items() if c not in special and not isinstance(v, (list, dict))},
        )
        if span_col:
            rec.spans = _parse_spans(r.get(span_col), t, i + 1, path)
        elif tag_col:
            rec.spans = _parse_tags(r.get(tag_col), t, i + 1, path)
        records.append(rec)
    records, merged = _merge(records)
    if merged:
        notes.append(f"{merged} rows merged into rows with the same id (scores averaged)")
    rule = f"column '{id_col}'" if id_col else "0-based row number"
    return GoldSet(path, fmt, records, score_col, rule, len(rows), notes)


# --------------------------------------------------------------------------- MLQE-PE (DA)

def _lp_from(name: str) -> str | None:
    for part in reversed(re.split(r"[/\\]", name.lower())):
        m = re.search(r"(?<![a-z])([a-z]{2})-([a-z]{2})(?![a-z])", part)
        if m:
            return f"{m.group(1)}-{m.group(2)}"
    return None


def read_mlqe(path: str) -> GoldSet:
    lp = None
    if tarfile.is_tarfile(path):
        try:
            with tarfile.open(path) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".tsv")]
                if not members:
                    raise _err(path, "no .tsv file inside the archive")
                members.sort(key=lambda m: (".df." not in m.name, m.name))
                member = members[0]
                raw = tar.extractfile(member).read().decode("utf-8-sig")
                lp = _lp_from(member.name)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise _err(path, f"cannot read the archive: {exc}") from None
    else:
        with _open_text(path) as f:
            raw = f.read()
    lp = lp or _lp_from(os.path.basename(path))
    rows = list(csv.reader(io.StringIO(raw, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise _err(path, "no rows")
    header = rows[0]
    id_name = "index" if "index" in header else ("segid" if "segid" in header else "index")
    need = (id_name, "original", "translation", "z_mean")
    if not all(h in header for h in need):
        raise _err(path, f"not an MLQE-PE TSV (need columns {', '.join(need)}; found {', '.join(header)})")
    col = {h: i for i, h in enumerate(header)}
    records = []
    bad = 0
    for n, r in enumerate(rows[1:], 2):
        if len(r) != len(header):
            bad += 1
            continue
        scores = {}
        for name in ("z_mean", "mean", "model_scores"):
            if name in col:
                v = _to_float(r[col[name]])
                scores[name] = math.nan if v is None else v
        idx = r[col[id_name]].strip()
        records.append(
            GoldRecord(
                id=f"{lp}:{idx}" if lp else idx,
                text=r[col["translation"]],
                source=r[col["original"]],
                scores=scores,
                fields={"lp": lp or ""},
            )
        )
    notes = [f"{bad} malformed rows skipped"] if bad else []
    rule = f'"{{lp}}:{{{id_name}}}"' if lp else f"column '{id_name}'"
    return GoldSet(path, "mlqe", records, "z_mean", rule, len(rows) - 1, notes)


# --------------------------------------------------------------------------- WMT QE 2022 MQM


def read_wmtqe22(path: str) -> GoldSet:
    rows = read_table(path, "csv")
    if not rows:
        raise _err(path, "no rows")
    cols = list(rows[0])
    need = ("seg_id", "mt", "z_score")
    if not all(c in cols for c in need):
        raise _err(path, f"not a WMT QE 2022 CSV (need columns {', '.join(need)}; found {', '.join(cols)})")
    index_col = "" if "" in cols else ("Unnamed: 0" if "Unnamed: 0" in cols else None)
    records = []
    doc = -1
    previous = None
    for i, r in enumerate(rows):
        seg = _to_float(r.get("seg_id"))
        if previous is None or (seg is not None and previous is not None and seg <= previous):
            doc += 1
        previous = seg
        rid = r[index_col].strip() if index_col is not None and r[index_col].strip() else str(i)
        scores = {}
        for name in ("z_score", "score"):
            if name in r:
                v = _to_float(r[name])
                scores[name] = math.nan if v is None else v
        records.append(
            GoldRecord(
                id=rid,
                text=r["mt"],
                source=r.get("src"),
                scores=scores,
                fields={
                    "lp": r.get("lp", ""),
                    "annotator": r.get("annotator", ""),
                    "doc": str(doc),
                    "seg_id": _field_str(r.get("seg_id")),
                },
            )
        )
    records, merged = _merge(records)
    notes = [f"{merged} rows merged into rows with the same id"] if merged else []
    rule = "the unnamed first column (0-based row number)" if index_col is not None else "0-based row number"
    return GoldSet(path, "wmtqe22", records, "z_score", rule, len(rows), notes)


# --------------------------------------------------------------------------- Google MQM (TED)


def read_mqm_ted(path: str) -> GoldSet:
    rows = read_table(path, "tsv")
    if not rows:
        raise _err(path, "no rows")
    need = ("system", "doc", "seg_id", "rater", "target", "category", "severity")
    cols = list(rows[0])
    if not all(c in cols for c in need):
        raise _err(path, f"not a Google MQM TSV (need columns {', '.join(need)}; found {', '.join(cols)})")
    segs: "OrderedDict[str, dict]" = OrderedDict()
    mismatched = 0
    for r in rows:
        doc_id = r.get("doc_id") or r["doc"]
        rid = f"{r['system']}:{doc_id}:{r['seg_id']}"
        text, marked = parse_marked(r["target"] or "")
        seg = segs.get(rid)
        if seg is None:
            seg = segs[rid] = {
                "text": text,
                "source": parse_marked(r.get("source") or "")[0],
                "raters": OrderedDict(),
                "spans": set(),
                "fields": {"system": r["system"], "doc": r["doc"], "doc_id": doc_id, "seg_id": r["seg_id"]},
            }
        elif text != seg["text"]:
            mismatched += 1
        rater = seg["raters"].setdefault(r["rater"], {"weight": 0.0, "major": 0, "minor": 0})
        category, severity = r["category"] or "", r["severity"] or ""
        rater["weight"] += mqm_weight(severity, category)
        sev = severity.strip().lower()
        if sev in ("major", "critical"):
            rater["major"] += 1
        elif sev == "minor":
            rater["minor"] += 1
        if text == seg["text"] and category.strip().lower() not in ("no-error", "source error"):
            for s, e in marked:
                seg["spans"].add((s, e, f"{severity}/{category}"))
    records = []
    for rid, seg in segs.items():
        raters = seg["raters"]
        k = len(raters)
        records.append(
            GoldRecord(
                id=rid,
                text=seg["text"],
                source=seg["source"],
                scores={
                    "mqm": -sum(v["weight"] for v in raters.values()) / k,
                    "n_major": sum(v["major"] for v in raters.values()) / k,
                    "n_minor": sum(v["minor"] for v in raters.values()) / k,
                },
                fields=seg["fields"] | {"rater": "+".join(sorted(raters))},
                spans=sorted(seg["spans"]),
            )
        )
    notes = [f"{mismatched} error rows whose target differs from the segment's first row (spans ignored)"] if mismatched else []
    return GoldSet(path, "mqm-ted", records, "mqm", '"{system}:{doc_id}:{seg_id}"', len(rows), notes)


# --------------------------------------------------------------------------- WMT QE 2023 spans

_SEVERITIES = {"major", "minor", "critical", "neutral", "no-error"}
_INTS = re.compile(r"^-?\d+( -?\d+)*$")
_RATER = re.compile(r"^rater\d+$", re.IGNORECASE)


def _looks_wmtqe23(line: str) -> bool:
    f = line.rstrip("\r\n").split("\t")
    if len(f) < 9:
        return False
    sev = f[-1].split()
    return bool(sev) and all(s.lower() in _SEVERITIES for s in sev) and bool(_INTS.match(f[-3])) and bool(_INTS.match(f[-2]))


def parse_wmtqe23_line(line: str) -> dict:
    """One row: system, doc, seg_id (None when lost), rater, source, target, spans, severities."""
    f = line.rstrip("\r\n").split("\t")
    if len(f) < 9:
        raise ValueError(f"expected 9 tab-separated columns, found {len(f)}")
    system = f[0]
    source, target, starts, ends, sevs = f[-5:]
    mid = f[1:-5]
    rater = ""
    if len(mid) >= 2 and _RATER.match(mid[-1]):
        rater = mid.pop()
    seg_id = None
    if len(mid) >= 2 and mid[-1].strip().isdigit():
        seg_id = mid.pop().strip()
    doc = " ".join(m.strip() for m in mid)
    s_list = [int(x) for x in starts.split()]
    e_list = [int(x) for x in ends.split()]
    v_list = sevs.split()
    if not (len(s_list) == len(e_list) == len(v_list)):
        raise ValueError(f"{len(s_list)} starts, {len(e_list)} ends and {len(v_list)} severities")
    spans = []
    severities = []
    for s, e, v in zip(s_list, e_list, v_list):
        if v.lower() == "no-error" or s < 0 or e < 0:
            continue
        if s > e:
            s, e = e, s
        spans.append((s, min(e, len(target)), v.lower()))
        severities.append(v.lower())
    return {
        "system": system,
        "doc": doc,
        "seg_id": seg_id,
        "rater": rater,
        "source": source,
        "target": target,
        "spans": spans,
        "severities": severities,
    }


def read_wmtqe23(path: str) -> GoldSet:
    records = []
    positions: dict[tuple[str, str], int] = {}
    lost_rater = lost_seg = 0
    n = 0
    try:
        with _open_text(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if n == 1 and not _looks_wmtqe23(line) and line.lower().startswith("system"):
                    continue  # a header
                try:
                    row = parse_wmtqe23_line(line)
                except ValueError as exc:
                    raise _err(path, f"line {n}: {exc}") from None
                key = (row["system"], row["doc"])
                positions[key] = positions.get(key, 0) + 1
                if not row["rater"]:
                    lost_rater += 1
                if row["seg_id"] is None:
                    lost_seg += 1
                    row["seg_id"] = str(positions[key])
                major = sum(1 for s in row["severities"] if s in ("major", "critical"))
                minor = sum(1 for s in row["severities"] if s == "minor")
                records.append(
                    GoldRecord(
                        id=f"{row['system']}:{row['doc']}:{row['seg_id']}",
                        text=row["target"],
                        source=row["source"],
                        scores={
                            "mqm": -(_WEIGHT_MAJOR * major + _WEIGHT_MINOR * minor),
                            "n_major": float(major),
                            "n_minor": float(minor),
                            "n_errors": float(len(row["severities"])),
                        },
                        fields={k: row[k] for k in ("system", "doc", "seg_id", "rater")},
                        spans=list(row["spans"]),
                    )
                )
    except UnicodeDecodeError:
        raise _err(path, "not UTF-8 text") from None
    rows_read = len(records)
    notes = []
    if lost_rater:
        notes.append(f"{lost_rater} rows with a document name split over columns (rater unknown)")
    if lost_seg:
        notes.append(f"{lost_seg} of them also lost the seg_id: numbered by position within system and document")
    records, merged = _merge(records)
    if merged:
        notes.append(f"{merged} rows merged into rows with the same id (scores averaged, spans united)")
    return GoldSet(path, "wmtqe23-spans", records, "mqm", '"{system}:{doc}:{seg_id}"', rows_read, notes)


# --------------------------------------------------------------------------- dispatch


def detect_format(path: str) -> str:
    name = path.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "mlqe"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    first = _first_line(path)
    if name.endswith(".tsv") or ("\t" in first and not name.endswith(".csv")):
        cols = first.rstrip("\r\n").split("\t")
        if cols[:2] == ["system", "doc"] and "target" in cols and "severity" in cols:
            return "mqm-ted"
        if cols[:2] == ["index", "original"] and "translation" in cols:
            return "mlqe"
        if _looks_wmtqe23(first):
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
        gold.records, merged = _merge(gold.records)
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
