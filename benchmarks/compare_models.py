"""Compare candidate LMs as mtqa's default: agreement of their signals with human judgments.

For each model, scores (target-only, no source) the MT output of
  * WMT QE 2022 zh-en dev (MQM z_score, 1,019 segments; the official QE metric is Spearman),
  * MLQE-PE {ro,et,ne,si,ru}-en dev (DA z_mean; a random sample per pair),
and the seed article, then prints the Spearman correlation of each LM signal with the gold
scores (sign chosen so that higher = better: SLOR as is, surprisal negated) and, on the seed,
the margin between clearly broken and fluent sentences.

    python benchmarks/compare_models.py --data ../shared/data --models gemma-3-270m smollm2-135m

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
from mtqa.segment import segment
from mtqa.signals.lm import LMSignal
from mtqa.types import Article

# higher = better after multiplying by the sign
FEATURES = {"slor": 1, "surprisal_mean": -1, "excess_surprisal": -1, "surprisal_p90": -1, "surprisal_max": -1, "lm_logprob": 1}
# seed sentences: clearly broken vs clearly fluent (by sentence prefix)
SEED_BROKEN = ("Discuss the military attitude", "Ukrainian contact groups discuss", "Announcements related to")
SEED_FLUENT = ("Austin and Stoltenberg will hold", "Stoltenberg will hold a press conference", "The NATO chief concludes")


def spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def load_wmtqe22(path: Path) -> tuple[list[str], list[float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["mt"] for r in rows], [float(r["z_score"]) for r in rows]


def load_mlqe(path: Path, n: int, seed: int) -> tuple[list[str], list[float]]:
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".tsv"))
        text = tar.extractfile(member).read().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
    return [r["translation"] for r in rows], [float(r["z_mean"]) for r in rows]


def features(signal: LMSignal, texts: list[str]) -> dict[str, np.ndarray]:
    arts = [Article(str(i), t, "bench") for i, t in enumerate(texts)]
    for a in arts:
        a.sentences = segment(a, "segment")
    out = signal.compute(arts)
    return {k: np.asarray(out.columns[k], dtype=float) for k in FEATURES}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--models", nargs="+", default=["gemma-3-270m", "smollm2-135m"])
    ap.add_argument("--mlqe-per-pair", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        print(f"no data folder at {data}; pass --data", file=sys.stderr)
        return 2
    sets = {"wmtqe22-zhen-dev (MQM z)": load_wmtqe22(data / "mqm" / "wmtqe22-zhen-dev.csv")}
    for lp in ("ro", "et", "ne", "si", "ru"):
        sets[f"mlqe-{lp}-en-dev (DA z)"] = load_mlqe(data / "da" / f"mlqepe-{lp}-en-dev.tar.gz", args.mlqe_per_pair, args.seed)
    seed_text = (data / "seed" / "sputnik-nato-brussels.txt").read_text(encoding="utf-8")

    for name in args.models:
        resolved = resolve(name)
        lm = CausalLM(resolved.path, device="cpu", dtype="float32", threads=args.threads)
        signal = LMSignal(lm)
        print(f"\n== {name} (weights sha256 {resolved.weights_sha256[:12]}) ==")
        print(f"{'data set':28s} {'n':>5s} " + " ".join(f"{f:>16s}" for f in FEATURES) + "   sent/s")
        for set_name, (texts, gold) in sets.items():
            t0 = time.perf_counter()
            feats = features(signal, texts)
            rate = len(texts) / (time.perf_counter() - t0)
            cells = " ".join(f"{FEATURES[f] * spearman(feats[f], gold):16.3f}" for f in FEATURES)
            print(f"{set_name:28s} {len(texts):5d} {cells}   {rate:6.1f}", flush=True)
        art = Article("seed", seed_text, "seed")
        art.sentences = segment(art)
        out = signal.compute([art])
        for f in ("slor", "surprisal_mean"):
            vals = {s.text: FEATURES[f] * v for s, v in zip(art.sentences, out.columns[f])}
            broken = [v for t, v in vals.items() if t.startswith(SEED_BROKEN)]
            fluent = [v for t, v in vals.items() if t.startswith(SEED_FLUENT)]
            print(f"seed {f:16s}: worst fluent {min(fluent):.3f} vs best broken {max(broken):.3f} "
                  f"-> margin {min(fluent) - max(broken):+.3f} (positive = all broken below all fluent)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
