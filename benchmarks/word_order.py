"""Word-order detectors on perturbed fluent English: AUROC, detection, false alarms, the seed, the cost.

Data
    ``--n`` fluent English sentences (default 1000; Wikipedia, the ``original`` column of the
    MLQE-PE en-de train tar.gz, rows ``--skip`` .. ``--skip + n``) are the *clean* set. For each
    perturbation kind of :mod:`mtqa.perturb` (adjacent swaps, phrase moves, verb-final
    clauses, local shuffles, fused sentences, spacing errors), ``--per-kind`` of those
    sentences (a seeded sample; default 100) are perturbed with ``--perturb-seed``.

Detectors, each a score per sentence (higher = more likely broken)
    * ``word_order``: :class:`~mtqa.signals.word_order.WordOrderSignal`'s ``word_order_score``
      (flag at its default threshold);
    * ``-slor``: minus the LM signal's SLOR, a sentence-level fluency baseline (no threshold of
      its own: its detection rate is given at the 97th percentile of the clean scores, i.e.
      at a 3% false-alarm rate set on these very sentences);
    * every rule label of :class:`~mtqa.signals.artefacts.ArtefactSignal`, as 0/1.

Printed
    * per kind and detector: AUROC of clean vs perturbed (one sentence at a time, unpaired:
      all clean sentences against all perturbed ones) and the detection rate at the default
      threshold; the false-alarm share on the clean sentences (targets: word_order < 3%,
      each rule < 1%);
    * the seed article: which sentences are flagged by what, with the suggested order;
    * the cost: the base LM pass (``lm.score`` with a cold cache, what the LM signal does)
      against the word-order search on the same sentences right after it (warm cache, as in
      the pipeline), in wall-clock and process CPU seconds, and their ratio (issue 14's aim:
      <= 0.1 on clean text). Measured on the clean sentences and on the perturbed ones. With
      ``--floor``, also the least the search's candidate set can cost: its window tokens and its
      exact output-layer rows at the base pass's own costs per token and per row (session 20:
      0.15x on the clean rows, the body over the window tokens alone 0.10x).

The word-order defaults were chosen on rows 1000-1999 (``--skip 1000``, another perturbation
seed); the figures in the README come from the default rows 0-999, not used for the choice.

    python benchmarks/word_order.py [--n 1000] [--per-kind 100] [--model gemma-3-270m] [--show 3] [--floor]

Data paths are arguments; nothing from ../shared is copied into the project.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

from mtqa.models import resolve
from mtqa.models.lm import CausalLM
from mtqa.perturb import KINDS, Perturbation, perturb_corpus
from mtqa.segment import segment
from mtqa.signals.artefacts import LABELS, ArtefactSignal
from mtqa.signals.lm import LMSignal
from mtqa.signals.word_order import WordOrderSignal
from mtqa.types import Article, Sentence


def read_column(path: Path, column: str, limit: int) -> list[str]:
    """The first ``limit`` non-empty values of ``column`` of the (single) TSV inside a tar.gz."""
    csv.field_size_limit(sys.maxsize)
    out: list[str] = []
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".tsv")]
        if not members:
            raise SystemExit(f"error: no .tsv file inside {path}")
        with io.TextIOWrapper(tar.extractfile(members[0]), encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                text = " ".join((row.get(column) or "").split())
                if text:
                    out.append(text)
                    if len(out) >= limit:
                        break
    return out


def one_sentence_article(key: str, text: str) -> Article:
    article = Article(key, text, key)
    article.sentences = [Sentence(key, 0, 0, 0, len(text), text)]
    return article


def auroc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(score of a perturbed sentence > score of a clean one), ties counting one half."""
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    allv = np.concatenate([neg, pos])
    ranks = np.empty(len(allv))
    order = np.argsort(allv, kind="mergesort")
    sorted_v = allv[order]
    i = 0
    while i < len(allv):  # average ranks over ties
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = ranks[len(neg):].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


