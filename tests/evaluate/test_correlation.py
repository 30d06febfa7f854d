"""Correlations and their bootstrap intervals on data with known answers."""

import itertools
import math

import numpy as np
import pytest

from mtqa.evaluate.correlation import correlate, kendall, pearson, resample_counts, spearman


def brute_tau_b(x, y):
    c = d = tx = ty = 0
    for (xi, yi), (xj, yj) in itertools.combinations(zip(x, y), 2):
        s = np.sign(xi - xj) * np.sign(yi - yj)
        c += s > 0
        d += s < 0
        tx += xi == xj
        ty += yi == yj
    n0 = len(x) * (len(x) - 1) / 2
    return (c - d) / math.sqrt((n0 - tx) * (n0 - ty))


def avg_ranks(v):
    v = np.asarray(v, dtype=float)
    return np.array([(v < a).sum() + ((v == a).sum() + 1) / 2 for a in v])


def test_perfect_agreement_collapses_the_interval():
    x = np.arange(50, dtype=float)
    r = correlate(x, 3 * x + 1, bootstrap=200, seed=0)
    for name in ("spearman", "pearson", "kendall"):
        est = r.estimates[name]
        assert est.value == pytest.approx(1.0)
        assert est.low == pytest.approx(1.0) and est.high == pytest.approx(1.0)


def test_reversed_order_gives_minus_one():
    x = np.arange(30, dtype=float)
    r = correlate(x, -(x**3), bootstrap=100, seed=1)
    assert r.estimates["spearman"].value == pytest.approx(-1.0)
    assert r.estimates["kendall"].value == pytest.approx(-1.0)
    assert r.estimates["pearson"].value < -0.9


def test_monotone_but_not_linear():
    x = np.linspace(0.1, 5, 40)
    y = np.exp(x)
    assert spearman(x, y) == pytest.approx(1.0)
    assert kendall(x, y) == pytest.approx(1.0)
    assert pearson(x, y) < 0.95


def test_bootstrap_is_deterministic_given_the_seed():
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    a = correlate(x, y, bootstrap=300, seed=7).as_dict()
    b = correlate(x, y, bootstrap=300, seed=7).as_dict()
    c = correlate(x, y, bootstrap=300, seed=8).as_dict()
    assert a == b
    assert a["spearman"]["ci_low"] != c["spearman"]["ci_low"]
    assert a["spearman"]["value"] == c["spearman"]["value"]


def test_interval_contains_the_point_estimate():
    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    y = 0.4 * x + rng.normal(size=400)
    r = correlate(x, y, bootstrap=500, seed=0)
    for est in r.estimates.values():
        assert est.low < est.value < est.high
        assert est.high - est.low < 0.4


def test_point_estimates_match_definitions_with_ties():
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(3, 25))
        x = rng.integers(0, 4, n).astype(float)
        y = rng.integers(0, 5, n).astype(float)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        assert kendall(x, y) == pytest.approx(brute_tau_b(x, y))
        assert spearman(x, y) == pytest.approx(np.corrcoef(avg_ranks(x), avg_ranks(y))[0, 1])
        assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_resampled_statistics_equal_those_of_the_explicit_resample():
    # the weighted (row-count) kernels must agree with computing on the duplicated rows
    from mtqa.evaluate.correlation import _Batch, STATISTICS

    rng = np.random.default_rng(2)
    x = rng.integers(0, 6, 20).astype(float)
    y = x + rng.integers(0, 3, 20)
    W = resample_counts(20, 10, rng)
    got = _Batch(x, y, STATISTICS)(W)
    for k in range(10):
        idx = np.repeat(np.arange(20), W[k])
        xs, ys = x[idx], y[idx]
        assert got["kendall"][k] == pytest.approx(brute_tau_b(xs, ys))
        assert got["pearson"][k] == pytest.approx(np.corrcoef(xs, ys)[0, 1])
        assert got["spearman"][k] == pytest.approx(np.corrcoef(avg_ranks(xs), avg_ranks(ys))[0, 1])


def test_constant_side_and_tiny_inputs_are_undefined():
    assert pearson([1, 2, 3], [5, 5, 5]) is None
    assert spearman([1, 2, 3], [5, 5, 5]) is None
    assert kendall([1, 2, 3], [5, 5, 5]) is None
    r = correlate([1.0], [2.0], bootstrap=10)
    assert r.n == 1 and r.estimates["spearman"].value is None


def test_non_finite_rows_are_dropped():
    r = correlate([1, 2, float("nan"), 4], [1, 2, 3, 4], bootstrap=0)
    assert r.n == 3
    assert r.estimates["pearson"].value == pytest.approx(1.0)
    assert r.estimates["pearson"].low is None
