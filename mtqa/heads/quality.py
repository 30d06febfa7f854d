"""The quality head at inference: applies a shipped parameter document to signal columns.

Fitting lives in :mod:`mtqa.train.model` (which imports this module: training depends on
inference, never the reverse, so ``mtqa score`` loads no training code). For each head
(``target``: target-only; ``source``: with the source columns too; ``source:<lang>``: the
source head refitted for one source language, shrunk towards ``source``, where the training
data had that language)

    z_j     = (f_j(columns) - mean_j) / std_j          (missing/NaN -> 0, the training mean)
    pred    = intercept + sum_j coef_j * z_j
    quality = sigmoid(a * pred + b - flag_logit * n_flags)

Features are signal columns or derived from them; two are derived from the sentence's flags
(``n_major_flags``: distinct flags in :data:`MAJOR_FLAGS`; ``n_minor_flags``: the other
artefact flags), so a head that lists them learns their weights from the judgements
(parameter files since the corpus-wide fit use them with ``flag_logit`` 0).

**State heads** (format 1 files since session 7 may carry ``states``): a ridge regression on a
pooled hidden-state vector, fitted on the same judgements, gives one more feature:
``lm_state_score`` from ``lm_pooled`` (the mean of the base pass's last hidden states, which
the MT detector reads too) and ``src_state_score`` from ``src_pooled`` (the mean states of
the sentence's tokens in the source-conditioned pass, layers 6/12/18, from the source
signal), and (since session 10) ``xling_state_score`` from ``xling_pair`` (the ``xling``
signal's multilingual-e5 embeddings of source and sentence, with their product and distance):
light COMET-style estimators on frozen states, stacked under the linear heads
(the heads were fitted on out-of-fold state scores, :mod:`mtqa.train.quality`). A row
without the vector gets NaN for the feature, i.e. the training mean.

``pred`` estimates the human judgement in per-data-set standard units; ``a, b`` calibrate it
as the probability that an expert (MQM) finds no major error. Every distinct artefact flag
lowers the log-odds by ``flag_logit`` (``FLAG_WEIGHTS`` for the heavier ones), so a flag
never raises quality. A feature whose column is absent (a signal switched off with
``signals:``) reads as NaN, i.e. the training mean: the head degrades, it does not fail.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

FORMAT = "mtqa-quality-model"
FORMAT_VERSION = 1

# flags that are not artefact evidence: the combiner's own, and `truncated` (a note on how much was scored)
OWN_FLAGS = frozenset({"low_quality", "truncated"})

# Flags that say the line is not translated prose at all (site boilerplate, text left in
# another language) weigh as three ordinary artefacts: the LM features of a short, common
# line like "Back to top button" look fluent, and the learned heads reward shortness.
FLAG_WEIGHTS = {"boilerplate": 3.0, "not_english": 3.0}

# Flags that mark a *major* error in MQM's sense: the sentence is not usable as it stands
# (mtqa.combine caps such sentences below ``flag_quality`` whatever the heads say).
MAJOR_FLAGS = frozenset({"word_order", "word_order_rule", "fused_sentence", "self_relation", "boilerplate",
                         "not_english", "bare_verb_start", "name_mismatch", "foreign_script"})
#: flags that are neither artefacts nor major errors: LM evidence already in the columns
_NOT_ARTEFACTS = OWN_FLAGS | {"lm_spike"}


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def feature_value(name: str, row: Mapping[str, Any]) -> float:
    """One feature of one row: a column, or one of the few derived from columns."""
    if name == "src_pmi_sum":  # total PMI (per-token PMI x target tokens)
        return _num(row.get("src_pmi")) * _num(row.get("lm_tokens"))
    if name == "src_logprob_mean":  # mean conditional log-prob per token
        return _num(row.get("src_logprob")) / max(_num(row.get("lm_tokens")), 1.0)
    if name == "src_len_gap":  # omission or addition: |log length ratio|
        return abs(_num(row.get("src_len_ratio")))
    if name in ("n_major_flags", "n_minor_flags"):
        fl = set(row.get("flags") or ()) - _NOT_ARTEFACTS
        major = len(fl & MAJOR_FLAGS)
        return float(major if name == "n_major_flags" else len(fl) - major)
    if name == "log_tokens":
        return math.log1p(max(_num(row.get("lm_tokens")), 0.0)) if row.get("lm_tokens") is not None else math.nan
    return _num(row.get(name))


def feature_matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> np.ndarray:
    return np.array([[feature_value(n, r) for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))


def n_flags(flags: Sequence[str]) -> float:
    """Weighted count of distinct artefact flags (each 1, except FLAG_WEIGHTS)."""
    return sum(FLAG_WEIGHTS.get(f, 1.0) for f in set(flags) - OWN_FLAGS)


def standardise(head: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    """``(X - mean) / std`` with the head's training statistics; missing/NaN -> 0 (the mean)."""
    Z = (X - np.asarray(head["mean"])) / np.asarray(head["std"])
    return np.where(np.isfinite(Z), Z, 0.0)


