"""The quality model's fitting, calibration and application, on synthetic rows (no LM)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mtqa.train.model import (QualityModel, SOURCE_FEATURES, TARGET_FEATURES, fit_logistic, fit_model,
                              fit_ridge, rank_normal, set_weights)
from mtqa.train.run import predictions, write_params


def synthetic_rows(n=300, seed=0, with_source=True):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        slor = rng.normal(2.5, 1.0)
        tokens = int(rng.integers(5, 60))
        pmi = rng.normal(1.0, 0.5)
        quality = 0.8 * slor + 1.2 * pmi - 0.02 * tokens + rng.normal(0, 0.3)
        sm = 4.0 - 0.5 * slor + rng.normal(0, 0.2)
        row = {"id": f"s{i}", "group": "mqm" if i % 2 else "da", "gold": quality,
               "no_major": (1.0 if quality > 2.0 else 0.0) if i % 2 else None, "flags": [],
               "lm_tokens": tokens, "lm_logprob": -sm * tokens, "surprisal_mean": sm,
               "surprisal_max": sm + 6 + rng.normal(), "surprisal_p90": sm + 3, "entropy_mean": 3.0 + rng.normal(0, 0.1),
               "excess_surprisal": sm - 3.0, "slor": slor, "artefact_count": 0}
        if with_source and i % 5:
            row |= {"src_pmi": pmi, "src_logprob": -2.0 * tokens + pmi * tokens, "src_len_ratio": rng.normal(0.3, 0.1)}
        else:
            row |= {"src_pmi": None, "src_logprob": None, "src_len_ratio": None}
        rows.append(row)
    return rows


def test_rank_normal_is_monotone_and_centered():
    z = rank_normal([3.0, 1.0, 2.0, 2.0, 10.0])
    assert z[1] < z[2] == z[3] < z[0] < z[4]
    assert abs(z.mean()) < 0.01


def test_set_weights_give_every_group_the_same_total():
    rows = [{"group": g} for g in ["a"] * 30 + ["b"] * 10 + ["c"] * 5]
    w = set_weights(rows)
    totals = {g: w[[i for i, r in enumerate(rows) if r["group"] == g]].sum() for g in "abc"}
    assert totals["a"] == pytest.approx(totals["b"]) == pytest.approx(totals["c"])
    assert w.mean() == pytest.approx(1.0)


def test_weighted_ridge_equals_the_ridge_on_repeated_rows():
    """Integer weights are repeated rows: standardisation, intercept and coefficients alike
    (NaNs imputed with the weighted mean); weights of 1 are the unweighted fit."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3)) * [1.0, 5.0, 0.1] + [0.0, 2.0, -1.0]
    X[[2, 7], 1] = np.nan
    y = X[:, 0] - np.nan_to_num(X[:, 1]) * 0.2 + rng.normal(size=40)
    w = rng.integers(1, 4, size=40)
    rep = np.repeat(np.arange(40), w)
    weighted, repeated = fit_ridge(X, y, 3.0, w.astype(float)), fit_ridge(X[rep], y[rep], 3.0)
    for key in ("mean", "std", "coef"):
        assert np.allclose(weighted[key], repeated[key], rtol=1e-9, atol=1e-12), key
    assert weighted["intercept"] == pytest.approx(repeated["intercept"], rel=1e-9)
    ones, plain = fit_ridge(X, y, 3.0, np.ones(40)), fit_ridge(X, y, 3.0)
    assert np.allclose(ones["coef"], plain["coef"], rtol=1e-9) and ones["intercept"] == pytest.approx(plain["intercept"])


def test_fit_logistic_recovers_direction():
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * x - 0.5)))).astype(float)
    a, b = fit_logistic(x, y)
    assert a == pytest.approx(2.0, abs=0.3) and b == pytest.approx(-0.5, abs=0.2)


def test_fit_both_heads_and_their_signs():
    doc = fit_model(synthetic_rows(), ridge=1.0)
    assert set(doc["heads"]) == {"target", "source"}
    t, s = doc["heads"]["target"], doc["heads"]["source"]
    assert t["features"] == TARGET_FEATURES and s["features"] == SOURCE_FEATURES
    assert t["coef"][TARGET_FEATURES.index("slor")] > 0
    assert s["coef"][SOURCE_FEATURES.index("src_pmi")] > 0
    assert s["n_train"] < t["n_train"]  # only rows with a source
    assert t["calibration"]["a"] > 0  # higher prediction, likelier no major error


def test_with_source_head_predicts_better_and_rows_fall_back():
    train, test = synthetic_rows(400, 0), synthetic_rows(200, 7)
    doc = fit_model(train)
    preds = predictions(doc, test)
    gold = {r["id"]: r["gold"] for r in test}
    with_src = [p for p in preds if "quality_source" in p]
    without = [p for p in preds if "quality_source" not in p]
    assert with_src and without
    for p in without:  # no source: the row's quality is the target-only head's
        assert p["quality"] == p["quality_target"]

    def corr(col, ps):
        return np.corrcoef([p[col] for p in ps], [gold[p["article_id"]] for p in ps])[0, 1]

    assert corr("quality_source", with_src) > corr("quality_target", with_src) > 0.3


def test_quality_in_unit_interval_and_flags_monotone():
    m = QualityModel(fit_model(synthetic_rows()))
    row = synthetic_rows(1, 3)[0]
    q0 = m.quality(row, [])
    q1 = m.quality(row, ["repeated_title"])
    q2 = m.quality(row, ["repeated_title", "mixed_script", "low_quality"])
    assert 0 <= q2 < q1 < q0 <= 1
    assert m.quality({"surprisal_mean": float("nan"), "lm_tokens": 0}, []) == 0.5  # nothing scored: neutral
    assert 0 <= m.quality({"surprisal_mean": 1e6, "slor": -1e6, "lm_tokens": 10}, []) <= 1


def test_training_is_deterministic(tmp_path):
    a = write_params(fit_model(synthetic_rows()), tmp_path / "a.json")
    b = write_params(fit_model(synthetic_rows()), tmp_path / "b.json")
    assert a == b
    doc = json.loads((tmp_path / "a.json").read_text())
    assert all(math.isfinite(c) for c in doc["heads"]["target"]["coef"])
