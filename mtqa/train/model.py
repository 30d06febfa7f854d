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
raises quality). The parameters are a small JSON file (``mtqa/resources/``).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Mapping, Sequence

import numpy as np

FORMAT = "mtqa-quality-model"
FORMAT_VERSION = 1

#: feature name -> (columns it needs, how it is computed from one row's values)
TARGET_FEATURES = ["log_tokens", "lm_logprob", "surprisal_mean", "surprisal_max", "surprisal_p90",
                   "entropy_mean", "excess_surprisal", "slor"]
SOURCE_FEATURES = TARGET_FEATURES + ["src_pmi", "src_logprob", "src_len_ratio", "src_pmi_sum", "src_logprob_mean"]
# flags that are not artefact evidence: the combiner's own, and `truncated` (a note on how much was scored)
OWN_FLAGS = {"low_quality", "truncated"}


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def feature_value(name: str, row: Mapping[str, Any]) -> float:
    if name == "src_pmi_sum":  # total PMI (per-token PMI x target tokens)
        return _num(row.get("src_pmi")) * _num(row.get("lm_tokens"))
    if name == "src_logprob_mean":  # mean conditional log-prob per token
        return _num(row.get("src_logprob")) / max(_num(row.get("lm_tokens")), 1.0)
    if name == "log_tokens":
        return math.log1p(max(_num(row.get("lm_tokens")), 0.0)) if row.get("lm_tokens") is not None else math.nan
    return _num(row.get(name))


def feature_matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> np.ndarray:
    return np.array([[feature_value(n, r) for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))


# Flags that say the line is not translated prose at all (site boilerplate, text left in
# another language) weigh as three ordinary artefacts: the LM features of a short, common
# line like "Back to top button" look fluent, and the learned heads reward shortness.
FLAG_WEIGHTS = {"boilerplate": 3.0, "not_english": 3.0}


def n_flags(flags: Sequence[str]) -> float:
    """Weighted count of distinct artefact flags (each 1, except FLAG_WEIGHTS)."""
    return sum(FLAG_WEIGHTS.get(f, 1.0) for f in set(flags) - OWN_FLAGS)


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


def fit_ridge(X: np.ndarray, y: np.ndarray, ridge: float) -> dict:
    """Standardise X (NaN -> column mean), fit y = intercept + coef . z with an L2 penalty."""
    mean = np.nanmean(X, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    Xf = np.where(np.isfinite(X), X, mean)
    std = Xf.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    Z = (Xf - mean) / std
    ym = float(y.mean())
    A = Z.T @ Z + ridge * np.eye(Z.shape[1])
    coef = np.linalg.solve(A, Z.T @ (y - ym))
    return {"mean": mean.tolist(), "std": std.tolist(), "coef": coef.tolist(), "intercept": ym}


def predict_linear(head: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    mean, std = np.asarray(head["mean"]), np.asarray(head["std"])
    Z = (X - mean) / std
    Z = np.where(np.isfinite(Z), Z, 0.0)
    return head["intercept"] + Z @ np.asarray(head["coef"])


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


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _round(obj, nd=6):
    if isinstance(obj, float):
        return float(f"{obj:.{nd}g}")
    if isinstance(obj, list):
        return [_round(x, nd) for x in obj]
    if isinstance(obj, dict):
        return {k: _round(v, nd) for k, v in obj.items()}
    return obj


def fit_model(rows: Sequence[Mapping[str, Any]], *, ridge: float = 1.0, flag_logit: float = 1.0,
              model: str = "gemma-3-270m") -> dict:
    """Fit both heads on training ``rows`` (dicts with signal columns, ``gold``, ``group``,
    ``no_major`` (MQM) and ``flags``). Returns the JSON-able parameter document."""
    rows = list(rows)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r["group"], []).append(i)
    y = np.zeros(len(rows))
    for idx in groups.values():
        y[idx] = rank_normal([rows[i]["gold"] for i in idx])
    heads = {}
    for head, names, keep in (
        ("target", TARGET_FEATURES, lambda r: True),
        ("source", SOURCE_FEATURES, lambda r: r.get("src_pmi") is not None and _num(r.get("src_pmi")) == _num(r.get("src_pmi"))),
    ):
        idx = [i for i, r in enumerate(rows) if keep(r)]
        if len(idx) < 5:
            continue
        sub = [rows[i] for i in idx]
        X = feature_matrix(sub, names)
        params = fit_ridge(X, y[idx], ridge)
        pred = predict_linear(params, X)
        cal = [i for i, r in enumerate(sub) if r.get("no_major") is not None]
        if len(cal) >= 10 and 0 < sum(sub[i]["no_major"] for i in cal) < len(cal):
            a, b = fit_logistic(pred[cal], np.array([sub[i]["no_major"] for i in cal], dtype=np.float64))
            cal_on = "MQM no-major-error"
        else:  # no MQM rows: a standard logistic of the z-score
            a, b, cal_on = 1.7, 0.0, "logistic(1.7 z)"
        heads[head] = {"features": list(names), **params, "calibration": {"a": a, "b": b, "target": cal_on,
                                                                          "n": len(cal)}, "n_train": len(idx)}
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model, "flag_logit": flag_logit,
           "ridge": ridge, "target": "gold rank-normalised per group", "heads": heads}
    return _round(doc)


class QualityModel:
    """Applies a parameter document to pipeline columns (row-wise head choice)."""

    def __init__(self, doc: Mapping[str, Any]):
        if doc.get("format") != FORMAT:
            raise ValueError("not an mtqa quality model file")
        self.doc = doc
        self.heads = doc["heads"]
        self.flag_logit = float(doc.get("flag_logit", 1.0))

    def head_for(self, row: Mapping[str, Any]) -> str:
        if "source" in self.heads and math.isfinite(_num(row.get("src_pmi"))):
            return "source"
        return "target"

    def predict_z(self, row: Mapping[str, Any], head: str | None = None) -> float:
        head = head or self.head_for(row)
        h = self.heads[head]
        X = feature_matrix([row], h["features"])
        return float(predict_linear(h, X)[0])

    def quality(self, row: Mapping[str, Any], flags: Sequence[str] = (), head: str | None = None) -> float:
        head = head or self.head_for(row)
        h = self.heads[head]
        if not math.isfinite(_num(row.get("surprisal_mean"))):
            base_logit = 0.0  # nothing the LM could score: neutral
        else:
            c = h["calibration"]
            base_logit = c["a"] * self.predict_z(row, head) + c["b"]
        return sigmoid(base_logit - self.flag_logit * n_flags(flags))
