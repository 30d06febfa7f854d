"""Expected calibration error, plain and weighted."""

from __future__ import annotations

import numpy as np
import pytest

from mtqa.evaluate.calibration import ece, reliability


def test_a_calibrated_probability_has_ece_near_zero_and_a_constant_wrong_one_its_gap():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20000)
    y = (rng.uniform(size=20000) < p).astype(float)
    assert ece(p, y) < 0.02
    assert ece(np.full(1000, 0.9), np.r_[np.ones(500), np.zeros(500)]) == pytest.approx(0.4)


def test_weights_measure_a_probability_under_other_priors():
    # a probability made for equal priors, on data where the positive class is 4x as common
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(8000), np.zeros(2000)]
    s = (2 * y - 1) + rng.normal(0, 1, len(y))  # N(+-1, 1) per class: the posterior at equal priors is sigmoid(2s)
    p = 1 / (1 + np.exp(-2 * s))
    w = np.where(y == 1, 1 / 8000, 1 / 2000)
    assert ece(p, y, weights=w) < ece(p, y) and ece(p, y, weights=w) < 0.03
    # unit weights are the plain ECE; weights scale-free
    assert ece(p, y, weights=np.ones(len(y))) == pytest.approx(ece(p, y))
    assert ece(p, y, weights=7 * w) == pytest.approx(ece(p, y, weights=w))


def test_reliability_bins_hold_every_row():
    p = np.array([0.05, 0.15, 0.55, 0.95, 1.0])
    bins = reliability(p, np.array([0, 0, 1, 1, 1]), bins=5)
    assert sum(b["n"] for b in bins) == 5 and bins[-1]["observed"] == 1.0
