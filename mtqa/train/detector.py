"""Fitting and evaluating the MT detector (:mod:`mtqa.heads.detector`) from the feature cache.

Data (``mtqa.train.corpus``): human vs machine translations of the same sources
(newstest2021 ``ref.A/ref.B`` vs ``hyp.*``; TED ``ref/refB`` vs MT), native English
Wikipedia (``fluent``) vs MT of Wikipedia (MLQE-PE), native English news (``news-en``) and
the seed. Sources are mixed on purpose: a detector fitted on one domain's pairs learns what
does not transfer (see the README), so every domain gets the same total weight, and within
it both classes do.

Honest evaluation (``evaluate_cv``): five folds by *document* (newstest2021 stories, TED
talks, news-en articles; Wikipedia rows by row), and four MT systems (``HELD_OUT_SYSTEMS``)
never seen in training: a fold's test rows are its documents' human translations and the
held-out systems' translations of them, its training rows the other documents' human
translations and the other systems' translations. The seed is never trained on. Inside
each training fold a second, inner split gives out-of-fold sentence logits on which the
sentence calibration and the article aggregation are fitted, so nothing is tuned on the
rows reported.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from mtqa.heads.detector import FORMAT, FORMAT_VERSION, SCALAR_FEATURES, scalar_features
from mtqa.train.corpus import HELD_OUT_SYSTEMS  # noqa: F401 - the benchmark's systems never trained on

#: data sets whose items form real articles (documents), for the article aggregation
DOC_SETS = ("news21", "ted", "news-en", "seed")


def domain(set_name: str) -> str:
    if set_name.startswith("mlqe") or set_name == "fluent":
        return "wiki"
    return set_name


def system_name(system: str) -> str:
    return system[4:] if system.startswith("hyp.") else system


def fold_of(key: str, k: int = 5) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % k


def doc_key(row: dict) -> str:
    """What must never be split between training and test: the source document (a TED talk's
    parts stay together; a Wikipedia row is its own document)."""
    return f"{row['set']}|{row['doc'].split('#')[0]}"


@dataclass
class Table:
    meta: list[dict]
    scalars: np.ndarray  # [n, len(SCALAR_FEATURES)]
    pooled: np.ndarray  # [n, hidden]
    y: np.ndarray  # 1 machine, 0 human
    english: np.ndarray  # bool: the sentence counts as English evidence

    def subset(self, idx) -> "Table":
        idx = np.asarray(idx)
        return Table([self.meta[i] for i in idx], self.scalars[idx], self.pooled[idx], self.y[idx], self.english[idx])


def build_table(meta: list[dict], arrays: dict, keep: Callable[[dict], bool] | None = None) -> Table:
    idx = [i for i, r in enumerate(meta) if r.get("machine") is not None and (keep is None or keep(r))]
    rows = [meta[i] for i in idx]
    sc = np.array([scalar_features(r, arrays["tok_logprob"][i], arrays["tok_entropy"][i]) for i, r in zip(idx, rows)],
                  dtype=np.float64).reshape(len(idx), len(SCALAR_FEATURES))
    english = np.array([("not_english" not in (r.get("flags") or ())) and r.get("lm_tokens", 0) > 0 for r in rows])
    return Table(rows, sc, arrays["pooled"][idx].astype(np.float32), np.array([r["machine"] for r in rows], float),
                 english)


def balanced_weights(t: Table) -> np.ndarray:
    """Every (domain, class) cell the same total weight."""
    cells = [(domain(r["set"]), int(r["machine"])) for r in t.meta]
    counts: dict = {}
    for c in cells:
        counts[c] = counts.get(c, 0) + 1
    w = np.array([1.0 / counts[c] for c in cells])
    return w * len(w) / w.sum()


# ---- fitting ----------------------------------------------------------------------------------
def logistic_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, iters: int = 50) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton's method (intercept unpenalised)."""
    n, d = X.shape
    Xa = np.hstack([X, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    pen = np.full(d + 1, l2)
    pen[-1] = 0.0
    for _ in range(iters):
        z = Xa @ beta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
        g = Xa.T @ (w * (p - y)) + pen * beta
        h = (Xa * (w * p * (1 - p))[:, None]).T @ Xa + np.diag(pen + 1e-9)
        step = np.linalg.solve(h, g)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta[:-1], float(beta[-1])


def fit_sentence_model(t: Table, w: np.ndarray, *, k_pca: int = 64, l2: float = 10.0, use_pooled: bool = True) -> dict:
    sc = t.scalars
    mean = np.nanmean(sc, axis=0)
    std = np.nanstd(sc, axis=0)
    std[~np.isfinite(std) | (std < 1e-9)] = 1.0
    mean = np.nan_to_num(mean)
    doc: dict = {"scalar": {"names": list(SCALAR_FEATURES), "mean": mean.tolist(), "std": std.tolist()}}
    if use_pooled and k_pca > 0:
        pm = t.pooled.mean(0)
        ps = t.pooled.std(0)
        ps[ps < 1e-6] = 1.0
        zp = (t.pooled - pm) / ps
        # principal directions of the (weighted) training states
        _, _, vt = np.linalg.svd(zp * np.sqrt(w)[:, None] - (zp * np.sqrt(w)[:, None]).mean(0), full_matrices=False)
        comps = vt[:k_pca]
        # scale each component to unit variance so one L2 penalty fits all
        proj = zp @ comps.T
        comps = comps / np.maximum(proj.std(0), 1e-6)[:, None]
        doc["pooled"] = {"mean": pm.tolist(), "std": ps.tolist(), "components": comps.astype(np.float32).tolist()}
    doc.update({"format": FORMAT, "format_version": FORMAT_VERSION, "coef": [], "intercept": 0.0,
                "calibration": {"a": 1.0, "b": 0.0}, "article": {"a": 0.0, "b": 1.0, "g": 0.5, "c": 0.0}})
    from mtqa.heads.detector import MTDetector

    det = MTDetector(json.dumps(doc).encode(), "fitting")
    X = det.design(t.scalars, t.pooled)
    coef, b0 = logistic_fit(X, t.y, w, l2)
    doc["coef"], doc["intercept"] = coef.tolist(), b0
    return doc


def detector_of(doc: dict):
    from mtqa.heads.detector import MTDetector

    return MTDetector(json.dumps(doc).encode(), "fitting")


def fit_calibration(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    coef, b = logistic_fit(raw[:, None], y, w, 0.0)
    return float(coef[0]), float(b)


def article_groups(t: Table, logits: np.ndarray, cuts: Sequence[int | None] = (None,)) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Articles (set, system, doc) of a table's document sets, optionally cut to their first
    ``n`` sentences: (per-article English sentence logits, labels, keys)."""
    by: dict[str, list[int]] = {}
    for i, r in enumerate(t.meta):
        if r["set"] in DOC_SETS and t.english[i]:
            by.setdefault(f"{r['set']}|{r['system']}|{r['doc']}", []).append(i)
    groups, ys, keys = [], [], []
    for key, idx in by.items():
        idx = sorted(idx, key=lambda i: t.meta[i]["seg"])
        for cut in cuts:
            if cut is not None and len(idx) < cut:
                continue
            sel = idx if cut is None else idx[:cut]
            groups.append(logits[sel])
            ys.append(t.y[sel[0]])
            keys.append(f"{key}|{cut or 'all'}")
    return groups, np.array(ys), keys


def fit_aggregator(groups: list[np.ndarray], y: np.ndarray, w: np.ndarray | None = None) -> dict:
    """(a, b, g, c) of ``a + b * n**g * mean(x - c)`` by weighted maximum likelihood, b > 0, 0 <= g <= 1."""
    from scipy.optimize import minimize

    w = np.ones(len(y)) if w is None else w
    n = np.array([len(x) for x in groups], float)
    m = np.array([x.mean() for x in groups])

    def nll(p):
        a, logb, gr, c = p
        logb, gr = float(np.clip(logb, -20, 5)), float(np.clip(gr, -30, 30))
        b, g = math.exp(logb), 1 / (1 + math.exp(-gr))
        z = a + b * n ** g * (m - c)
        # small priors keep the fit finite on separable folds: b near 1, a and c near 0
        return float((w * (np.logaddexp(0, z) - y * z)).sum() / w.sum()) + 1e-3 * (a * a + c * c + logb * logb)

    best = None
    for g0 in (-2.0, 0.0, 2.0):
        r = minimize(nll, np.array([0.0, 0.0, g0, 0.0]), method="Nelder-Mead",
                     options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-9})
        if best is None or r.fun < best.fun:
            best = r
    a, logb, gr, c = best.x
    logb, gr = float(np.clip(logb, -20, 5)), float(np.clip(gr, -30, 30))
    return {"a": float(a), "b": float(math.exp(logb)), "g": float(1 / (1 + math.exp(-gr))), "c": float(c)}


def group_weights(ys: np.ndarray, keys: list[str]) -> np.ndarray:
    """Each (set, class) of articles the same total weight."""
    cells = [(k.split("|")[0], int(y)) for k, y in zip(keys, ys)]
    counts: dict = {}
    for c in cells:
        counts[c] = counts.get(c, 0) + 1
    return np.array([1.0 / counts[c] for c in cells]) * len(cells) / len(counts)


CUTS = (1, 3, 10, None)


def fit_detector(t: Table, *, k_pca: int = 64, l2: float = 10.0, inner_folds: int = 3, use_pooled: bool = True,
                 log: Callable[[str], None] = lambda m: None) -> dict:
    """The whole detector from a training table: sentence model, calibration, aggregation."""
    w = balanced_weights(t)
    # out-of-fold raw logits inside the training data (by document)
    inner = np.array([fold_of("inner|" + doc_key(r), inner_folds) for r in t.meta])
    oof = np.zeros(len(t.y))
    for f in range(inner_folds):
        tr, te = np.where(inner != f)[0], np.where(inner == f)[0]
        d = fit_sentence_model(t.subset(tr), w[tr], k_pca=k_pca, l2=l2, use_pooled=use_pooled)
        det = detector_of(d)
        oof[te] = det.design(t.scalars[te], t.pooled[te]) @ det.coef + det.intercept
    cal_a, cal_b = fit_calibration(oof, t.y, w)
    cal = cal_a * oof + cal_b
    groups, ys, keys = article_groups(t, cal, CUTS)
    agg = fit_aggregator(groups, ys, group_weights(ys, keys)) if len(set(ys.tolist())) == 2 else \
        {"a": 0.0, "b": 1.0, "g": 0.5, "c": 0.0}
    doc = fit_sentence_model(t, w, k_pca=k_pca, l2=l2, use_pooled=use_pooled)
    doc["calibration"] = {"a": cal_a, "b": cal_b}
    doc["article"] = agg
    doc["min_english_share"] = 0.5
    log(f"  calibration a={cal_a:.3f} b={cal_b:.3f}; article a={agg['a']:.3f} b={agg['b']:.3f} "
        f"g={agg['g']:.3f} c={agg['c']:.3f}")
    return doc


# ---- metrics ----------------------------------------------------------------------------------
def auroc(scores: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    if y.all() or (~y).all():
        return math.nan
    r = rankdata(scores)
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ece(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error with equal-width bins."""
    prob, y = np.asarray(prob), np.asarray(y)
    e = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        m = (prob >= lo) & (prob < lo + 1 / bins) if lo + 1 / bins < 1 else (prob >= lo)
        if m.any():
            e += m.mean() * abs(prob[m].mean() - y[m].mean())
    return float(e)


def bootstrap_ci(fn: Callable[[np.ndarray], float], clusters: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of ``fn(index array)`` resampling whole clusters (documents)."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(clusters)
    members = {c: np.where(clusters == c)[0] for c in uniq}
    vals = []
    for _ in range(n):
        pick = rng.choice(uniq, size=len(uniq), replace=True)
        idx = np.concatenate([members[c] for c in pick])
        v = fn(idx)
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return math.nan, math.nan
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def _rounded(x, digits: int = 6):
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, list):
        return [_rounded(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: _rounded(v, digits) for k, v in x.items()}
    return x


def train_detector(features: str, output: str, *, k_pca: int = 64, l2: float = 10.0, model: str = "gemma-3-270m",
                   log: Callable[[str], None] = print) -> str:
    """Fit the shipped detector on every labelled row of the feature cache except the seed
    (kept as a test article) and write its parameter file; return the file's sha256.

    Deterministic: the same cache gives a byte-identical file (sorted keys, rounded numbers).
    """
    from mtqa.train.extract import load_features
    from mtqa.train.run import write_params

    meta, arrays = load_features(features)
    t = build_table(meta, arrays, keep=lambda r: r["set"] != "seed" and not r["set"].endswith("-dev")
                    and r["set"] != "wmt22dev")
    counts: dict = {}
    for r in t.meta:
        counts[(domain(r["set"]), r["machine"])] = counts.get((domain(r["set"]), r["machine"]), 0) + 1
    log(f"detector: {len(t.y)} sentences; (domain, machine) counts {dict(sorted(counts.items()))}")
    doc = fit_detector(t, k_pca=k_pca, l2=l2, log=log)
    doc["model"] = model
    doc["trained_on"] = {f"{d}/{'machine' if m else 'human'}": n for (d, m), n in sorted(counts.items())}
    doc["settings"] = {"k_pca": k_pca, "l2": l2, "held_out_systems_in_benchmark": list(HELD_OUT_SYSTEMS)}
    sha = write_params(_rounded(doc), output)
    log(f"wrote {output} (sha256 {sha})")
    return sha
