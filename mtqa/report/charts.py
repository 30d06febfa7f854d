"""The page's graphics as data: histogram geometry (drawn as inline SVG) and colour-scale legends."""

from __future__ import annotations

import math
from typing import Any

from mtqa.report.format import BIN_EDGES, BIN_NAMES, fnum, plural, qbin


def histogram(counts: list[int], mean: float, what: str, height: int = 170, scale: str = "quality") -> dict[str, Any]:
    """Geometry of a histogram over [0, 1] (an inline SVG), numbers formatted as they are drawn.

    ``scale`` is ``quality`` (bars coloured ``b0``..``b4`` by the quality scale) or
    ``mt_probability`` (``m0``..``m4``, the MT scale).
    """
    width, left, right, top, bottom = 420, 34, 8, 16, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(counts)
    peak = max(counts) if counts and max(counts) > 0 else 1
    step = plot_w / n
    grid = []
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        grid.append({"y": f"{y:.1f}", "label_y": f"{y + 3:.1f}", "label": fnum(round(peak * frac))})
    bars = []
    for i, c in enumerate(counts):
        lo, hi = i / n, (i + 1) / n
        h = plot_h * c / peak
        prefix = "m" if scale == "mt_probability" else "b"
        bars.append({"cls": prefix + qbin((lo + hi) / 2), "x": f"{left + i * step + 1:.1f}", "y": f"{top + plot_h - h:.1f}",
                     "width": f"{step - 2:.1f}", "height": f"{h:.1f}", "title": f"{lo:.2f}–{hi:.2f}: {plural(c, what)}"})
    ticks = [{"x": f"{left + plot_w * t:.1f}", "label": f"{t:g}"} for t in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    mean_line = None
    if not math.isnan(mean):
        x = left + plot_w * min(max(mean, 0.0), 1.0)
        anchor = "end" if mean > 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        mean_line = {"x": f"{x:.1f}", "label_x": f"{x + dx:.1f}", "anchor": anchor, "label": f"mean {mean:.2f}"}
    return {
        "width": width, "height": height, "left": left, "right_x": width - right, "top": top,
        "axis_y": top + plot_h, "tick_y": height - 8,
        "aria": f"Histogram of {what} {'MT probability' if scale == 'mt_probability' else 'quality'} in {n} bins "
                f"from 0 to 1; the fullest bin holds {peak:,}.",
        "grid": grid, "bars": bars, "ticks": ticks, "mean": mean_line,
    }


def legend(names: tuple[str, ...] = BIN_NAMES) -> list[dict[str, str]]:
    """The key of a colour scale: each bin's name and value range."""
    bounds = (0.0, *BIN_EDGES, 1.0)
    items = []
    for i, name in enumerate(names):
        rng = f"< {bounds[1]:g}" if i == 0 else (f"≥ {bounds[i]:g}" if i == 4 else f"{bounds[i]:g}–{bounds[i + 1]:g}")
        items.append({"bin": str(i), "name": name, "range": rng})
    return items
