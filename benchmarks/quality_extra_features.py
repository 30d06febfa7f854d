"""Do the MT detector's extra features add to the target-only quality head?

    python benchmarks/quality_extra_features.py FEATURES

The detector (:mod:`mtqa.heads.detector`) reads a few scalar features of the base pass that
the quality head does not (surprisal and entropy spread, the shares of very predictable and
very surprising tokens, characters per token, punctuation and digit rates), and its own LM
log-odds of "machine-made" summarise the pooled states differently from ``lm_state_score``.
This fits the target-only head's ridge on the training rows with and without them and prints
the out-of-fold Spearman per training set (5 folds by source document, as ``mtqa train``
chooses; ``lm_state_score`` out of fold as ``mtqa train`` makes it). Training rows only: no
report set is read. (The detector was fitted on these rows' *machine-or-human* labels, never
on their quality judgements.)

Session 18, all 50,204 training rows, ridge 1,000: the mean over the sets 0.4125 as shipped, 0.4137 with
the scalars, 0.4129 with the log-odds, 0.4141 with both (TED 0.269 -> 0.263): not adopted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.heads import build_detector  # noqa: E402
from mtqa.heads.detector import SCALAR_FEATURES, scalar_features  # noqa: E402
from mtqa.heads.quality import feature_matrix, predict_linear  # noqa: E402
from mtqa.train import quality as Q  # noqa: E402
from mtqa.train.cache import load_features  # noqa: E402
from mtqa.train.model import EXTRA_FEATURES, TARGET_FEATURES, fit_ridge, group_targets  # noqa: E402

#: detector scalars the quality head does not read
NEW = ["surprisal_std", "share_predictable", "share_surprising", "entropy_std", "chars_per_token", "comma_rate",
       "digit_share"]


def main() -> None:
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features")
    args = ap.parse_args()
    meta, arrays = load_features(args.features, xling_pairs=False)
    index = {r["key"]: i for i, r in enumerate(meta)}
    rows = [{k: v for k, v in r.items() if not k.startswith("src_") and k != "xling_cosine"}
            for r in Q.quality_rows(meta)]
    print(f"{len(rows)} judged training rows")
    idx = np.array([index[r["key"]] for r in rows])
    scalars = np.array([scalar_features(meta[i], arrays["tok_logprob"][i], arrays["tok_entropy"][i]) for i in idx])
    pooled = arrays["pooled"][idx]
    logits = build_detector("gemma-3-270m").lm_logits(scalars, pooled)
    for r, v, lg in zip(rows, scalars, logits):
        named = dict(zip(SCALAR_FEATURES, v))
        r.update({n: float(named[n]) for n in NEW}, det_logit=float(lg))
    _, oof = Q.fit_state(rows, pooled.astype(np.float64), log=print)
    for r, v in zip(rows, oof):
        r["lm_state_score"] = float(v)
    y = group_targets(rows)
    fold = np.array([Q._doc_fold(r, 5) for r in rows])
    groups = {g: np.array([i for i, r in enumerate(rows) if r["group"] == g]) for g in sorted({r["group"] for r in rows})}
    base = TARGET_FEATURES + EXTRA_FEATURES + ["lm_state_score"]
    for label, names in (("as shipped", base), ("+ detector scalars", base + NEW), ("+ detector log-odds", base + ["det_logit"]),
                         ("+ both", base + NEW + ["det_logit"])):
        X = feature_matrix(rows, names)
        for lam in Q.RIDGES:
            pred = np.zeros(len(rows))
            for f in range(5):
                tr, te = fold != f, fold == f
                pred[te] = predict_linear(fit_ridge(X[tr], y[tr], lam, None), X[te])
            per = {g: float(spearmanr(pred[i], y[i]).statistic) for g, i in groups.items()}
            print(f"{label:20s} ridge {lam:6g}: mean {np.mean(list(per.values())):.4f}  "
                  + " ".join(f"{g} {v:.3f}" for g, v in per.items()), flush=True)


if __name__ == "__main__":
    main()
