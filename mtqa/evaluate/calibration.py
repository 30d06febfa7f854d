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


def ece(prob, y, bins: int = 10, weights=None) -> float:
    """Expected calibration error: the row-weighted mean |mean probability - observed rate| over
    bins. ``weights`` (one per row) weigh the rows in every mean, e.g. to measure a probability
    that assumes equal priors on data where one class is more common."""
    prob, y = np.asarray(prob, dtype=float), np.asarray(y, dtype=float)
    if weights is None:  # the plain formula, bit for bit as before weights existed
        return float(sum(m.mean() * abs(prob[m].mean() - y[m].mean()) for _, _, m in _bins(prob, bins) if m.any()))
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    return float(sum(w[m].sum() / total * abs(np.average(prob[m], weights=w[m]) - np.average(y[m], weights=w[m]))
                     for _, _, m in _bins(prob, bins) if m.any() and w[m].sum() > 0))


def reliability(prob, y, bins: int = 5) -> list[dict]:
    """Per non-empty bin: its range, rows, mean probability and observed rate."""
    prob, y = np.asarray(prob, dtype=float), np.asarray(y, dtype=float)
    return [{"low": float(lo), "high": float(hi), "n": int(m.sum()), "mean_probability": float(prob[m].mean()),
             "observed": float(y[m].mean())} for lo, hi, m in _bins(prob, bins) if m.any()]
