"""Recalibrate ``quality`` as P(no major error) on a newer MQM set, and say how well it holds.

``python -m mtqa train --recalibrate PARAMS --quality FEATURES [--calibrate-on wmt22dev] [-o OUT]``
(or ``--quality FEATURES --calibrate-on wmt22dev`` after a fit).

Why: the heads' logistic link (:func:`mtqa.train.model.fit_model`) is fitted on the MQM
*training* segments, newstest2021 and TED (2021 systems: 53% and 70% of segments without a
major error). On WMT22 QE zh-en dev 79% have none, so the shipped ``quality`` ranked the
right way from too low a level (ECE 0.216; README, *Agreement*). A ranking head cannot know
a data set's error rate; the link can be refitted on segments from the systems users meet
now. The refit is two numbers per head family, ``quality = sigmoid(alpha * logit + beta)``
over the fitted link's log-odds, composed into each head's ``a, b`` (``a' = alpha * a``,
``b' = alpha * b + beta``): monotone, so no head's ranking (Spearman) moves, only its level.
The target head is refitted on its target-only log-odds, every with-source head (``source``,
``source:<lang>``) with one pair fitted on the with-source log-odds of the rows that have a
source.

Honest figure: the set the link is refitted on is a report set, so its in-sample ECE is no
evidence. :func:`cross_fit_ece` estimates what the refit gives on *unseen* documents: the
documents are split in two halves, each half's link is fitted on the other, the ECE is
taken over all rows, and this is repeated ``repeats`` times with seeded splits (mean, min,
max). The ECE is of ``quality`` as ``mtqa score`` reports it, major-error caps included
(:func:`mtqa.combine.gate`).

Idempotent: each head keeps its training-set link under ``calibration.fitted`` and a refit
always starts from that, so recalibrating the shipped file reproduces it byte for byte.

The refit reads :meth:`QualityModel.base_logit`, i.e. the link before a fixed per-flag
penalty: the heads fitted since the corpus-wide fit learn their flags' weights and have
``flag_logit`` 0, so that is their whole log-odds; a head carried over from an older file with
a fixed penalty keeps it, unscaled, on top of its refitted link.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mtqa.config import ScoringSettings
from mtqa.heads.quality import QualityModel, _num, sigmoid
from mtqa.train.model import fit_logistic

#: the default set to recalibrate on: WMT QE 2022 zh-en dev MQM, the newest MQM judgements in ../shared/data
CALIBRATION_SET = "wmt22dev"
#: seeded two-fold document splits for the cross-fitted ECE
REPEATS = 20
#: the ``flag_quality`` of a default job (caps of major-error flags are relative to it)
FLAG_QUALITY = ScoringSettings().flag_quality


def _fitted(cal: Mapping[str, Any]) -> dict:
    """A head's training-set link (before any recalibration)."""
    return dict(cal.get("fitted", cal))


def base_link(doc: Mapping[str, Any]) -> dict:
    """``doc`` with every head's calibration back at its training-set link (``fitted``)."""
    out = dict(doc)
    out["heads"] = {name: {**h, "calibration": _fitted(h["calibration"])} for name, h in doc["heads"].items()}
    out.pop("recalibration", None)
    return out


def calibration_rows(meta: Sequence[dict], arrays: dict, set_name: str) -> list[dict]:
    """The set's machine-translated rows with an MQM no-major label, each with the vectors the
    state heads read (a row as ``mtqa score`` hands it to the quality head)."""
    from mtqa.train.cache import vector_lookups

    lookups = vector_lookups(meta, arrays)
    rows = []
    for r in meta:
        if r["set"] != set_name or r.get("machine") != 1 or r.get("no_major") is None:
            continue
        rows.append({**r, **{name: lookups[name].get(r["key"]) for name in lookups}})
    return rows


def log_odds(model: QualityModel, rows: Sequence[dict], family: str) -> tuple[np.ndarray, list[int]]:
    """Each row's link log-odds under ``family`` (``target``: the target-only head, which reads
    no source column; ``source``: the row's own with-source head, rows with a source only) and
    the rows used."""
    out, used = [], []
    for i, r in enumerate(rows):
        head = "target" if family == "target" else model.head_for(r)
        if family == "source" and not (math.isfinite(_num(r.get("src_pmi"))) and head.startswith("source")):
            continue
        out.append(model.base_logit(r, r.get("flags", ()), head))
        used.append(i)
    return np.array(out, dtype=np.float64), used


