"""Does a faster numeric setting (bfloat16, int8) move agreement with human judgements?

The speed issue's rule: a setting that moves Spearman on the dev data by more than 0.005 is not
a default. This script scores the same segments once per setting with the real pipeline
(``python -m mtqa score --unit segment``, each in a fresh process), evaluates each run against
the gold (``python -m mtqa evaluate``) and prints, per setting: wall time, Spearman of
``quality`` and of ``slor`` with the gold and their change against the first setting, and how
far the per-segment scores moved (mean / max absolute difference, share of segments whose
flags changed).

    python benchmarks/precision_agreement.py out/train-report/wmtqe22-dev.target-only.jsonl \\
        --gold ../shared/data/mqm/wmtqe22-zhen-dev.csv [--settings float32,bfloat16,int8] [--work out/precision]

The input is any file ``mtqa score`` reads with one segment per row and an id the gold joins
on (``mtqa evaluate --export-gold GOLD -o FILE`` writes one; the training report writes seeded
subsamples). Data paths are arguments; nothing from ../shared is copied into the project.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SETTINGS = {
    "float32": ["--dtype", "float32"],
    "bfloat16": ["--dtype", "bfloat16"],
    "int8": ["--dtype", "float32", "--quantize", "int8"],
}
COLUMNS = ("quality", "slor")


def mtqa(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mtqa", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"mtqa {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def spearman(out: Path, gold: Path, column: str, work: Path) -> float:
    report = work / f"{out.name}-{column}.json"
    mtqa("evaluate", str(out), "--gold", str(gold), "--pred-column", column, "--bootstrap", "0",
         "--json", str(report))
    return float(json.loads(report.read_text())["correlation"]["all"]["spearman"]["value"])


def rows(out: Path) -> dict[str, dict]:
    with open(out / "sentences.jsonl", encoding="utf-8") as f:
        return {r["article_id"]: r for r in map(json.loads, f)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="segments to score (one per row)")
    ap.add_argument("--gold", type=Path, required=True, help="gold judgements (any format mtqa evaluate reads)")
    ap.add_argument("--settings", default="float32,bfloat16,int8",
                    help=f"comma-separated, the first is the reference (of: {', '.join(SETTINGS)})")
    ap.add_argument("--work", type=Path, default=Path("out/precision"), help="scratch folder for the runs")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    for path, what in ((args.input, "input"), (args.gold, "--gold")):
        if not path.is_file():
            print(f"error: {what} file not found: {path}", file=sys.stderr)
            return 2
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        print(f"error: unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        out = args.work / name
        extra = ["--threads", str(args.threads)] if args.threads else []
        t = time.perf_counter()
        mtqa("score", str(args.input), "--unit", "segment", "-o", str(out), "--overwrite", "--format", "jsonl",
             "--no-progress", *SETTINGS[name], *extra)
        seconds = time.perf_counter() - t
        results[name] = {"seconds": seconds, "rows": rows(out),
                         **{c: spearman(out, args.gold, c, args.work) for c in COLUMNS}}
        print(f"  {name}: scored in {seconds:.0f}s", flush=True)

    ref = results[names[0]]
    print(f"\n{len(ref['rows'])} segments of {args.input.name} against {args.gold.name}; reference: {names[0]}")
    print(f"  {'setting':<10}{'wall s':>8}" + "".join(f"{'rho ' + c:>14}{'change':>9}" for c in COLUMNS)
          + f"{'|d quality| mean/max':>24}{'flags changed':>15}")
    for name in names:
        r = results[name]
        ids = sorted(ref["rows"])
        dq = np.array([abs(r["rows"][i]["quality"] - ref["rows"][i]["quality"]) for i in ids])
        flips = np.mean([set(r["rows"][i]["flags"]) != set(ref["rows"][i]["flags"]) for i in ids])
        print(f"  {name:<10}{r['seconds']:>8.0f}"
              + "".join(f"{r[c]:>14.4f}{r[c] - ref[c]:>+9.4f}" for c in COLUMNS)
              + f"{dq.mean():>14.4f} / {dq.max():.4f}{flips:>14.1%}")
    print("\nRule: a setting whose Spearman change exceeds 0.005 in absolute value is not a default.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
