"""Google MQM TSV (TED talks): one row per error, its span marked ``<v>...</v>`` in ``target``.

Columns ``system, doc, doc_id, seg_id, rater, source, target, category, severity``. id =
``"{system}:{doc_id}:{seg_id}"``. Score ``mqm`` = minus the severity weights
(:func:`~mtqa.evaluate.gold.common.mqm_weight`) summed per rater and averaged over raters;
also ``n_major``, ``n_minor``. Spans: the ``<v>`` markers (omissions and source errors have
none). Fields ``system``, ``doc``, ``doc_id``, ``seg_id``, ``rater``.
"""

from __future__ import annotations

from collections import OrderedDict

from mtqa.evaluate.gold.common import GoldRecord, GoldSet, gold_error, mqm_weight, parse_marked, read_table


def read_mqm_ted(path: str) -> GoldSet:
    rows = read_table(path, "tsv")
    if not rows:
        raise gold_error(path, "no rows")
    need = ("system", "doc", "seg_id", "rater", "target", "category", "severity")
    cols = list(rows[0])
    if not all(c in cols for c in need):
        raise gold_error(path, f"not a Google MQM TSV (need columns {', '.join(need)}; found {', '.join(cols)})")
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
