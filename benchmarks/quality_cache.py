"""`quality` against human judgements, from the feature cache (no model pass): target-only and with source.

    python benchmarks/quality_cache.py FEATURES [--params mtqa/resources/quality-gemma-3-270m.json]

For every report set in the cache (WMT22 zh-en dev MQM, MLQE-PE dev DA; as many of their
segments as the cache holds, which the output says) it applies the shipped combiner exactly
as `mtqa score` does (columns + flags -> quality, major-error caps included) and prints
Spearman with the gold score (bootstrap 95% CI over documents), the best single column for
comparison, the same Spearman with segment length (`lm_tokens`) partialled out ("length
out": human scores follow length, longer segments hold more errors, so part of any figure is
length), and for the MQM set a reliability table of `quality` as the probability of "no
major error" (ECE, 10 bins).

With source (rows where `python -m mtqa.train.extract_source` wrote the source columns):
on the same rows, Spearman of the target-only head, of the with-source head, and of its two
source inputs alone (`src_pmi`, `xling_cosine`, `src_rev_pmi`), with CIs; the with-source head must beat
both the target-only head and its best single input.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.combine import LearnedCombiner, resource_path  # noqa: E402
from mtqa.evaluate.calibration import ece  # noqa: E402
from mtqa.train.cache import load_features, vector_lookups  # noqa: E402
from mtqa.train.quality import spearman_ci  # noqa: E402

COLUMNS = ["lm_tokens", "lm_logprob", "surprisal_mean", "surprisal_max", "surprisal_p90", "entropy_mean",
           "excess_surprisal", "slor", "word_order_score", "artefact_count"]
TOTAL = {"wmt22dev": 1019, **{f"mlqe-{lp}-dev": 1000 for lp in ("ro", "et", "ne", "si", "ru")}}


SOURCE_COLUMNS = ("src_pmi", "src_logprob", "src_len_ratio", "xling_cosine", "src_rev_pmi")


def vectors_of(rows: list[dict], lookups: dict[str, dict], source: bool = True) -> dict[str, list]:
    """The vectors the combiner reads, as the scorer hands them over: the base pass's pooled
    states, and (``source``) the source pass's pooled conditioned states and the xling
    signal's pair vector."""
    names = ("lm_pooled", "src_pooled", "xling_pair") if source else ("lm_pooled",)
    return {n: [lookups[n].get(r["key"]) for r in rows] for n in names}


def target_only(comb: LearnedCombiner, rows: list[dict], lookups: dict[str, dict]) -> tuple[np.ndarray, dict]:
    """``quality`` of ``rows`` as the target-only head gives it (the source columns blanked, as
    on an article without a source), and the columns it read."""
    cols = {c: [r.get(c) if r.get(c) is not None else math.nan for r in rows] for c in COLUMNS}
    for c in ("src_pmi", "src_logprob", "src_len_ratio"):
        cols[c] = [math.nan] * len(rows)
    q = comb.combine(cols, [list(r["flags"]) for r in rows], vectors_of(rows, lookups, False)).quality
    return np.array(q), cols


def with_source(comb: LearnedCombiner, rows: list[dict], lookups: dict[str, dict]) -> None:
    """Target-only vs with-source quality, and the source inputs alone, on the rows with source columns."""
    rows = [r for r in rows if r.get("src_pmi") is not None and math.isfinite(r["src_pmi"])]
    refit = " (in-sample)" if (comb.model.doc.get("recalibration") or {}).get("set") in {r["set"] for r in rows} else ""
    if len(rows) < 30 or "source" not in comb.model.heads:
        return
    cols = {c: [r.get(c) if r.get(c) is not None else math.nan for r in rows] for c in COLUMNS + list(SOURCE_COLUMNS)}
    cols["src_lang"] = [r.get("src_lang") for r in rows]  # picks a per-language head where one was trained
    flags = [list(r["flags"]) for r in rows]
    gold = np.array([r["gold"] for r in rows])
    docs = np.array([r["doc"] for r in rows])
    length = np.array(cols["lm_tokens"], float)
    target = {**cols, **{c: [math.nan] * len(rows) for c in SOURCE_COLUMNS}}
    for label, x in (("target-only", comb.combine(target, flags, vectors_of(rows, lookups, False)).quality),
                     ("with source", comb.combine(cols, flags, vectors_of(rows, lookups)).quality),
                     ("src_pmi alone", cols["src_pmi"]), ("xling_cosine alone", cols["xling_cosine"]),
                     ("src_rev_pmi alone", cols["src_rev_pmi"])):
        if not np.isfinite(np.array(x, float)).any():  # a cache from before the reverse direction
            continue
        rho, lo, hi = spearman_ci(np.array(x, float), gold, docs)
        prho, plo, phi = spearman_ci(np.array(x, float), gold, docs, control=length)
        nm = np.array([r.get("no_major") if r.get("no_major") is not None else np.nan for r in rows], float)
        cal = f"   ECE as P(no major error) {ece(np.array(x, float), nm):.3f}{refit}" \
            if label in ("target-only", "with source") and np.isfinite(nm).all() else ""
        print(f"    {label:20s} n={len(rows):5d} {rho:7.3f} [{lo:.3f}, {hi:.3f}]   length out {prho:6.3f} "
              f"[{plo:.3f}, {phi:.3f}]{cal}")


