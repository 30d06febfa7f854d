"""MT detection benchmark: held-out documents from held-out MT systems, sentence and document level.

    python -m mtqa.train.extract ../shared/data -o FEATURES      # once (resumable; hours on 2 cores)
    python benchmarks/mt_detection.py FEATURES [--k-pca K --l2 L]   # default: chosen inside each training fold

Prints, out of fold (five folds by source document; the MT systems in
``mtqa.train.detector.HELD_OUT_SYSTEMS`` never trained on):

* sentence AUROC overall, per data set and per held-out system, with document-bootstrap 95% CIs,
  also on the punctuation-neutral sentences (no quotes, dashes, ellipses, special spaces:
  unchanged by punctuation normalisation, so no corpus typography to lean on);
* document AUROC for articles cut to their first 1, 3, 10 sentences and whole;
* expected calibration error (10 bins) of sentence and article probabilities, and for sentences
  also with equal priors ("ECE eq.": both classes the same weight, and within a class every
  domain): the detector's probabilities assume equal priors (it is trained so), while the
  held-out rows are mostly MT; and "ECE at rate": the log-odds shifted by logit(the subset's share
  of MT), which ``--mt-prior`` does for a job that knows its base rate;
* with ``--train-fraction F``: the same folds and test rows, every model trained on a seeded
  share F of the training documents (a learning curve: does more data help?);
* transfer: trained without a domain, tested on it (newstest2021, TED, Wikipedia);
* the scalar-features-only model (no pooled states) for comparison;
* the seed article's and the genuine news articles' probabilities;
* with ``--cost [TEXT ...]``: the detector's time relative to the base LM pass, as the
  scorer times its steps on the same chunk (loads the model; default texts ``data/*.txt``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.train.detector import (CUTS, HELD_OUT_SYSTEMS, Table, article_groups, auroc, bootstrap_ci,  # noqa: E402
                                 build_table, detector_of, doc_key, domain, fit_detector, fold_of,
                                 system_name)
from mtqa.evaluate.calibration import ece  # noqa: E402
from mtqa.train.cache import load_features  # noqa: E402


def is_test_system(r: dict) -> bool:
    return r["machine"] == 0 or system_name(r["system"]) in HELD_OUT_SYSTEMS or r["set"] in ("mlqe", "seed") \
        or r["set"].startswith("mlqe")


def is_train_system(r: dict) -> bool:
    return r["set"] != "seed" and (r["machine"] == 0 or system_name(r["system"]) not in HELD_OUT_SYSTEMS)


def cross_validate(t: Table, folds: int, *, k_pca: int | None, l2: float | None, use_pooled: bool = True,
                   train_filter=None, census=None, log=print) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold calibrated sentence logits of the LM part (NaN where a row is never a test
    row), the fold whose model scored each row (the seed is scored by every fold; the last
    one's scores are kept), the article parameters of each fold, and each row's flag evidence
    under that fold's flag weights."""
    fold = np.array([fold_of(doc_key(r), folds) for r in t.meta])
    out = np.full(len(t.y), np.nan)
    fe = np.zeros(len(t.y))
    owner = np.full(len(t.y), -1)
    aggs = []
    for f in range(folds):
        tr = np.array([i for i in range(len(t.y)) if fold[i] != f and is_train_system(t.meta[i])
                       and (train_filter is None or train_filter(t.meta[i]))])
        te = np.array([i for i in range(len(t.y)) if (fold[i] == f or t.meta[i]["set"] == "seed")
                       and is_test_system(t.meta[i])])
        t0 = time.perf_counter()
        fold_census = None if census is None else [
            r for r in census if fold_of(doc_key(r), folds) != f and is_train_system(r)
            and (train_filter is None or train_filter(r))]
        doc = fit_detector(t.subset(tr), k_pca=k_pca, l2=l2, use_pooled=use_pooled, census=fold_census)
        det = detector_of(doc)
        out[te] = det.lm_logits(t.scalars[te], t.pooled[te])
        fe[te] = det.flag_evidence([t.meta[i].get("flags") or [] for i in te], len(te))
        owner[te] = f
        aggs.append(doc["article"])
        sel = doc.get("selected", {})
        log(f"  fold {f}: train {len(tr)} test {len(te)}; k_pca={sel.get('k_pca')} l2={sel.get('l2')} "
            f"({time.perf_counter() - t0:.1f}s)")
    return out, owner, aggs, fe


