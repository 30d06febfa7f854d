"""Does `quality`'s calibration carry from one MQM data set to another? (training rows only)

    python benchmarks/calibration_transfer.py FEATURES [--params mtqa/resources/quality-gemma-3-270m.json]

`quality` = sigmoid(a * pred + b) with (a, b) a logistic fit of "no major error" on the MQM
training segments. On the WMT22 zh-en dev set it is too low (ECE 0.22): "no major error" is
78% there, 53% in newstest2021 and 70% in TED. This asks, on the training data alone (the dev
sets are not read), whether a different way of fitting (a, b) would carry across data sets:
for each MQM training set T, the shipped head's features and penalty are refitted on every
other training row, (a, b) are fitted on the other MQM set C, and the ECE (10 bins) of the
result is measured on T. Two ways of fitting (a, b) on C:

* in-sample: C's predictions from the head fitted with C (what `mtqa train` does);
* held-out set: C's predictions from a head fitted without C, so the link sees the weaker
  agreement a head has on a data set it never saw (a flatter slope).

Prints, per head and per T, (a, b), the ECE, and the mean `quality` against T's rate of
segments without a major error: what the ECE is made of.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.heads.quality import _num  # noqa: E402
from mtqa.evaluate.calibration import ece  # noqa: E402
from mtqa.train.cache import load_features  # noqa: E402
from mtqa.train.model import feature_matrix, fit_logistic, fit_ridge, group_targets, predict_linear  # noqa: E402
from mtqa.train.quality import quality_rows, state_heads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features")
    ap.add_argument("--params", default=str(ROOT / "mtqa" / "resources" / "quality-gemma-3-270m.json"))
    args = ap.parse_args()
    meta, arrays = load_features(args.features)
    rows = quality_rows(meta)
    state_heads(meta, arrays, rows)  # the stacked state scores, out of fold, as `mtqa train` makes them
    params = json.loads(Path(args.params).read_text(encoding="utf-8"))
    for head in ("target", "source"):
        h = params["heads"].get(head)
        if h is None:
            continue
        lam = h.get("ridge", params["ridge"])
        sub = rows if head == "target" else [r for r in rows if math.isfinite(_num(r.get("src_pmi")))]
        X, y = feature_matrix(sub, h["features"]), group_targets(sub)
        g = np.array([r["group"] for r in sub])
        nm = np.array([float(r["no_major"]) if r.get("no_major") is not None else math.nan for r in sub])
        mqm = sorted({r["group"] for r in sub if r.get("no_major") is not None})
        print(f"{head} head (ridge {lam:g}): " + ", ".join(
            f"{s} {int((g == s).sum())} rows, no major error {np.nanmean(nm[g == s]):.3f}" for s in mqm))
        for t in mqm:
            for c in (s for s in mqm if s != t):
                without_t = fit_ridge(X[g != t], y[g != t], lam)
                pred_t = predict_linear(without_t, X[g == t])
                keep = (g != t) & (g != c)
                fits = {"in-sample": predict_linear(without_t, X[g == c]),
                        "held-out set": predict_linear(fit_ridge(X[keep], y[keep], lam), X[g == c])}
                for how, pred_c in fits.items():
                    a, b = fit_logistic(pred_c, nm[g == c])
                    q = 1.0 / (1.0 + np.exp(-(a * pred_t + b)))
                    print(f"  on {t}, link fitted on {c} ({how}): a={a:.3f} b={b:+.3f}  ECE {ece(q, nm[g == t]):.3f}  "
                          f"mean quality {q.mean():.3f} vs no-major rate {nm[g == t].mean():.3f}")


if __name__ == "__main__":
    main()
