"""The quality model: two small linear heads on standardised signal columns, calibrated.

For each head (``target``: target-only; ``source``: with the source-PMI columns too)

    z_j     = (f_j(columns) - mean_j) / std_j          (missing/NaN -> 0, the training mean)
    pred    = intercept + sum_j coef_j * z_j           (ridge least squares on gold scores that
                                                        were rank-normalised per data set/pair)
    quality = sigmoid(a * pred + b - flag_logit * n_flags)

``pred`` estimates the human judgement in per-data-set standard units (a z-score); ``a, b``
are a logistic fit of "MQM raters found no major error in the segment" on ``pred`` over the
MQM training segments, so ``quality`` reads as the probability that an expert would find no
major error (at the error rate of the WMT zh-en MT systems the calibration saw). Every
distinct artefact flag lowers the log-odds by ``flag_logit`` (monotone: a flag never
raises quality). The parameters are a small JSON file (``mtqa/resources/``); this module
fits them, :mod:`mtqa.heads.quality` applies them.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Mapping, Sequence

import numpy as np

# the inference half (applying shipped parameters) lives in mtqa.heads.quality; training
# imports it, never the reverse, so scoring loads no training code
from mtqa.heads.quality import (FLAG_WEIGHTS, FORMAT, FORMAT_VERSION, OWN_FLAGS, QualityModel, _num,  # noqa: F401
                                feature_matrix, feature_value, n_flags, predict_linear, sigmoid)
from mtqa.signals.registry import declared_columns


def _float_columns(signal: str) -> list[str]:
    """The float columns ``signal`` declares, in its order: what the heads learn from."""
    return [c.name for c in declared_columns([signal]) if c.dtype == "float32"]


#: the target-only head's features: the LM signal's float columns, plus ``log_tokens``
#: (``log1p`` of its ``lm_tokens``); derived from the declared columns, so a column the LM
#: signal adds is learned from at the next fit (the parameter file names its features)
TARGET_FEATURES = ["log_tokens", *_float_columns("lm")]
#: source columns the heads do not learn from: the per-token profile (source signal 2)
#: added nothing in cross-validation on the training rows (mean out-of-fold Spearman 0.382
#: without, 0.379 with; README): they are output columns that point at a word
SOURCE_PROFILE = frozenset({"src_pmi_min", "src_pmi_p10", "src_pmi_low", "src_surprisal_max", "src_surprisal_p90"})
#: the with-source head: also the source and xling signals' float columns and three derived
#: from them (total PMI, conditional log-prob per token, the size of the length mismatch)
SOURCE_FEATURES = TARGET_FEATURES + [c for c in _float_columns("source") if c not in SOURCE_PROFILE] + [
    *_float_columns("xling"), "src_pmi_sum", "src_logprob_mean", "src_len_gap"]
#: what the heads see besides the LM (corpus-wide fits, :mod:`mtqa.train.quality`): the
#: word-order search's gain and the flags, with weights learned from the judgements
EXTRA_FEATURES = ["word_order_score", "n_major_flags", "n_minor_flags"]
FLAG_FEATURES = ("n_major_flags", "n_minor_flags")


def rank_normal(values: Sequence[float]) -> np.ndarray:
    """Gold scores -> normal scores by rank (ties share their mean rank): robust to skew (MQM)."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return v
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=np.float64)
    # average ties
    _, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = sums[inv] / counts[inv]
    nd = NormalDist()
    return np.array([nd.inv_cdf((r + 0.5) / n) for r in ranks])


def group_targets(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Each row's gold, rank-normalised within its ``group`` (data set / language pair)."""
    y = np.zeros(len(rows))
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r["group"], []).append(i)
    for idx in groups.values():
        y[idx] = rank_normal([rows[i]["gold"] for i in idx])
    return y