# Typography a corpus may carry as a house style rather than as a mark of MT: curly vs
# straight quotes and apostrophes, dash kinds, the ellipsis character, no-break spaces, a
# space before punctuation. A sentence with none of them reads the same after punctuation
# normalisation, so on those sentences the detector cannot be using the style of one corpus.
_TYPOGRAPHY = re.compile(r"[\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u00ab\u00bb\"'`\u2013\u2014\u2012\u2015\u2026\u00a0\u202f]"
                         r"| [,.;:!?)]|\( ")


def punctuation_neutral(text: str) -> bool:
    """True when punctuation normalisation would leave ``text`` unchanged (no quotes, dashes,
    ellipses, special spaces, or spaces before punctuation)."""
    return not _TYPOGRAPHY.search(text)


def equal_prior_weights(meta: list[dict]) -> np.ndarray:
    """Row weights under which the two classes weigh the same and, within a class, every domain
    the same (the priors the detector is trained for); the seed weighs nothing (16 rows of one
    article would otherwise be a cell of their own)."""
    cells = [(domain(r["set"]), int(r["machine"])) if r["set"] != "seed" else None for r in meta]
    size: dict = {}
    for c in cells:
        if c is not None:
            size[c] = size.get(c, 0) + 1
    per_class = {y: sum(1 for (_, cy) in size if cy == y) for y in (0, 1)}
    return np.array([0.0 if c is None else 1.0 / (size[c] * per_class[c[1]]) for c in cells])


def sentence_report(t: Table, logits: np.ndarray, title: str) -> None:
    m = np.isfinite(logits) & t.english
    clusters = np.array([doc_key(r) for r in t.meta])
    print(f"\n## {title}: sentence level (out of fold, English sentences)")
    print(f"{'subset':34s} {'n':>6s} {'human':>6s} {'AUROC':>7s}  95% CI (docs)   ECE   ECE eq.  ECE at rate")

    def line(name, sel):
        idx = np.where(sel & m)[0]
        if len(set(t.y[idx].tolist())) < 2:
            return
        a = auroc(logits[idx], t.y[idx])
        lo, hi = bootstrap_ci(lambda j: auroc(logits[idx][j], t.y[idx][j]), clusters[idx], n=300)
        e = ece(1 / (1 + np.exp(-logits[idx])), t.y[idx])
        eq = ece(1 / (1 + np.exp(-logits[idx])), t.y[idx], weights=equal_prior_weights([t.meta[i] for i in idx]))
        # what --mt-prior does for a user who knows the subset's share of MT: shift the log-odds by logit(rate)
        rate = float(t.y[idx].mean())
        at_rate = ece(1 / (1 + np.exp(-(logits[idx] + np.log(rate / (1 - rate))))), t.y[idx])
        print(f"{name:34s} {len(idx):6d} {int((t.y[idx] == 0).sum()):6d} {a:7.3f}  [{lo:.3f}, {hi:.3f}]  {e:.3f}  {eq:.3f}"
              f"  {at_rate:.3f}")

    sets = np.array([r["set"] for r in t.meta])
    doms = np.array([domain(r["set"]) for r in t.meta])
    neutral = np.array([punctuation_neutral(r["text"]) for r in t.meta])
    line("all held-out rows", np.ones(len(t.y), bool))
    line("  punctuation-neutral sentences", neutral)
    line("news21 + TED (same-source pairs)", np.isin(sets, ["news21", "ted"]))
    line("  punctuation-neutral sentences", neutral & np.isin(sets, ["news21", "ted"]))
    for d in ("news21", "ted", "wiki"):
        line(f"  {d}", doms == d)
    line("  news-en (human) + news21 MT", (sets == "news-en") | ((sets == "news21") & (t.y == 1)))
    systems = np.array([system_name(r["system"]) for r in t.meta])
    for s in HELD_OUT_SYSTEMS:
        line(f"  held-out system {s} vs refs", np.isin(sets, ["news21", "ted"]) & ((systems == s) | (t.y == 0)))