def reported(logits: np.ndarray, flags: Sequence[Sequence[str]], alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """``quality`` as a default job reports it: the (re)calibrated link, then the major-error caps."""
    from mtqa.combine import gate

    return np.array([gate(sigmoid(alpha * z + beta), fl, FLAG_QUALITY) for z, fl in zip(logits, flags)])


def cross_fit_ece(logits: np.ndarray, no_major: np.ndarray, flags: Sequence[Sequence[str]], docs: Sequence[str],
                  repeats: int = REPEATS, seed: int = 0) -> list[float]:
    """ECE of the refitted link on unseen documents, once per seeded two-fold document split."""
    from mtqa.evaluate.calibration import ece

    docs = np.asarray(docs)
    uniq = np.unique(docs)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        half = set(rng.permutation(uniq)[: len(uniq) // 2].tolist())
        first = np.array([d in half for d in docs])
        q = np.empty(len(logits))
        for fit_on, apply_to in ((first, ~first), (~first, first)):
            alpha, beta = fit_logistic(logits[fit_on], no_major[fit_on])
            q[apply_to] = reported(logits[apply_to], [flags[i] for i in np.flatnonzero(apply_to)], alpha, beta)
        out.append(ece(q, no_major))
    return out


def fit_family(model: QualityModel, rows: Sequence[dict], family: str, repeats: int = REPEATS) -> dict | None:
    """The refit of one head family (``target`` or ``source``) on ``rows`` under ``model``'s
    training-set link, and its ECE before, in-sample and cross-fitted; None with under 50 rows."""
    from mtqa.evaluate.calibration import ece

    z, used = log_odds(model, rows, family)
    if len(used) < 50:
        return None
    sub = [rows[i] for i in used]
    y = np.array([float(r["no_major"]) for r in sub])
    flags = [r.get("flags", ()) for r in sub]
    alpha, beta = fit_logistic(z, y)
    folds = cross_fit_ece(z, y, flags, [str(r.get("doc", r["key"])) for r in sub], repeats)
    return {"n": len(used), "no_major_share": float(y.mean()), "alpha": alpha, "beta": beta,
            "ece_before": ece(reported(z, flags), y), "ece_in_sample": ece(reported(z, flags, alpha, beta), y),
            "ece_cross_fit_mean": float(np.mean(folds)), "ece_cross_fit_min": float(np.min(folds)),
            "ece_cross_fit_max": float(np.max(folds))}


def describe(family: str, fit: Mapping[str, Any], set_name: str) -> str:
    return (f"{family}: {fit['n']} rows of {set_name}, no major error in {fit['no_major_share']:.1%}; link "
            f"x{fit['alpha']:.3f} {fit['beta']:+.3f}; ECE {fit['ece_before']:.3f} -> {fit['ece_cross_fit_mean']:.3f} "
            f"on unseen documents (cross-fit, {fit['ece_cross_fit_min']:.3f}-{fit['ece_cross_fit_max']:.3f}; "
            f"in-sample {fit['ece_in_sample']:.3f})")


def recalibrate(doc: Mapping[str, Any], meta: Sequence[dict], arrays: dict, set_name: str = CALIBRATION_SET, *,
                repeats: int = REPEATS, log: Callable[[str], None] = print) -> dict:
    """``doc`` with each head family's link refitted on ``set_name``'s MQM rows of the cache,
    and a ``recalibration`` record (the refit, the ECE before, in-sample and cross-fitted)."""
    from mtqa.errors import ConfigError
    from mtqa.train.model import _round

    base = base_link(doc)
    model = QualityModel(base)
    rows = calibration_rows(meta, arrays, set_name)
    if len(rows) < 50:
        raise ConfigError(f"{set_name}: {len(rows)} rows with an MQM no-major label in the cache; at least 50 are needed")
    out = dict(base)
    out["heads"] = {name: dict(h) for name, h in base["heads"].items()}
    record: dict[str, Any] = {"set": set_name, "label": "MQM: no major error in the segment",
                              "cross_fit": f"{repeats} seeded two-fold splits by document"}
    for family in ("target", "source"):
        fit = fit_family(model, rows, family, repeats)
        if fit is None:
            continue
        record[family] = fit
        log("  " + describe(family, fit, set_name))
        for name, h in out["heads"].items():
            if name == family or (family == "source" and name.startswith("source:")):
                fitted = h["calibration"]
                h["calibration"] = {"a": fit["alpha"] * fitted["a"], "b": fit["alpha"] * fitted["b"] + fit["beta"],
                                    "target": f"MQM no-major-error, recalibrated on {set_name}",
                                    "n": fit["n"], "fitted": fitted}
    out["recalibration"] = record
    return _round(out)


def recalibrate_file(params: str, features: str, output: str, set_name: str = CALIBRATION_SET, *,
                     log: Callable[[str], None] = print) -> str:
    """Recalibrate the parameter file ``params`` on ``set_name`` of the feature cache; write ``output``."""
    import json
    from pathlib import Path

    from mtqa.train.cache import load_features
    from mtqa.train.run import write_params

    from mtqa.errors import ConfigError

    try:
        doc = json.loads(Path(params).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{params}: not a readable parameter file ({e})") from None
    if not isinstance(doc, dict) or "heads" not in doc:
        raise ConfigError(f"{params}: not an mtqa quality parameter file")
    meta, arrays = load_features(features)
    log(f"recalibrating {params} on {set_name} of {features}")
    sha = write_params(recalibrate(doc, meta, arrays, set_name, log=log), output)
    log(f"wrote {output} (sha256 {sha})")
    return sha
