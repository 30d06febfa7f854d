"""WMT QE 2023 span TSV, no header: ``system, doc, seg_id, rater, source, target, starts, ends, severities``.

``starts``/``ends``/``severities`` are space-separated lists (an error-free row has ``-1``,
``-1``, ``no-error``). id = ``"{system}:{doc}:{seg_id}"``. Some rows of the newstest2021 file
have a document name split at its spaces into several columns, which pushes out the ``rater``
(and, for names of three words, the ``seg_id`` too): the name is rejoined with spaces, the
rater left empty, and a lost ``seg_id`` replaced by the row's 1-based position among the rows
of that system and document. Score ``mqm`` = -(5 x major + 1 x minor); also ``n_major``,
``n_minor``, ``n_errors``. Fields ``system``, ``doc``, ``seg_id``, ``rater``.
"""

from __future__ import annotations

import re

from mtqa.evaluate.gold.common import WEIGHT_MAJOR, WEIGHT_MINOR, GoldRecord, GoldSet, gold_error, merge, open_text

_SEVERITIES = {"major", "minor", "critical", "neutral", "no-error"}
_INTS = re.compile(r"^-?\d+( -?\d+)*$")
_RATER = re.compile(r"^rater\d+$", re.IGNORECASE)


def looks_wmtqe23(line: str) -> bool:
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
        with open_text(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if n == 1 and not looks_wmtqe23(line) and line.lower().startswith("system"):
                    continue  # a header
                try:
                    row = parse_wmtqe23_line(line)
                except ValueError as exc:
                    raise gold_error(path, f"line {n}: {exc}") from None
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
                            "mqm": -(WEIGHT_MAJOR * major + WEIGHT_MINOR * minor),
                            "n_major": float(major),
                            "n_minor": float(minor),
                            "n_errors": float(len(row["severities"])),
                        },
                        fields={k: row[k] for k in ("system", "doc", "seg_id", "rater")},
                        spans=list(row["spans"]),
                    )
                )
    except UnicodeDecodeError:
        raise gold_error(path, "not UTF-8 text") from None
    rows_read = len(records)
    notes = []
    if lost_rater:
        notes.append(f"{lost_rater} rows with a document name split over columns (rater unknown)")
    if lost_seg:
        notes.append(f"{lost_seg} of them also lost the seg_id: numbered by position within system and document")
    records, merged = merge(records)
    if merged:
        notes.append(f"{merged} rows merged into rows with the same id (scores averaged, spans united)")
    return GoldSet(path, "wmtqe23-spans", records, "mqm", '"{system}:{doc}:{seg_id}"', rows_read, notes)