def article_report(t: Table, logits: np.ndarray, flag_ev: np.ndarray, aggs: list[dict], owner: np.ndarray,
                   title: str) -> None:
    """Articles scored as mtqa scores them: each with the aggregation of the fold that scored it
    (``owner``), from the LM part of its sentences' log-odds plus their summed flag evidence."""
    from mtqa.heads.detector import article_logit_vec

    print(f"\n## {title}: document level (articles = set x system x document; held-out systems vs human)")
    print(f"{'cut':>6s} {'n docs':>7s} {'MT':>5s} {'AUROC':>7s}  95% CI   ECE   mean p(MT) human / MT")
    m = np.isfinite(logits)
    sub = t.subset(np.where(m)[0])
    lg, fe, own = logits[m], flag_ev[m], owner[m]
    first = {}
    for i, r in enumerate(sub.meta):
        first.setdefault(f"{r['set']}|{r['system']}|{r['doc']}", i)

    def scored(cut, rows=None):
        tab, l_, f_ = (sub, lg, fe) if rows is None else (sub.subset(rows), lg[rows], fe[rows])
        groups, ys, keys = article_groups(tab, l_, (cut,))
        fe_groups, _, _ = article_groups(tab, f_, (cut,))
        owners = [own[first["|".join(k.split("|")[:3])]] for k in keys]
        z = np.array([article_logit_vec([g], **aggs[o], flag_sums=[f.sum()])[0]
                      for g, f, o in zip(groups, fe_groups, owners)])
        return z, ys, keys, groups

    neutral = np.where([punctuation_neutral(r["text"]) for r in sub.meta])[0]
    for cut in CUTS + ("neutral",):
        # "neutral": whole articles cut to their punctuation-neutral sentences
        z, ys, keys, _ = scored(None, neutral) if cut == "neutral" else scored(cut)
        keep = np.array([k.split("|")[0] in ("news21", "ted", "news-en") for k in keys])
        z, ys2 = z[keep], ys[keep]
        docs = np.array(["|".join([k.split("|")[0], k.split("|")[2]]) for k, kk in zip(keys, keep) if kk])
        p = 1 / (1 + np.exp(-z))
        a = auroc(z, ys2)
        lo, hi = bootstrap_ci(lambda j: auroc(z[j], ys2[j]), docs, n=300)
        print(f"{str(cut or 'whole'):>6s} {len(z):7d} {int(ys2.sum()):5d} {a:7.3f}  [{lo:.3f}, {hi:.3f}]  "
              f"{ece(p, ys2):.3f}  {p[ys2 == 0].mean():.3f} / {p[ys2 == 1].mean():.3f}")
    # the seed and the genuine news
    z, ys, keys, groups = scored(None)
    for zi, k, g in zip(z, keys, groups):
        if k.startswith("seed"):
            print(f"seed article: p(MT) = {1 / (1 + np.exp(-zi)):.3f} ({len(g)} sentences)")
    news = np.array([zi for zi, k in zip(z, keys) if k.startswith("news-en")])
    if len(news):
        pn = 1 / (1 + np.exp(-news))
        print(f"genuine news-en articles (out of fold): mean p(MT) {pn.mean():.3f}, share > 0.5: {(pn > 0.5).mean():.3f}, "
              f"max {pn.max():.3f} (n={len(pn)})")


