"""How the target-only quality head transfers to a training set it never saw (leave one set out).

    python benchmarks/quality_transfer.py FEATURES [--mixes unweighted balanced mqm-only]

The shipped heads are chosen by cross-validation *within* the training sets (folds by source
document), which rewards what a set's own documents share. Real use brings systems, domains
and language pairs no set holds (the brief: "domain-matched pairs teach what does not
transfer, so mix sources and test transfer across them"). For each training set of the cache
(newstest2021 and TED MQM, each MLQE-PE pair's DA), this fits the target-only head exactly as
``mtqa train --quality`` does (the ``lm_state_score`` state head with its out-of-fold scores,
the ridge chosen by grouped cross-validation, learned flag weights) on the *other* sets and
prints its Spearman on the held-out one, for each training mix:

* ``unweighted``: every row counts once (what ships, :data:`mtqa.train.quality.BALANCE_SETS`);
* ``balanced``: every training set the same total weight;
* ``mqm-only``: only the MQM sets (newstest2021, TED) — what ``quality`` promises is MQM's
  "no major error", so is DA a help or a distraction for it?

Training rows only: no report set is read, so the figures can choose a mix without tuning on
the rows the README reports.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.heads.quality import QualityModel  # noqa: E402
from mtqa.train import quality as Q  # noqa: E402
from mtqa.train.cache import load_features, vector_lookups  # noqa: E402
from mtqa.train.model import EXTRA_FEATURES, TARGET_FEATURES, fit_model  # noqa: E402

MQM_SETS = ("news21", "ted")


def target_rows(meta: list[dict], pooled: dict) -> list[dict]:
    """Judged training rows with their base-pass states, the source columns dropped (the
    target-only head is what is measured; no with-source state head is fitted)."""
    out = []
    for r in Q.quality_rows(meta):
        if r["key"] in pooled:
            out.append({k: v for k, v in r.items() if not k.startswith("src_") and k != "xling_cosine"})
    return out


def fit_target(meta: list[dict], arrays: dict, train: list[dict], balanced: bool) -> QualityModel:
    """The target-only head as ``mtqa train --quality`` fits it, on ``train``."""
    train = [dict(r) for r in train]
    states = Q.state_heads(meta, arrays, train, balance=balanced)
    extra = EXTRA_FEATURES + [n for n in ("lm_state_score",) if n in states]
    ridge = Q.choose_ridge(train, TARGET_FEATURES + extra, balance=balanced)
    doc = fit_model(train, ridge=ridge, flag_logit=0.0, extra_features=extra, balance=balanced)
    doc["states"] = states
    return QualityModel(doc)


def held_out(model: QualityModel, rows: list[dict], pooled: dict) -> float:
    from scipy.stats import spearmanr

    pred = [model.predict_z({**r, "lm_pooled": pooled[r["key"]]}, "target") for r in rows]
    return float(spearmanr(pred, [r["gold"] for r in rows]).statistic)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("features")
    p.add_argument("--mixes", nargs="+", default=["unweighted", "balanced", "mqm-only"],
                   choices=["unweighted", "balanced", "mqm-only"])
    a = p.parse_args(argv)
    meta, arrays = load_features(a.features)
    pooled = vector_lookups(meta, arrays)["lm_pooled"]
    rows = target_rows(meta, pooled)
    sets = sorted({r["set"] for r in rows})
    print("training rows: " + ", ".join(f"{s} {sum(r['set'] == s for r in rows):,}" for s in sets))
    print(f"{'mix':12s} " + " ".join(f"{s:>14s}" for s in sets) + "   mean (MQM sets, DA sets)")
    for mix in a.mixes:
        rhos = []
        for s in sets:
            train = [r for r in rows if r["set"] != s and (mix != "mqm-only" or r["set"] in MQM_SETS)]
            model = fit_target(meta, arrays, train, balanced=mix == "balanced")
            rhos.append(held_out(model, [r for r in rows if r["set"] == s], pooled))
            print(f"  {mix}: held out {s}: {rhos[-1]:.3f}", file=sys.stderr, flush=True)
        mqm = [x for s, x in zip(sets, rhos) if s in MQM_SETS]
        da = [x for s, x in zip(sets, rhos) if s not in MQM_SETS]
        mean = lambda v: float(np.mean(v)) if v else math.nan  # noqa: E731
        print(f"{mix:12s} " + " ".join(f"{x:14.3f}" for x in rhos)
              + f"   {mean(rhos):.3f} ({mean(mqm):.3f}, {mean(da):.3f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