class Scores:
    """All detectors' scores and flags for a list of one-sentence articles."""

    def __init__(self, lm_signal: LMSignal, word_order: WordOrderSignal, artefacts: ArtefactSignal,
                 articles: list[Article]):
        lm_out = lm_signal.compute(articles)
        wo_out = word_order.compute(articles)
        art_out = artefacts.compute(articles)
        self.articles = articles
        self.word_order = np.array(wo_out.columns["word_order_score"], dtype=float)
        self.word_order_flag = np.array(["word_order" in f for f in wo_out.flags])
        self.suggestions = wo_out.columns["word_order_suggestion"]
        self.wo_spans = wo_out.spans
        self.slor = -np.nan_to_num(np.array(lm_out.columns["slor"], dtype=float), nan=0.0)
        self.rules = {label: np.array([label in f for f in art_out.flags], dtype=float) for label in LABELS}

    def detectors(self) -> dict[str, np.ndarray]:
        return {"word_order": self.word_order, "-slor": self.slor, **self.rules}


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def cost(lm: CausalLM, word_order: WordOrderSignal, articles: list[Article], what: str, floor: bool = False) -> None:
    texts = [a.sentences[0].text for a in articles]
    lm.clear_cache()  # cold: the base pass computes everything, as the LM signal does on new text
    _, base_w, base_c = timed(lambda: lm.score(texts))
    word_order.timings = dict.fromkeys(word_order.timings, 0.0)
    word_order.counts = dict.fromkeys(word_order.counts, 0)
    _, wo_w, wo_c = timed(lambda: word_order.compute(articles))
    t = word_order.timings
    n_tok = sum(len(ts.logprobs) for ts in lm.score(texts))
    print(f"  {what}: {len(texts)} sentences, {n_tok} tokens")
    print(f"    base LM pass {base_w:6.1f}s wall {base_c:6.1f}s cpu | word-order search {wo_w:6.1f}s wall {wo_c:6.1f}s cpu"
          f" = stage 1 {t['stage1_s']:.1f}s (of which its body pass {t['stage1_body_s']:.1f}s) + stage 2 {t['stage2_s']:.1f}s")
    print(f"    ratio search/base: {wo_w / base_w:.2f} wall, {wo_c / base_c:.2f} cpu (issue 14's aim: <= 0.1 on clean "
          f"text; the base pass keeps its hidden states, so stage 1's body pass should be ~0 s)")
    if floor:
        print_floor(lm, word_order, texts, base_w, n_tok)