def cross_fitted(comb: LearnedCombiner, meta: list[dict], arrays: dict, name: str) -> None:
    """For a file recalibrated on ``name``: the refit from its training-set link again, with the
    ECE it gives on documents its link was not fitted on (mtqa.train.recalibrate)."""
    from mtqa.heads.quality import QualityModel
    from mtqa.train.recalibrate import base_link, calibration_rows, describe, fit_family

    model = QualityModel(base_link(comb.model.doc))
    rows = calibration_rows(meta, arrays, name)
    for family in ("target", "source"):
        fit = fit_family(model, rows, family)
        if fit is not None:
            print("    refit " + describe(family, fit, name))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("features")
    p.add_argument("--params", default=None)
    a = p.parse_args(argv)
    comb = LearnedCombiner.from_file(a.params or resource_path("gemma-3-270m"), 0.5)
    meta, arrays = load_features(a.features)
    lookups = vector_lookups(meta, arrays)
    print(f"combiner: {comb.signature()}")
    print(f"{'set':14s} {'n (of)':>12s} {'Spearman quality [95% CI]':>30s}   best single column")
    for name in TOTAL:
        rows = [r for r in meta if r["set"] == name and r.get("gold") is not None]
        if len(rows) < 30:
            continue
        q, cols = target_only(comb, rows, lookups)
        gold = np.array([r["gold"] for r in rows])
        # WMT22: resample whole documents (segments of one document share errors); MLQE-PE rows
        # are single sentences
        docs = np.array([r["doc"] for r in rows])
        rho, lo, hi = spearman_ci(q, gold, docs)
        length = np.array(cols["lm_tokens"], float)
        prho, plo, phi = spearman_ci(q, gold, docs, control=length)
        p_len = spearman_ci(-length, gold, docs)
        from scipy.stats import spearmanr

        best = max((abs(float(spearmanr(np.nan_to_num(np.array(cols[c], float)), gold).statistic)), c) for c in COLUMNS)
        print(f"{name:14s} {len(rows):5d} ({TOTAL[name]:5d}) {rho:10.3f} [{lo:.3f}, {hi:.3f}]   |rho| {best[0]:.3f} ({best[1]})")
        print(f"    length out: quality {prho:.3f} [{plo:.3f}, {phi:.3f}]; shortness (-lm_tokens) alone "
              f"{p_len[0]:.3f} [{p_len[1]:.3f}, {p_len[2]:.3f}]")
        with_source(comb, rows, lookups)
        if name == "wmt22dev":
            nm = np.array([r.get("no_major") for r in rows], float)
            refit = (comb.model.doc.get("recalibration") or {}).get("set") == name
            print(f"  reliability of quality as P(no major error): ECE {ece(q, nm):.3f}"
                  + (" (in-sample: this file's link was refitted on these rows)" if refit else ""))
            if refit:
                cross_fitted(comb, meta, arrays, name)
            low = q < comb.flag_quality
            print(f"  low_quality (quality < {comb.flag_quality:g}): {low.mean():.1%} of segments; of those, with a "
                  f"major error {1 - nm[low].mean() if low.any() else float('nan'):.2f} (base rate {1 - nm.mean():.2f})")
            for lo_b in np.arange(0, 1, 0.2):
                m = (q >= lo_b) & (q < lo_b + 0.2)
                if m.any():
                    print(f"    quality [{lo_b:.1f}, {lo_b + 0.2:.1f}): n={int(m.sum()):4d}  mean quality {q[m].mean():.2f}  "
                          f"observed no-major share {nm[m].mean():.2f}")
    human_rows(comb, meta, lookups)
    return 0


def human_rows(comb: LearnedCombiner, meta: list[dict], lookups: dict[str, dict]) -> None:
    """How often ``low_quality`` fires on the human-written rows of the cache (target-only, as
    on an article without a source): genuine English news and newstest2021's human references."""
    for name, label in (("news-en", "genuine English news (news-en)"), ("news21", "newstest2021 human references")):
        rows = [r for r in meta if r["set"] == name and r.get("machine") == 0]
        if not rows:
            continue
        q, _ = target_only(comb, rows, lookups)
        print(f"low_quality on {label}: {(q < comb.flag_quality).mean():.1%} of {len(rows)} rows "
              f"(mean quality {q.mean():.2f})")


if __name__ == "__main__":
    sys.exit(main())
