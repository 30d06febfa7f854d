"""Where the whole pipeline's time goes, function by function (cProfile), on the throughput corpus.

    python benchmarks/profile_pipeline.py [--device cpu|cuda] [--dtype bfloat16] [--sentences 2000] [--top 45]

On a GPU the forward pass is a small part of the pipeline's time (``benchmarks/throughput.py``
prints pipeline / bare); this says which host-side functions take the rest. Prints the top
functions by own time and by cumulative time; ``--out FILE`` also saves the raw profile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import corpus, perturbed, write_inputs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--perturbed", type=float, default=0.1)
    ap.add_argument("--top", type=int, default=45)
    ap.add_argument("--out", help="save the raw profile here (pstats format)")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets

    from mtqa.config import JobConfig
    from mtqa.pipeline import run_job

    datasets.disable_progress_bars()
    sentences = perturbed(corpus(args.sentences), args.perturbed)
    with tempfile.TemporaryDirectory() as tmp:
        inp = write_inputs(sentences, Path(tmp))
        model = {"name": args.model, "device": args.device, "dtype": args.dtype}
        warm = JobConfig.model_validate({"inputs": [str(inp)], "output": f"{tmp}/warm", "progress": False, "model": model})
        first = run_job(warm, log=lambda m: None)  # loads, selects kernels, fills the allocator's cache
        tf = first.run_info["timings"]
        print(f"first run (not profiled): score {tf['score_s']:.2f} s, write {tf['write_s']:.2f} s; steps {tf.get('steps_s')}")
        cfg = JobConfig.model_validate({"inputs": [str(inp)], "output": f"{tmp}/out", "progress": False, "model": model})
        prof = cProfile.Profile()
        prof.enable()
        result = run_job(cfg, log=lambda m: None)
        prof.disable()
    tm = result.run_info["timings"]
    print(f"second run, profiled: {args.sentences} sentences ({args.perturbed:.0%} perturbed), {args.device} {args.dtype}: "
          f"score {tm['score_s']:.2f} s, write {tm['write_s']:.2f} s; steps {tm.get('steps_s')}")
    if args.out:
        prof.dump_stats(args.out)
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
        text = buf.getvalue()
        print(f"--- by {key} ---")
        print(text[text.find("   ncalls"):])


if __name__ == "__main__":
    main()
