"""Does the *reverse* direction of the source PMI carry adequacy evidence the forward one misses?

    python benchmarks/reverse_pmi.py DATA [--sets wmt22dev news21] [--docs 40] [--out DIR]

The ``source`` signal scores the English sentence given its source (``src_pmi``: how much the
source raises p(sentence)). Prism (Thompson & Post 2020) scores both directions: a
translation that *omits* part of the source leaves the source poorly explained by the
translation, which the forward direction does not see (a fluent, short sentence is likely
under any prompt). Here the reverse direction is

    rev_pmi = (log p(source | "English: {sentence}\\nTranslation: ") - log p(source)) / source tokens

with the same LM (Gemma 3 270M, multilingual), next to the forward ``src_pmi`` computed the
way the signal does. Per set (items from ``mtqa.train.corpus``: judged MT with a source; for
a training set, every row of ``--docs`` seeded documents), Spearman with the gold and
document-bootstrap 95% CIs of: forward, reverse, their sum, and (reverse only makes sense per
token of the source) ``rev_pmi`` with the source length partialled out. Values are kept in
``--out`` per set (``reverse-pmi-SET.npz``), so reruns take seconds.

A parameter-free signal: nothing here is fitted, so the training sets (news21, TED, MLQE-PE
train) measure it without touching the report sets; the dev figures are printed for the record.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.signals.source import conditional_prompt, source_columns  # noqa: E402
from mtqa.signals.source_reverse import SourceReverseSignal  # noqa: E402
from mtqa.train.corpus import load_corpus  # noqa: E402
from mtqa.train.quality import spearman_ci  # noqa: E402


def rows_of(data: str, name: str, docs: int | None, seed: int = 0) -> list:
    items = [it for it in load_corpus(data, [name]) if it.machine == 1 and it.gold is not None and (it.source or "").strip()]
    if docs:
        keyed = sorted({it.doc for it in items}, key=lambda d: hashlib.sha256(f"{seed}|{d}".encode()).hexdigest())
        keep = set(keyed[:docs])
        items = [it for it in items if it.doc in keep]
    return items


def measure(lm, items, batch: int = 64, log=print) -> dict[str, np.ndarray]:
    """Forward ``src_pmi`` (the source signal's formula) and reverse ``src_rev_pmi`` (the
    source_reverse signal's own method) per item, and the source tokens the latter averages over."""
    reverse = SourceReverseSignal(lm)
    fwd = np.full(len(items), np.nan)
    rev = np.full(len(items), np.nan)
    src_tokens = np.zeros(len(items))
    t0 = time.time()
    for lo in range(0, len(items), batch):
        part = items[lo:lo + batch]
        fp = [conditional_prompt(it.source, it.text) for it in part]
        cond_t = lm.suffix_logprobs([p for p, _ in fp], [s for _, s in fp])
        bare_t = lm.score([it.text for it in part])
        for j, it in enumerate(part):
            values = source_columns(cond_t[j], bare_t[j].logprobs, it.text, it.source)
            if values is not None:
                fwd[lo + j] = values["src_pmi"]
        for j, (pmi, n) in enumerate(reverse.reverse_with_tokens([it.source for it in part], [it.text for it in part])):
            rev[lo + j], src_tokens[lo + j] = pmi, n
        lm.clear_cache()
        log(f"  {min(lo + batch, len(items))}/{len(items)} rows, {time.time() - t0:.0f}s")
    return {"fwd": fwd, "rev": rev, "src_tokens": src_tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="../shared/data")
    ap.add_argument("--sets", nargs="+", default=["wmt22dev", "news21"])
    ap.add_argument("--docs", type=int, default=40, help="documents per training set (seeded); report sets: all rows")
    ap.add_argument("--out", default=str(Path.home() / ".cache/mtqa/benchmarks"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float32")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lm = None
    for name in a.sets:
        report = name == "wmt22dev" or name.endswith("-dev")
        items = rows_of(a.data, name, None if report else a.docs)
        path = out / f"reverse-pmi-{name}{'' if report else f'-docs{a.docs}'}.npz"
        if path.is_file():
            z = dict(np.load(path))
        else:
            if lm is None:
                from mtqa.models import resolve
                from mtqa.models.lm import CausalLM
                lm = CausalLM(resolve("gemma-3-270m").path, dtype=a.dtype, threads=a.threads)
            print(f"{name}: {len(items)} rows", file=sys.stderr)
            z = measure(lm, items, log=lambda m: print(m, file=sys.stderr, flush=True))
            np.savez(path, **z)
        gold = np.array([it.gold for it in items], dtype=float)
        docs = np.array([it.doc for it in items])
        ok = np.isfinite(z["fwd"]) & np.isfinite(z["rev"])
        fwd, rev, n = z["fwd"][ok], z["rev"][ok], z["src_tokens"][ok]
        # the reverse PMI with log(source tokens) partialled out (least squares on the rows themselves:
        # a one-number description, not a fitted model)
        L = np.c_[np.ones(ok.sum()), np.log1p(n)]
        rev_resid = rev - L @ np.linalg.lstsq(L, rev, rcond=None)[0]
        z_ = lambda v: (v - v.mean()) / (v.std() or 1.0)  # noqa: E731
        print(f"{name} ({'report' if report else 'training'} set, {ok.sum()} rows, {len(set(docs[ok]))} docs):")
        for label, v in (("src_pmi (forward)", fwd), ("rev_pmi (reverse)", rev), ("rev_pmi | length", rev_resid),
                         ("z(fwd) + z(rev)", z_(fwd) + z_(rev))):
            rho, lo, hi = spearman_ci(v, gold[ok], docs[ok])
            print(f"  {label:20s} {rho:+.3f} [{lo:+.3f}, {hi:+.3f}]")


if __name__ == "__main__":
    main()
