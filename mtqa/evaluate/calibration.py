"""Is a probability what it says? Expected calibration error and a reliability table.

``quality`` is meant as P(an MQM rater finds no major error); ``mtqa evaluate`` checks that
against MQM gold (:func:`mtqa.evaluate.gold.common.no_major_error`), the training code against
its dev sets. Equal-width bins; the last bin includes 1.0.
"""

from __future__ import annotations

import numpy as np


def _bins(prob: np.ndarray, bins: int):
    for lo in np.linspace(0, 1, bins, endpoint=False):
        hi = lo + 1 / bins
        yield lo, hi, ((prob >= lo) & (prob < hi)) if hi < 1 else (prob >= lo)


def ece(prob, y, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted mean |mean probability - observed rate| over bins."""
    prob, y = np.asarray(prob, dtype=float), np.asarray(y, dtype=float)
    return float(sum(m.mean() * abs(prob[m].mean() - y[m].mean()) for _, _, m in _bins(prob, bins) if m.any()))


def reliability(prob, y, bins: int = 5) -> list[dict]:
    """Per non-empty bin: its range, rows, mean probability and observed rate."""
    prob, y = np.asarray(prob, dtype=float), np.asarray(y, dtype=float)
    return [{"low": float(lo), "high": float(hi), "n": int(m.sum()), "mean_probability": float(prob[m].mean()),
             "observed": float(y[m].mean())} for lo, hi, m in _bins(prob, bins) if m.any()]