def predict_linear(head: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    return head["intercept"] + standardise(head, X) @ np.asarray(head["coef"])


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def state_score(state: Mapping[str, Any], vector: Any) -> float:
    """One state head on one pooled vector (flattened; NaN when there is none)."""
    if vector is None:
        return math.nan
    v = np.asarray(vector, dtype=np.float64).reshape(1, -1)
    if v.shape[1] != len(state["coef"]) or not np.isfinite(v).all() or not v.any():
        return math.nan  # no states (nothing scored: zeros) or another model's
    return float(predict_linear(state, v)[0])


class QualityModel:
    """Applies a parameter document to pipeline columns (row-wise head choice)."""

    def __init__(self, doc: Mapping[str, Any]):
        if doc.get("format") != FORMAT:
            raise ValueError("not an mtqa quality model file")
        self.doc = doc
        self.heads = doc["heads"]
        self.flag_logit = float(doc.get("flag_logit", 1.0))
        #: feature name -> state head (``vector``: the row key of the pooled vector it reads)
        self.states: dict[str, Mapping[str, Any]] = dict(doc.get("states", {}))
        #: the vectors rows must carry for the state heads
        self.vectors: tuple[str, ...] = tuple(sorted({s["vector"] for s in self.states.values()}))

    def with_states(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` plus each state head's feature (from the row's vectors)."""
        out = dict(row)
        for name, state in self.states.items():
            out[name] = state_score(state, row.get(state["vector"]))
        return out

    def head_for(self, row: Mapping[str, Any]) -> str:
        """``target``; with a source PMI ``source``, or ``source:<lang>`` where a head was
        trained for the source's language (``src_lang``)."""
        if "source" in self.heads and math.isfinite(_num(row.get("src_pmi"))):
            lang = row.get("src_lang")
            if isinstance(lang, str) and f"source:{lang}" in self.heads:
                return f"source:{lang}"
            return "source"
        return "target"

    def predict_z(self, row: Mapping[str, Any], head: str | None = None) -> float:
        head = head or self.head_for(row)
        h = self.heads[head]
        X = feature_matrix([self.with_states(row) if self.states else row], h["features"])
        return float(predict_linear(h, X)[0])

    def base_logit(self, row: Mapping[str, Any], flags: Sequence[str] = (), head: str | None = None) -> float:
        """The calibrated log-odds of "no major error" before any fixed flag penalty:
        ``a * pred + b`` (0, neutral, when the LM scored nothing)."""
        head = head or self.head_for(row)
        if not math.isfinite(_num(row.get("surprisal_mean"))):
            return 0.0  # nothing the LM could score: neutral
        c = self.heads[head]["calibration"]
        return c["a"] * self.predict_z({**row, "flags": list(flags)}, head) + c["b"]

    def quality(self, row: Mapping[str, Any], flags: Sequence[str] = (), head: str | None = None) -> float:
        head = head or self.head_for(row)
        h = self.heads[head]
        # a head may carry its own flag_logit (a head carried over from an older file keeps
        # the fixed flag penalty it was fitted with; learned-flag heads have 0)
        flag_logit = float(h.get("flag_logit", self.flag_logit))
        return sigmoid(self.base_logit(row, flags, head) - flag_logit * n_flags(flags))