def cost(texts: list[Path], repeat: int = 3) -> None:
    """The detector's step time relative to the LM signal's (which holds the base pass), as
    the scorer times them on the same chunk (``Scorer.step_seconds``); median of ``repeat``."""
    from mtqa.api import load
    from mtqa.segment import segment
    from mtqa.types import Article

    scorer = load(log=lambda m: None)._scorer  # the engine-level scorer: it times its steps
    arts = []
    for i, p in enumerate(texts):
        a = Article(f"a{i}", p.read_text(encoding="utf-8"), str(p))
        a.sentences = segment(a)
        arts.append(a)
    names = [s.name for s in scorer.signals] + ["detector"]
    ratios, runs = [], []
    for _ in range(repeat):
        scorer.score_chunk(arts)
        sec = dict(zip(names, scorer.step_seconds))
        ratios.append(sec["detector"] / sec["lm"])
        runs.append(sec)
    mid = sorted(range(repeat), key=lambda k: ratios[k])[repeat // 2]
    n = sum(len(a.sentences) for a in arts)
    print(f"\n## cost ({len(arts)} articles, {n} sentences; median of {repeat})")
    print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[mid].items()))
    print(f"  detector / base LM pass (the lm signal's step) = {ratios[mid]:.3f} (aim <= 0.2)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("features", help="feature cache folder (python -m mtqa.train.extract)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--k-pca", type=int, default=None, help="fix the PCA size (default: chosen per training fold)")
    p.add_argument("--l2", type=float, default=None)
    p.add_argument("--no-transfer", action="store_true")
    p.add_argument("--transfer-only", action="store_true", help="only the transfer figures (trained without a domain)")
    p.add_argument("--train-fraction", type=float, default=None, metavar="F",
                   help="train every model on a seeded share F of the training documents (test rows unchanged)")
    p.add_argument("--census", help="flag census of the whole corpus (python -m mtqa.train.flags) for the flag weights")
    p.add_argument("--cost", nargs="*", metavar="TEXT",
                   help="also time the detector against the base LM pass on these text files (default: data/*.txt); "
                        "loads the model")
    a = p.parse_args(argv)
    if a.cost is not None:
        cost([Path(x) for x in a.cost] or sorted((ROOT / "data").glob("*.txt")))
    meta, arrays = load_features(a.features)
    t = build_table(meta, arrays, keep=lambda r: r["set"] not in ("wmt22dev",) and not r["set"].endswith("-dev"))
    counts: dict = {}
    for r in t.meta:
        counts[(r["set"].split("-")[0] if r["set"].startswith("mlqe") else r["set"], r["machine"])] = \
            counts.get((r["set"].split("-")[0] if r["set"].startswith("mlqe") else r["set"], r["machine"]), 0) + 1
    print("rows (set, machine):", dict(sorted(counts.items())))
    census = None
    if a.census:
        from mtqa.train.flags import load_census

        census = [r for r in load_census(a.census) if r.get("machine") is not None and r["set"] != "wmt22dev"
                  and not r["set"].endswith("-dev")]
        print(f"flag census: {len(census)} sentences (training folds' part used per fold)")
    keep = None
    if a.train_fraction is not None:
        # a document is kept or not as a whole, the same way in every fold (seeded by its key)
        keep = lambda r: fold_of("fraction|" + doc_key(r), 1000) < 1000 * a.train_fraction  # noqa: E731
        print(f"training on a share {a.train_fraction} of the training documents")
    if not a.transfer_only:
        logits, owner, aggs, fe = cross_validate(t, a.folds, k_pca=a.k_pca, l2=a.l2, census=census, train_filter=keep)
        sentence_report(t, logits + fe, "detector (scalar + pooled PCA + flags)")
        article_report(t, logits, fe, aggs, owner, "detector (scalar + pooled PCA + flags)")
        lo, owner2, aggs2, fe2 = cross_validate(t, a.folds, k_pca=0, l2=a.l2 or 10.0, use_pooled=False, census=census,
                                                train_filter=keep)
        sentence_report(t, lo + fe2, "scalar features + flags only")
        article_report(t, lo, fe2, aggs2, owner2, "scalar features + flags only")
    if not a.no_transfer:
        for dom in ("news21", "ted", "wiki"):
            lt, _, _, ft = cross_validate(t, a.folds, k_pca=a.k_pca, l2=a.l2, census=census,
                                          train_filter=lambda r, d=dom: domain(r["set"]) != d and (keep is None or keep(r)))
            sel = np.array([domain(r["set"]) == dom for r in t.meta])
            lt = lt + ft
            lt[~sel] = np.nan
            sentence_report(t, lt, f"transfer: trained without {dom}, tested on {dom}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
