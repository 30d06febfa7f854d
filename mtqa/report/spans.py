"""Flagged character spans inside a stretch of text: cut into non-overlapping, labelled segments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from markupsafe import Markup

from mtqa.report.load import SpanHit
from mtqa.report.templating import environment


@dataclass(frozen=True)
class Segment:
    """A stretch of text and the flags active on all of it (``labels`` empty: not flagged)."""

    text: str
    labels: str = ""
    tip: str = ""
    overlap: bool = False


def _tip(hits: Iterable[SpanHit], labels: dict[str, str]) -> str:
    """The tooltip of a segment: one line per distinct flag, with its note (else the label's explanation)."""
    lines = []
    for h in hits:
        explanation = h.note or labels.get(h.label, "")
        line = h.label + (f": {explanation}" if explanation else "")
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def segments(text: str, lo: int, hi: int, spans: list[SpanHit], labels: dict[str, str]) -> list[Segment]:
    """``text[lo:hi]`` cut where flagged spans start and end.

    Overlapping or nested spans are split into non-overlapping segments; each segment carries
    every label active on it, so the marks never nest or interleave.
    """
    relevant = [(max(s.start, lo), min(s.end, hi), s) for s in spans if s.end > s.start and s.start < hi and s.end > lo]
    if not relevant:
        return [Segment(text[lo:hi])]
    points = sorted({lo, hi, *(a for a, _, _ in relevant), *(b for _, b, _ in relevant)})
    out = []
    for a, b in zip(points, points[1:]):
        active = [s for x, y, s in relevant if x <= a and y >= b]
        if not active:
            out.append(Segment(text[a:b]))
            continue
        names = list(dict.fromkeys(s.label for s in active))
        out.append(Segment(text[a:b], " ".join(names), _tip(active, labels), len(active) > 1))
    return out


def render_range(text: str, lo: int, hi: int, spans: list[SpanHit], labels: dict[str, str]) -> Markup:
    """``text[lo:hi]`` as escaped HTML, flagged parts wrapped in ``<mark>`` (see :func:`segments`)."""
    return environment().get_template("macros.html.j2").module.marked(segments(text, lo, hi, spans, labels))
