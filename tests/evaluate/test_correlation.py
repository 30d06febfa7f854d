"""Correlations and their bootstrap intervals on data with known answers."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mtqa.evaluate.correlation import bootstrap_distribution, correlate, kendall, partial_spearman, pearson, spearman

#: figures of the pre-scipy implementation (hand-written weighted kernels, mtqa before issue 11)
#: on fixed inputs: point estimates, and correlate() with 100-1,000 resamples. Made by running
#: that implementation over the cases listed in each entry (inputs stored alongside).
PARITY = Path(__file__).parent / "data" / "correlation_parity.json"


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


def test_bootstrap_values_are_the_statistics_of_the_explicit_resamples():
    # resample i is rows rng.integers(0, n, (B, n))[i] of a default_rng(seed): the draws mtqa made
    # before scipy, so the intervals did not move
    rng = np.random.default_rng(2)
    x = rng.integers(0, 6, 20).astype(float)
    y = x + rng.integers(0, 3, 20)
    draws = np.random.default_rng(9).integers(0, 20, (10, 20))
    got = {s: bootstrap_distribution(x, y, s, resamples=10, seed=9) for s in ("kendall", "pearson", "spearman")}
    for k in range(10):
        xs, ys = x[draws[k]], y[draws[k]]
        assert got["kendall"][k] == pytest.approx(brute_tau_b(xs, ys))
        assert got["pearson"][k] == pytest.approx(np.corrcoef(xs, ys)[0, 1])
        assert got["spearman"][k] == pytest.approx(np.corrcoef(avg_ranks(xs), avg_ranks(ys))[0, 1])


def test_undefined_resamples_are_counted_and_left_out():
    # 4 rows: a resample that draws only rows with one x value (or one y value) has a constant
    # side; its statistics are undefined (not 0), counted, and left out of the percentiles
    x, y = [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 2.0]
    r = correlate(x, y, bootstrap=400, seed=0)
    draws = np.random.default_rng(0).integers(0, 4, (400, 4))
    constant = sum(len(set(np.asarray(x)[d])) == 1 or len(set(np.asarray(y)[d])) == 1 for d in draws)
    assert constant > 0
    assert r.undefined == {"spearman": constant, "pearson": constant, "kendall": constant}
    for est in r.estimates.values():
        assert est.low is not None and est.low <= est.high


def test_resamples_are_drawn_batch_by_batch(monkeypatch):
    # long inputs are resampled _BATCH_CELLS // n resamples at a time, as before scipy: shrink the
    # batch and check the draws are consecutive (batch, n) blocks of one generator
    import mtqa.evaluate.correlation as corr

    monkeypatch.setattr(corr, "_BATCH_CELLS", 90)  # 3 resamples per batch of 30 rows
    x = np.arange(30.0)
    y = np.random.default_rng(4).normal(size=30)
    rng = np.random.default_rng(5)
    draws = np.concatenate([rng.integers(0, 30, (b, 30)) for b in (3, 3, 1)])
    got = bootstrap_distribution(x, y, "pearson", resamples=7, seed=5)
    assert got == pytest.approx([np.corrcoef(x[d], y[d])[0, 1] for d in draws])


def _parity_cases():
    cases = json.loads(PARITY.read_text())
    # the two long cases take a few seconds each (Kendall is one scipy call per resample)
    return [pytest.param(k, marks=pytest.mark.slow) if len(v["x"]) > 1000 else k for k, v in sorted(cases.items())]


@pytest.mark.parametrize("case", _parity_cases())
def test_parity_with_the_pre_scipy_implementation(case):
    c = json.loads(PARITY.read_text())[case]
    x, y = c["x"], c["y"]
    for name, f in (("pearson", pearson), ("spearman", spearman), ("kendall", kendall)):
        assert f(x, y) == pytest.approx(c[name], abs=1e-9)
    for b in c["bootstrap"]:
        got = correlate(x, y, bootstrap=b["resamples"], seed=b["seed"]).as_dict()
        want = b["result"]
        assert got["n"] == want["n"] and got["bootstrap"] == want["bootstrap"]
        for name in ("spearman", "pearson", "kendall"):
            for key in ("value", "ci_low", "ci_high"):
                assert got[name][key] == pytest.approx(want[name][key], abs=1e-9), (name, key)


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


def test_two_rows():
    # a pair is perfectly (anti-)correlated; its resamples are that pair or one row twice
    r = correlate([1.0, 2.0], [5.0, 3.0], bootstrap=50, seed=0)
    for name in ("spearman", "pearson", "kendall"):
        assert r.estimates[name].value == pytest.approx(-1.0)
        assert r.estimates[name].low == pytest.approx(-1.0) and r.estimates[name].high == pytest.approx(-1.0)
    assert 0 < r.undefined["spearman"] == r.undefined["pearson"] == r.undefined["kendall"] < 50


def test_partial_spearman_removes_what_the_control_explains():
    rng = np.random.default_rng(3)
    length = rng.normal(size=2000)
    # both follow length alone: a strong Spearman that is all length
    a, b = length + 0.3 * rng.normal(size=2000), length + 0.3 * rng.normal(size=2000)
    assert spearman(a, b) > 0.8 and abs(partial_spearman(a, b, length)) < 0.06
    # a shared part independent of length survives
    shared = rng.normal(size=2000)
    c, d = shared + length, shared - length
    assert abs(spearman(c, d)) < 0.06 and partial_spearman(c, d, length) > 0.8
    # a constant control partials out nothing; non-finite rows are dropped; too few rows: None
    assert partial_spearman(a, b, np.zeros(2000)) == pytest.approx(spearman(a, b), abs=1e-12)
    a2 = a.copy()
    a2[0] = np.nan
    assert partial_spearman(a2, b, length) == pytest.approx(partial_spearman(a[1:], b[1:], length[1:]))
    assert partial_spearman([1, 2], [2, 1], [0, 1]) is None
    with pytest.raises(ValueError):
        partial_spearman([1, 2, 3], [1, 2], [1, 2, 3])
