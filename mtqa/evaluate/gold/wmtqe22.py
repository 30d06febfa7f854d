"""WMT QE 2022 MQM CSV (``<unnamed index>, lp, annotator, seg_id, src, mt, score, z_score``).

id = the unnamed first column, i.e. the 0-based row number: ``seg_id`` restarts at 0 in every
document, so it is not unique. Scores ``z_score`` (default; the official metric is Spearman
with it) and ``score``; fields ``lp``, ``annotator``, ``doc`` (0-based document number,
counted from the ``seg_id`` restarts) and ``seg_id``.
"""

from __future__ import annotations

import math

from mtqa.evaluate.gold.common import GoldRecord, GoldSet, field_str, gold_error, merge, read_table, to_float


def read_wmtqe22(path: str) -> GoldSet:
    rows = read_table(path, "csv")
    if not rows:
        raise gold_error(path, "no rows")
    cols = list(rows[0])
    need = ("seg_id", "mt", "z_score")
    if not all(c in cols for c in need):
        raise gold_error(path, f"not a WMT QE 2022 CSV (need columns {', '.join(need)}; found {', '.join(cols)})")
    index_col = "" if "" in cols else ("Unnamed: 0" if "Unnamed: 0" in cols else None)
    records = []
    doc = -1
    previous = None
    for i, r in enumerate(rows):
        seg = to_float(r.get("seg_id"))
        if previous is None or (seg is not None and previous is not None and seg <= previous):
            doc += 1
        previous = seg
        rid = r[index_col].strip() if index_col is not None and r[index_col].strip() else str(i)
        scores = {}
        for name in ("z_score", "score"):
            if name in r:
                v = to_float(r[name])
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
                    "seg_id": field_str(r.get("seg_id")),
                },
            )
        )
    records, merged = merge(records)
    notes = [f"{merged} rows merged into rows with the same id"] if merged else []
    rule = "the unnamed first column (0-based row number)" if index_col is not None else "0-based row number"
    return GoldSet(path, "wmtqe22", records, "z_score", rule, len(rows), notes)
