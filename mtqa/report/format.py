"""How the page shows numbers: colour bins of the two scales, and numbers formatted for reading.

Used by the view-model builders and, as Jinja2 filters, by the templates (see
:mod:`mtqa.report.templating`), so a number looks the same wherever it appears.
"""

from __future__ import annotations

import math

#: quality bins for colours: upper bounds of bins 0..3, bin 4 is the rest
BIN_EDGES = (0.2, 0.4, 0.6, 0.8)
BIN_NAMES = ("very poor", "poor", "fair", "good", "very good")
#: mt_probability bins (same edges; a scale of its own, blue = human-like to red = machine-like,
#: so it is never read as quality)
MT_BIN_NAMES = ("likely human", "probably human", "uncertain", "probably machine", "likely machine")


def qbin(q: float) -> str:
    """The colour bin of a quality (``0``..``4``; ``na`` when missing)."""
    if q is None or math.isnan(q):
        return "na"
    for i, edge in enumerate(BIN_EDGES):
        if q < edge:
            return str(i)
    return "4"


def mbin(p: float) -> str:
    """The colour bin of an mt_probability (``na`` when missing)."""
    return qbin(p)


def fq(q: float) -> str:
    return "–" if q is None or math.isnan(q) else f"{q:.2f}"


def fpct(x: float) -> str:
    if x is None or math.isnan(x):
        return "–"
    if 0 < x < 0.01:
        return "<1%"
    return f"{x * 100:.0f}%"


def fnum(n: int) -> str:
    return f"{n:,}"


def fsig(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.3g}"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{fnum(n)} {word if n == 1 else (words or word + 's')}"


def data_value(x: float) -> str:
    """A number for a ``data-v`` sort key: full precision, empty when missing."""
    return "" if x is None or math.isnan(x) else repr(x)


def bar_width(x: float) -> str:
    """Width of a bar for a value in [0, 1], percent: at least 2 so a low value stays visible, 0 when missing."""
    return f"{0 if math.isnan(x) else max(2.0, 100 * min(max(x, 0.0), 1.0)):.0f}"