def print_floor(lm: CausalLM, word_order: WordOrderSignal, texts: list[str], base_w: float, n_tok: int) -> None:
    """What this candidate set costs at the least: its window tokens through the body and its exact rows
    through the output layer, each at the base pass's own cost (a body-only pass over the same texts
    gives the body's cost per token; the rest of the base pass is the output layer's cost per row). No
    stage 1, no bounds, no bookkeeping: a search that scores these candidates cannot cost less."""
    import torch

    ids = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        _, body_w, _ = timed(lambda: lm.hidden_states(ids))
    per_token = body_w / sum(len(i) + 1 for i in ids)  # the body also runs over each start token
    per_row = max(base_w - body_w, 0.0) / n_tok
    rows, exact = word_order.counts["window_rows"], word_order.counts["exact_rows"]
    body, head = rows * per_token / base_w, exact * per_row / base_w
    print(f"    floor of this candidate set: {rows} window tokens x {1000 * per_token:.2f} ms (the base pass's body per "
          f"token) + {exact} exact rows x {1000 * per_row:.2f} ms (its output layer per row) = {body + head:.3f}x the "
          f"base pass (body {body:.3f}x + output layer {head:.3f}x)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fluent", type=Path, default=Path("../shared/data/fluent-en/mlqepe-en-de-train.tar.gz"))
    ap.add_argument("--seed-article", type=Path, default=Path("../shared/data/seed/sputnik-nato-brussels.txt"))
    ap.add_argument("--n", type=int, default=1000, help="clean fluent sentences (default 1000)")
    ap.add_argument("--skip", type=int, default=0, help="fluent rows to skip first (default 0)")
    ap.add_argument("--per-kind", type=int, default=100, help="perturbed sentences per kind (default 100)")
    ap.add_argument("--perturb-seed", type=int, default=0)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="the LM's dtype (default auto, as mtqa score: bfloat16 where the CPU has it)")
    ap.add_argument("--show", type=int, default=3, help="flagged clean sentences to print (false alarms)")
    ap.add_argument("--max-candidates", type=int, default=None, help="override WordOrderSignal's max_candidates")
    ap.add_argument("--min-prior", type=float, default=None, help="override WordOrderSignal's min_prior")
    ap.add_argument("--context-after", type=int, default=None, help="override WordOrderSignal's context_after")
    ap.add_argument("--window-price", type=float, default=None, help="override WordOrderSignal's window_price (0: off)")
    ap.add_argument("--floor", action="store_true",
                    help="also print the least this candidate set can cost (a body-only pass over the texts prices the "
                         "window tokens and the exact rows at the base pass's own costs; about 0.4x the base pass more)")
    args = ap.parse_args(argv)
    for path, what in ((args.fluent, "--fluent"), (args.seed_article, "--seed-article")):
        if not path.is_file():
            print(f"error: {what} file not found: {path} (run from the project root, or pass {what} PATH)",
                  file=sys.stderr)
            return 2

    t_start = time.perf_counter()
    clean = read_column(args.fluent, "original", args.skip + args.n)[args.skip:]
    perturbed = perturb_corpus(clean, KINDS, seed=args.perturb_seed)
    sample: dict[str, list[Perturbation]] = {}
    for kind in KINDS:
        order = list(range(len(clean)))
        random.Random(f"{args.perturb_seed}:sample:{kind}").shuffle(order)
        sample[kind] = [p for p in (perturbed[kind][i] for i in order) if p is not None][: args.per_kind]

    model = resolve(args.model)
    # keep_hidden, keep_kv: the base pass keeps its hidden states, keys and values for the search,
    # as in mtqa score (which keeps them per chunk within kv_budget; here all sentences are one
    # call, so the budget is lifted: about 18 KB a token)
    lm = CausalLM(model.path, device="cpu", dtype=args.dtype, threads=args.threads, keep_hidden=True,
                  keep_kv=True, kv_budget=10**9)
    overrides = {k: v for k, v in (("max_candidates", args.max_candidates), ("min_prior", args.min_prior),
                                   ("context_after", args.context_after),
                                   ("window_price", args.window_price)) if v is not None}
    lm_signal, word_order, artefacts = LMSignal(lm), WordOrderSignal(lm, **overrides), ArtefactSignal()
    print(f"model: {model.name} ({str(lm.dtype).replace('torch.', '')}, cpu, {__import__('torch').get_num_threads()} threads)")
    print(f"signal: {word_order.signature()}")
    print(f"clean: {len(clean)} fluent sentences from {args.fluent.name} (rows {args.skip}..{args.skip + len(clean) - 1}); "
          f"perturbed (seed {args.perturb_seed}): " + ", ".join(f"{k} {len(v)}" for k, v in sample.items()))

    clean_articles = [one_sentence_article(f"clean-{i}", t) for i, t in enumerate(clean)]
    pert_articles = [one_sentence_article(f"{k}-{i}", p.text) for k, ps in sample.items() for i, p in enumerate(ps)]

    print("\nCost (CPU; base = lm.score on a cold cache; search = WordOrderSignal.compute right after, warm cache)")
    cost(lm, word_order, clean_articles, "clean fluent sentences", args.floor)
    cost(lm, word_order, pert_articles, "perturbed sentences (all kinds)", args.floor)

    clean_scores = Scores(lm_signal, word_order, artefacts, clean_articles)
    pert_scores = Scores(lm_signal, word_order, artefacts, pert_articles)
    kind_of = np.array([k for k, ps in sample.items() for _ in ps])

    detectors = list(clean_scores.detectors())
    slor_thr = float(np.percentile(clean_scores.slor, 97))
    print("\nAUROC clean vs perturbed (unpaired), and [detection rate at the default threshold]")
    print(f"  {'detector':<18}" + "".join(f"{k:>21}" for k in KINDS) + f"{'false alarms (clean)':>22}")
    for name in detectors:
        neg = clean_scores.detectors()[name]
        cells = []
        for kind in KINDS:
            pos = pert_scores.detectors()[name][kind_of == kind]
            thr_hit = pos >= slor_thr if name == "-slor" else (
                pert_scores.word_order_flag[kind_of == kind] if name == "word_order" else pos > 0)
            cells.append(f"{auroc(neg, pos):8.3f} [{np.mean(thr_hit) if len(pos) else float('nan'):5.0%}]")
        if name == "word_order":
            fa = float(np.mean(clean_scores.word_order_flag))
            target = "  (target < 3%)"
        elif name == "-slor":
            fa, target = float(np.mean(neg >= slor_thr)), "  (threshold set at 3%)"
        else:
            fa, target = float(np.mean(neg > 0)), ("  (target < 1%)" if np.mean(neg > 0) >= 0.01 else "")
        print(f"  {name:<18}" + "".join(f"{c:>21}" for c in cells) + f"{fa:>12.2%}{target}")
    print(f"  (-slor detection rates at its clean 97th percentile, {-slor_thr:.2f}; rules score 0/1, "
          f"so their AUROC is 0.5 + (detection - false alarms)/2)")

    fa_idx = [i for i in np.argsort(-clean_scores.word_order) if clean_scores.word_order_flag[i]]
    print(f"\nword_order false alarms on clean sentences: {len(fa_idx)} of {len(clean)} "
          f"({len(fa_idx) / max(len(clean), 1):.1%}); score quantiles on clean: "
          + ", ".join(f"p{q} {np.percentile(clean_scores.word_order, q):.2f}" for q in (50, 90, 95, 97, 99)))
    for i in fa_idx[: args.show]:
        sp = clean_scores.wo_spans[i][0]
        print(f"    {clean_scores.word_order[i]:5.2f} {clean[i][:150]!r}\n          -> {sp.note}")
    words = np.array([len(t.split()) for t in clean])
    print("  by sentence length (words): " + "; ".join(
        f"{lo}-{hi}: {np.mean(clean_scores.word_order_flag[m]):.1%} of {int(m.sum())} (mean score {np.mean(clean_scores.word_order[m]):.2f})"
        for lo, hi in ((1, 14), (15, 29), (30, 999)) for m in [(words >= lo) & (words <= hi)] if m.any()))
    print("\nword_order on perturbed sentences: examples per kind (score, flagged?, suggestion restores the original?)")
    for kind in KINDS:
        idx = np.where(kind_of == kind)[0]
        restored = [pert_scores.suggestions[i] == sample[kind][j].original for j, i in enumerate(idx)]
        flagged = pert_scores.word_order_flag[idx]
        print(f"  {kind:<15} flagged {np.mean(flagged):5.0%}; suggestion == original for {np.mean(restored):5.0%} "
              f"({sum(restored)} of {len(idx)})")
        for j, i in list(enumerate(idx))[: args.show]:
            note = pert_scores.wo_spans[i][0].note if pert_scores.wo_spans[i] else "-"
            print(f"      {pert_scores.word_order[i]:5.2f} {sample[kind][j].text[:110]!r}  {note}")

    text = args.seed_article.read_text(encoding="utf-8")
    article = Article(args.seed_article.stem, text, str(args.seed_article))
    article.sentences = segment(article)
    wo_out = word_order.compute([article])
    art_out = artefacts.compute([article])
    print(f"\nSeed article {args.seed_article.name} ({len(article.sentences)} sentences; "
          f"word_order threshold {word_order.threshold})")
    for k, sentence in enumerate(article.sentences):
        labels = list(dict.fromkeys(wo_out.flags[k] + art_out.flags[k]))
        score = wo_out.columns["word_order_score"][k]
        print(f"  [{sentence.sentence_id:>2}] wo={score:5.2f} {', '.join(labels) or '-':<32} {sentence.text[:80]!r}")
        for span in wo_out.spans[k] + art_out.spans[k]:
            print(f"         {span.label:<16} {text[span.start:span.end]!r:<42} {span.note}")
    print(f"\n({time.perf_counter() - t_start:.0f}s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
