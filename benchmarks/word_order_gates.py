"""What cheaper word-order searches would cost in detection, and how loose the exact search's bounds are.

    python benchmarks/word_order_gates.py [--skip 1000] [--n 500] [--per-kind 50] [--perturb-seed 1]

Issue 14 asks for the search at <= 0.1x the base pass on clean text without losing its
detection figures. The search's cost is mostly its windows (the body pass over their tokens,
and the whole output layer for the windows whose shortlist bound cannot rule them out), so
two questions are measured here, on the word-order *tuning* rows (fluent rows 1000-1499 and
perturbed copies, seed 1, as `benchmarks/word_order.py --skip 1000 --perturb-seed 1`; never
the report rows 0-999):

1. *Gates*: every sentence's 4 best-ranked candidates (prior >= ``min_prior``, no price) are
   scored exactly once; then each gating rule is replayed on them: a sentence's score is the
   best score among the candidates the rule lets through (0 if none or none is positive), its
   cost the window tokens of those candidates over the base pass's tokens (a proxy: the
   search's time is about proportional to them). Printed per rule: cost on clean and on
   perturbed rows, AUROC clean vs perturbed per perturbation kind and their mean, detection at
   the threshold 5, false alarms on clean rows. The first rule replays the shipped one
   (top 3, prior >= 1 + 0.3 x window tokens).
2. *Bound slack*: for the windows of the shipped search, how far the shortlist's upper bound
   of each window token's log-prob lies above the exact one (nats), with the shortlist alone
   and with cheap additions (every token id of the window's own sentence; the base pass's
   top-8 / top-32 tokens at each of the sentence's positions, which the base pass would have
   to keep). A lower slack rules more windows out before the exact output layer.

Nothing here changes the signal; data paths are arguments.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from word_order import auroc, read_column  # noqa: E402

from mtqa.perturb import KINDS, perturb_corpus  # noqa: E402

THRESHOLD = 5.0


def corpus(fluent: Path, skip: int, n: int, per_kind: int, seed: int) -> tuple[list[str], list[str]]:
    clean = read_column(fluent, "original", skip + n)[skip:]
    perturbed = perturb_corpus(clean, KINDS, seed=seed)
    texts, kinds = list(clean), ["clean"] * len(clean)
    for kind in KINDS:
        order = list(range(len(clean)))
        random.Random(f"{seed}:sample:{kind}").shuffle(order)
        ps = [p for p in (perturbed[kind][i] for i in order) if p is not None][:per_kind]
        texts += [p.text for p in ps]
        kinds += [kind] * len(ps)
    return texts, kinds


def collect(lm, texts: list[str], batch: int = 64) -> list[dict]:
    """Per sentence: base-pass tokens and its 4 best-ranked candidates, each scored exactly."""
    from mtqa.signals.word_order.search import ReorderSearch

    search = ReorderSearch(lm, window_price=0.0, max_candidates=4)
    rows = []
    for lo in range(0, len(texts), batch):
        chunk = texts[lo:lo + batch]
        lm.clear_cache()
        bases = lm.score(chunk)
        cands = search.propose(chunk, bases, limit=4)
        search.score(chunk, bases, cands, best_only=False)
        for b, cs in zip(bases, cands):
            rows.append({"tokens": int(len(b.logprobs)), "cands": [
                {"rank": r, "prior": c.prior, "window": c.window, "score": c.score} for r, c in enumerate(cs)]})
    return rows


def replay(rows: list[dict], kinds: list[str], keep, label: str, base_tokens: dict[str, int]) -> None:
    score = np.zeros(len(rows))
    cost = {"clean": 0, "perturbed": 0}
    for j, (r, kind) in enumerate(zip(rows, kinds)):
        kept = [c for c in r["cands"] if keep(c)]
        cost["clean" if kind == "clean" else "perturbed"] += sum(c["window"] for c in kept)
        score[j] = max([0.0] + [c["score"] for c in kept])
    kind = np.array(kinds)
    neg = score[kind == "clean"]
    aucs = [auroc(neg, score[kind == k]) for k in KINDS]
    det = np.mean([np.mean(score[kind == k] >= THRESHOLD) for k in KINDS])
    print(f"  {label:34s} {cost['clean'] / base_tokens['clean']:6.3f} {cost['perturbed'] / base_tokens['perturbed']:6.3f}"
          f"  {np.mean(aucs):.3f} [{' '.join(f'{a:.3f}' for a in aucs)}]  {det:.3f}  {np.mean(neg >= THRESHOLD):6.2%}")


def gates(rows: list[dict], kinds: list[str]) -> None:
    base_tokens = {"clean": sum(r["tokens"] for r, k in zip(rows, kinds) if k == "clean"),
                   "perturbed": sum(r["tokens"] for r, k in zip(rows, kinds) if k != "clean")}
    print(f"\n1. Gates ({sum(k == 'clean' for k in kinds)} clean, {sum(k != 'clean' for k in kinds)} perturbed rows)")
    print(f"  {'rule':34s} {'cost clean':>6s} {'pert':>6s}  AUROC mean [{' '.join(KINDS)}]  detection@5  false alarms")
    rules = [("shipped: top 3, prior >= 1 + 0.3 w", lambda c: c["rank"] < 3 and c["prior"] >= 1 + 0.3 * c["window"]),
             ("top 4, no price", lambda c: True),
             ("top 3, no price", lambda c: c["rank"] < 3)]
    rules += [(f"top 3, prior >= 1 + {p} w", lambda c, p=p: c["rank"] < 3 and c["prior"] >= 1 + p * c["window"])
              for p in (0.4, 0.5)]
    rules += [(f"top 3, prior >= {m} + 0.3 w", lambda c, m=m: c["rank"] < 3 and c["prior"] >= m + 0.3 * c["window"])
              for m in (2, 3)]
    rules += [(f"top {k}, prior >= 1 + 0.3 w", lambda c, k=k: c["rank"] < k and c["prior"] >= 1 + 0.3 * c["window"])
              for k in (1, 2)]
    rules += [(f"top 3, prior >= max(1, {q} w)", lambda c, q=q: c["rank"] < 3 and c["prior"] >= max(1, q * c["window"]))
              for q in (0.6, 0.8, 1.0)]
    for label, keep in rules:
        replay(rows, kinds, keep, label, base_tokens)


def bound_slack(lm, texts: list[str]) -> None:
    """Slack of the shipped search's shortlist bounds on its windows, and with cheap additions."""
    import torch

    from mtqa.signals.word_order.search import ReorderSearch, english_shortlist

    seen: dict = {}

    class Spy(ReorderSearch):
        def score(self, texts, bases, cands, context_after=None, *, best_only=False):
            seen["bases"], seen["cands"] = bases, cands
            return super().score(texts, bases, cands, context_after, best_only=best_only)

        def _best_only_logprobs(self, states, cands, orig):
            seen["states"] = states
            return super()._best_only_logprobs(states, cands, orig)

    lm.clear_cache()
    Spy(lm).search(texts)
    states = seen["states"]
    owners = [k for k, cs in enumerate(seen["cands"]) if cs]
    ids_of = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    weight, _ = lm.output_weight()
    weight = weight.float()
    shortlist = english_shortlist(lm)
    with torch.inference_mode():
        z = states.hidden.float() @ weight.T
        lse = torch.logsumexp(z, -1)
        print(f"\n2. Bound slack over {len(z)} window rows of {len(owners)} sentences (nats a row: mean / median / p90)")
        extras = {"shortlist alone": lambda k: None,
                  "+ the sentence's own token ids": lambda k: torch.tensor(ids_of[k]),
                  "+ base pass top-8 per position": lambda k: top(k, 8),
                  "+ base pass top-32 per position": lambda k: top(k, 32)}

        def top(k, n):
            return torch.topk(torch.as_tensor(seen["bases"][k].hidden).float() @ weight.T, n, dim=-1).indices.flatten()

        for label, extra in extras.items():
            slack = []
            for g, k in enumerate(owners):
                rows = np.unique(np.concatenate(states.rows[g])) if len(states.rows[g]) else np.array([], int)
                if not len(rows):
                    continue
                more = extra(k)
                ids = shortlist if more is None else torch.unique(torch.cat([shortlist, more]))
                slack.append((lse[rows] - torch.logsumexp(z[rows][:, ids], -1)).numpy())
            s = np.concatenate(slack)
            print(f"  {label:34s} {s.mean():.3f} / {np.median(s):.3f} / {np.quantile(s, 0.9):.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fluent", type=Path, default=Path("../shared/data/fluent-en/mlqepe-en-de-train.tar.gz"))
    ap.add_argument("--skip", type=int, default=1000)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--per-kind", type=int, default=50)
    ap.add_argument("--perturb-seed", type=int, default=1)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--slack-rows", type=int, default=200, help="clean rows for the bound-slack part (0: skip it)")
    a = ap.parse_args(argv)
    if not a.fluent.is_file():
        print(f"error: --fluent file not found: {a.fluent}", file=sys.stderr)
        return 2
    from mtqa.models import resolve
    from mtqa.models.lm import CausalLM

    texts, kinds = corpus(a.fluent, a.skip, a.n, a.per_kind, a.perturb_seed)
    lm = CausalLM(resolve(a.model).path, device="cpu", dtype="float32", keep_hidden=True, keep_kv=True,
                  kv_budget=10**9)
    gates(collect(lm, texts), kinds)
    if a.slack_rows:
        bound_slack(lm, [t for t, k in zip(texts, kinds) if k == "clean"][: a.slack_rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
