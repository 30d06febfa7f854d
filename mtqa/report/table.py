"""The sentence table: its sortable columns and one row per sentence of ``ReportData.table``."""

from __future__ import annotations

import math
from typing import Any

from mtqa.report.load import ReportData

#: longest sentence text the table shows (characters); longer ones end with an ellipsis
TABLE_TEXT_CHARS = 400


def columns(data: ReportData) -> list[dict[str, str]]:
    """Sortable columns: header, sort type, cell class, first sort direction, role.

    The table arrives sorted by its first column: MT probability, highest first, where the
    sentences have one, else quality, lowest first. ``role`` tells the script which column
    the range filters read (``q``: quality, ``mt``: MT probability, ``text``).
    """
    cols = [("Quality", "num", "num", "asc", "q"), ("Sentence", "str", "", "asc", "text"),
            ("Flags", "num", "", "desc", ""), ("Article", "str", "", "asc", ""), ("#", "num", "num", "asc", "")]
    if data.sentence_mt:
        cols.insert(0, ("MT probability", "num", "num", "desc", "mt"))
    cols += [(name.replace("_", " "), "num", "num sig", "asc", "") for name in data.signal_columns]
    return [{"name": name, "type": typ, "cls": cls, "first": first, "role": role}
            for name, typ, cls, first, role in cols]


def column_index(cols: list[dict[str, str]], role: str) -> int:
    """Index of the column with ``role`` (-1 when the table has none)."""
    return next((i for i, c in enumerate(cols) if c["role"] == role), -1)


def table_rows(data: ReportData, anchors: dict[str, str], shown_sentences: set[tuple[str, int]],
               flag_token: dict[str, str]) -> list[dict[str, Any]]:
    """One row per table sentence; linked to its article view only where that view shows it."""
    rows = []
    for i, s in enumerate(data.table):
        anchor = anchors.get(s.article_id)
        linked = bool(anchor) and (s.article_id, s.sentence_id) in shown_sentences
        flags = list(dict.fromkeys(s.flags))
        rows.append({
            "i": i, "row": s, "flags": flags,
            "tokens": " ".join(flag_token[f] for f in flags),
            "text": s.text if len(s.text) <= TABLE_TEXT_CHARS else s.text[:TABLE_TEXT_CHARS].rstrip() + "…",
            "anchor": anchor if linked else None,
            "signals": [s.signals.get(c, math.nan) for c in data.signal_columns],
            "mt": s.mt_probability,
        })
    return rows
