"""A job with torch's meta kernels deferred (as ``mtqa score`` runs) against the same job with them.

    python benchmarks/lazy_torch_check.py [--device cuda] [--dtype bfloat16] [INPUT]

:mod:`mtqa.models.lazy_torch` leaves torch's Python meta-kernel registrations out of ``mtqa
score``'s process until a path needs them. ``tests/models/test_lazy_torch.py`` shows on the
CPU that a job's every column is the same with ``MTQA_FULL_TORCH=1``; a GPU runs other code
paths (CUDA initialisation, other kernels), so this runs the same comparison there without
pytest (the lent machine's image has none; ``CHECK=1 bash benchmarks/gpu_offline.sh run N``
runs it). Prints each differing column, or "equal", and both wall times.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _job(src: Path, out: Path, extra: list[str], full: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MTQA_FULL_TORCH"}
    if full:
        env["MTQA_FULL_TORCH"] = "1"
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mtqa", "score", str(src), "-o", str(out), "--no-progress", *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode:
        raise SystemExit(f"mtqa score failed ({'full' if full else 'deferred'} torch):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", type=Path, default=ROOT / "data" / "sample-mt-article.txt")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args()
    from mtqa.writers import read_arrow_dataset

    extra = ["--device", args.device, "--dtype", args.dtype, "--no-server"]
    with tempfile.TemporaryDirectory() as tmp:
        walls = {kind: _job(args.input, Path(tmp) / kind, extra, kind == "full") for kind in ("deferred", "full")}
        tables = {kind: read_arrow_dataset(Path(tmp) / kind / "sentences") for kind in walls}
        a, b = tables["deferred"], tables["full"]
        differ = [c for c in a.column_names if repr(a.column(c).to_pylist()) != repr(b.column(c).to_pylist())]
        if a.column_names != b.column_names:
            differ.append(f"columns {a.column_names} vs {b.column_names}")
    print(f"lazy torch check ({args.device}, {args.dtype}): {a.num_rows} sentences, "
          f"{'equal' if not differ else 'DIFFERENT: ' + ', '.join(differ)}; wall {walls['deferred']:.1f} s deferred, "
          f"{walls['full']:.1f} s with the registrations")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