def set_weights(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Row weights that give every ``group`` (training set / language pair) the same total
    weight, with mean 1 (so a ridge penalty means what it means unweighted). The heads are
    chosen by the mean *per-set* Spearman; weighted so, the loss counts the sets as that
    metric does, and a set's weight no longer grows with how many of its rows the cache holds."""
    groups = [r["group"] for r in rows]
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    return np.array([len(groups) / (len(counts) * counts[g]) for g in groups], dtype=np.float64)


def fit_ridge(X: np.ndarray, y: np.ndarray, ridge: float, weights: np.ndarray | None = None) -> dict:
    """Standardise X (NaN -> column mean), fit y = intercept + coef . z with an L2 penalty
    (weighted least squares, means and spreads weighted too, when ``weights`` are given)."""
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is None:
        mean = np.nanmean(X, axis=0)
    else:
        ok = np.isfinite(X)
        wsum = (w[:, None] * ok).sum(axis=0)
        mean = np.where(wsum > 0, (w[:, None] * np.where(ok, X, 0.0)).sum(axis=0) / np.maximum(wsum, 1e-300), np.nan)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    Xf = np.where(np.isfinite(X), X, mean)
    std = Xf.std(axis=0) if w is None else np.sqrt((w[:, None] * (Xf - mean) ** 2).sum(axis=0) / w.sum())
    std = np.where(std > 1e-9, std, 1.0)
    Z = (Xf - mean) / std
    if w is None:  # the unweighted arithmetic as it always was (byte-identical parameter files)
        ym = float(y.mean())
        A = Z.T @ Z + ridge * np.eye(Z.shape[1])
        coef = np.linalg.solve(A, Z.T @ (y - ym))
    else:
        ym = float((w * y).sum() / w.sum())  # Z's weighted means are 0 (NaN imputed with the weighted mean)
        A = (Z * w[:, None]).T @ Z + ridge * np.eye(Z.shape[1])
        coef = np.linalg.solve(A, (Z * w[:, None]).T @ (y - ym))
    return {"mean": mean.tolist(), "std": std.tolist(), "coef": coef.tolist(), "intercept": ym}


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> tuple[float, float]:
    """1-D logistic regression p(y=1) = sigmoid(a x + b) by Newton's method (deterministic)."""
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        g = X.T @ (p - y) + l2 * w
        H = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def _round(obj, nd=6):
    if isinstance(obj, float):
        return float(f"{obj:.{nd}g}")
    if isinstance(obj, list):
        return [_round(x, nd) for x in obj]
    if isinstance(obj, dict):
        return {k: _round(v, nd) for k, v in obj.items()}
    return obj


def fit_model(rows: Sequence[Mapping[str, Any]], *, ridge: float = 1.0, flag_logit: float = 1.0,
              model: str = "gemma-3-270m", extra_features: Sequence[str] = (), source_ridge: float | None = None,
              min_source_rows: int = 5, source_extra: Sequence[str] = (), balance: bool = False,
              without: Sequence[str] = ()) -> dict:
    """Fit both heads on training ``rows`` (dicts with signal columns, ``gold``, ``group``,
    ``no_major`` (MQM) and ``flags``): the target head on all of them, the source head (penalty
    ``source_ridge``, default ``ridge``; ``source_extra`` features besides) on those with a
    source PMI, when there are at least ``min_source_rows``. ``balance``: every group the same
    total weight (:func:`set_weights`). ``without``: features left out of both heads (an
    ablation). Returns the JSON-able parameter document."""
    rows = list(rows)
    y = group_targets(rows)
    heads = {}
    for head, names, keep in (
        ("target", TARGET_FEATURES + list(extra_features), lambda r: True),
        ("source", SOURCE_FEATURES + list(extra_features) + list(source_extra), lambda r: r.get("src_pmi") is not None and _num(r.get("src_pmi")) == _num(r.get("src_pmi"))),
    ):
        names = [n for n in names if n not in without]
        idx = [i for i, r in enumerate(rows) if keep(r)]
        if len(idx) < (5 if head == "target" else min_source_rows):
            continue
        lam = source_ridge if head == "source" and source_ridge is not None else ridge
        sub = [rows[i] for i in idx]
        names = list(names)
        while True:
            X = feature_matrix(sub, names)
            params = fit_ridge(X, y[idx], lam, set_weights(sub) if balance else None)
            # a flag must never raise quality: a flag feature the data would give a positive
            # weight (a corpus quirk) is dropped and the head refitted without it
            wrong = [n for n, c in zip(names, params["coef"]) if n in FLAG_FEATURES and c > 0]
            if not wrong:
                break
            names = [n for n in names if n not in wrong]
        pred = predict_linear(params, X)
        cal = [i for i, r in enumerate(sub) if r.get("no_major") is not None]
        if len(cal) >= 10 and 0 < sum(sub[i]["no_major"] for i in cal) < len(cal):
            a, b = fit_logistic(pred[cal], np.array([sub[i]["no_major"] for i in cal], dtype=np.float64))
            cal_on = "MQM no-major-error"
        else:  # no MQM rows: a standard logistic of the z-score
            a, b, cal_on = 1.7, 0.0, "logistic(1.7 z)"
        heads[head] = {"features": list(names), **params, "calibration": {"a": a, "b": b, "target": cal_on,
                                                                          "n": len(cal)}, "n_train": len(idx)}
        if lam != ridge:
            heads[head]["ridge"] = lam
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model, "flag_logit": flag_logit,
           "ridge": ridge, "target": "gold rank-normalised per group", "heads": heads}
    if balance:
        doc["weights"] = "every training set the same total weight"
    return _round(doc)
