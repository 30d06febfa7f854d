"""Cold start of ``mtqa score one-sentence.txt``, phase by phase, against the 3-second aim.

    python benchmarks/cold_start.py [--repeat 1] [--model gemma-3-270m] [--no-load-detail]

Every figure comes from fresh processes, as a user meets them (the model must be converted
already: ``python -m mtqa download``):

* **interpreter**: ``python -c pass`` (the floor no mtqa change can cut);
* **--version**: ``python -X importtime -m mtqa --version``, the sum of its top-level imports
  and its wall time: what every command pays before argparse answers;
* **score-path imports**: ``-X importtime`` of the modules ``mtqa score`` needs before it
  loads the model (the CLI, the pipeline, torch as the CLI imports it: without its meta-kernel
  registrations, :mod:`mtqa.models.lazy_torch`), and whether any of :data:`AVOIDED` came with them;
* **score**: ``python -m mtqa score ONE.txt -o TMP --overwrite`` wall time, split with the
  job's run.json timings into *before the job* (interpreter, imports, arguments, config and
  input checks; summary printing after it), *model load* (``load_model_s``), *first batch*
  (``score_s``: one sentence is one batch) and *write* (``write_s``);
* **with a model server** (unless ``--no-server-phase``): ``mtqa serve`` is started once and
  ``mtqa score ONE.txt`` timed ``--repeat`` + 1 times against it (wall of the client
  process: start-up, arguments, the job in the server, the summary); the first job after the
  server started pays the first batch's one-time costs, so it is shown apart;
* **load detail** (unless ``--no-load-detail``): mtqa's tokenizer (``tokenizers`` alone) and
  model loader (its own Gemma 3 decoder, :mod:`mtqa.models.gemma3`) timed apart in a fresh
  process with torch already imported, next to what transformers takes for the same
  (importing it, ``AutoTokenizer``, ``from_pretrained``), and the dtype the weights are stored
  in next to the dtype that runs here (a mismatch is a cast of every tensor at each load).

The last line is the total and its ratio to the aim (<= 1 meets it). Figures vary with the
machine's load; run with ``--repeat 3`` for the median. Child processes run with Python's
default bytecode caching after one untimed warm-up run (``--keep-bytecode-setting``: as the
environment says; this sandbox sets ``PYTHONDONTWRITEBYTECODE=1``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AIM_S = 3.0
SENTENCE = "The minister said that the new bridge will be opened for traffic in next spring.\n"

#: what ``mtqa score`` imports before it loads the model (``score.run`` and what it calls)
SCORE_IMPORTS = ("mtqa.cli", "mtqa.commands.score", "mtqa.config", "mtqa.pipeline", "mtqa.api", "mtqa.summary",
                 "mtqa.progress")
#: what a one-sentence ``mtqa score`` no longer imports (sessions 12-13): reported if they come back
AVOIDED = ("transformers", "datasets", "tokenizers", "pandas", "torch._decomp")


def _run(argv: list[str], cwd: Path = ROOT, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc


def top_level_import_s(importtime_stderr: str) -> tuple[float, list[tuple[float, str]]]:
    """Sum of the top-level entries of ``-X importtime`` output (their cumulative times include
    everything nested under them), and the five largest of them."""
    tops = []
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line.split("|", 2)
        cum = int(cum_us)
        if name.startswith(" ") and not name.startswith("  "):  # one space after '|': not nested
            tops.append((cum / 1e6, name.strip()))
    tops.sort(reverse=True)
    return sum(t for t, _ in tops), tops[:5]


def interpreter_s() -> float:
    return _run([sys.executable, "-c", "pass"])[0]


def version_phase() -> dict:
    wall, proc = _run([sys.executable, "-X", "importtime", "-m", "mtqa", "--version"])
    total, top = top_level_import_s(proc.stderr)
    heavy = sorted({"torch", "datasets", "transformers", "scipy", "pandas"} & _imported(proc.stderr))
    return {"wall_s": wall, "imports_s": total, "top": top, "heavy": heavy}


def _imported(importtime_stderr: str) -> set[str]:
    return {ln.rsplit("|", 1)[-1].strip() for ln in importtime_stderr.splitlines() if ln.startswith("import time:")}


def score_imports_phase() -> dict:
    # as the CLI does for score: torch first, without its meta-kernel registrations (mtqa.models.lazy_torch)
    code = "from mtqa.models.lazy_torch import import_torch_deferred; import_torch_deferred(); "
    code += "; ".join(f"import {m}" for m in SCORE_IMPORTS)
    code += f"; import sys; print([m for m in {AVOIDED!r} if m in sys.modules])"
    wall, proc = _run([sys.executable, "-X", "importtime", "-c", code])
    total, top = top_level_import_s(proc.stderr)
    return {"wall_s": wall, "imports_s": total, "top": top, "avoided_imported": proc.stdout.strip()}


def score_phase(model: str, tmp: Path) -> dict:
    one = tmp / "one-sentence.txt"
    one.write_text(SENTENCE, encoding="utf-8")
    out = tmp / "out"
    wall, proc = _run([sys.executable, "-m", "mtqa", "score", str(one), "-o", str(out), "--overwrite",
                       "--model", model, "--no-progress", "--no-server"])
    timings = json.loads((out / "run.json").read_text(encoding="utf-8"))["timings"]
    job = timings["total_s"]
    return {"wall_s": wall, "before_job_s": wall - job, "load_model_s": timings["load_model_s"],
            "first_batch_s": timings["score_s"], "write_s": timings["write_s"], "job_s": job}


def server_phase(model: str, tmp: Path, jobs: int) -> dict:
    """``mtqa serve`` started once, then ``jobs`` runs of ``mtqa score ONE.txt`` against it."""
    import signal

    one = tmp / "one-sentence.txt"
    one.write_text(SENTENCE, encoding="utf-8")
    env = dict(os.environ, MTQA_SERVER=str(tmp / "serve.sock"))
    t = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "mtqa", "serve"], stderr=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT)
    try:
        for line in server.stderr:  # type: ignore[union-attr]
            if "listening on" in line:
                break
        else:
            raise SystemExit("mtqa serve stopped before it listened")
        ready = time.perf_counter() - t
        walls = []
        for _ in range(jobs):
            wall, proc = _run([sys.executable, "-m", "mtqa", "score", str(one), "-o", str(tmp / "out-served"),
                               "--overwrite", "--model", model, "--no-progress"], env=env)
            if "model server" not in proc.stderr:
                raise SystemExit(f"the job did not run in the server:\n{proc.stderr[-2000:]}")
            walls.append(wall)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    return {"ready_s": ready, "first_s": walls[0], "next_s": statistics.median(walls[1:]) if len(walls) > 1 else walls[0]}


LOAD_DETAIL = r"""
import json, struct, sys, time
import torch
from mtqa.models import resolve
from mtqa.models.device import resolve_dtype
from mtqa.models.lm import _load_model, load_tokenizer
path = resolve(sys.argv[1]).path
runs = resolve_dtype("auto", "cpu")
t = time.perf_counter(); load_tokenizer(path); tok = time.perf_counter() - t
t = time.perf_counter(); _load_model(path, runs, True); mod = time.perf_counter() - t
t = time.perf_counter()
from transformers import AutoModelForCausalLM, AutoTokenizer
hf_import = time.perf_counter() - t
t = time.perf_counter(); AutoTokenizer.from_pretrained(path, local_files_only=True); auto = time.perf_counter() - t
t = time.perf_counter(); AutoModelForCausalLM.from_pretrained(path, dtype=runs, local_files_only=True).eval()
hf_mod = time.perf_counter() - t
stored = set()
import pathlib
for f in pathlib.Path(path).glob("*.safetensors"):
    with open(f, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        stored |= {v["dtype"] for k, v in json.loads(fh.read(n)).items() if k != "__metadata__"}
size = sum(f.stat().st_size for f in pathlib.Path(path).glob("*.safetensors"))
print(json.dumps({"tokenizer_s": tok, "model_s": mod, "transformers_import_s": hf_import, "autotokenizer_s": auto,
                  "from_pretrained_s": hf_mod, "stored": sorted(stored), "runs": str(runs).replace("torch.", ""),
                  "weights_mib": size / 2**20}))
"""


def load_detail(model: str) -> dict:
    _, proc = _run([sys.executable, "-c", LOAD_DETAIL, model])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each phase; medians are printed")
    ap.add_argument("--no-load-detail", action="store_true", help="skip timing from_pretrained apart")
    ap.add_argument("--no-server-phase", action="store_true", help="skip the runs against a model server")
    ap.add_argument("--keep-bytecode-setting", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE as the environment sets it (default: Python's default)")
    args = ap.parse_args()
    # Python writes bytecode caches by default (pip also compiles a wheel's modules at install);
    # a sandbox that sets PYTHONDONTWRITEBYTECODE=1 makes every start compile mtqa's own ~100
    # modules from source again (0.1-0.3 s here), which no user's default set-up does
    bytecode = "as the environment sets it"
    if not args.keep_bytecode_setting:
        bytecode = "cached (Python's default)"
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        with tempfile.TemporaryDirectory() as tmp:
            score_phase(args.model, Path(tmp))  # untimed: writes the caches a first run writes

    interp = statistics.median(interpreter_s() for _ in range(args.repeat))
    version = [version_phase() for _ in range(args.repeat)]
    imports = [score_imports_phase() for _ in range(args.repeat)]
    with tempfile.TemporaryDirectory() as tmp:
        scores = [score_phase(args.model, Path(tmp)) for _ in range(args.repeat)]

    print(f"cold start, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{args.repeat} run(s) per phase (median), bytecode {bytecode}")
    print(f"  interpreter (python -c pass):     {interp:6.2f} s")
    v = version[-1]
    print(f"  mtqa --version:                   {_median(version, 'wall_s'):6.2f} s wall, imports "
          f"{_median(version, 'imports_s'):.2f} s; heavy libraries imported: {', '.join(v['heavy']) or 'none'}")
    print(f"  score-path imports:               {_median(imports, 'imports_s'):6.2f} s  (largest: "
          + ", ".join(f"{name} {s:.2f}" for s, name in imports[-1]["top"][:4])
          + f"; of {', '.join(AVOIDED)}: {imports[-1]['avoided_imported']} imported)")
    print(f"  mtqa score ONE.txt, wall:         {_median(scores, 'wall_s'):6.2f} s")
    print(f"    before the job (start-up, imports, checks, summary): {_median(scores, 'before_job_s'):6.2f} s")
    print(f"    model load (load_model_s):                           {_median(scores, 'load_model_s'):6.2f} s")
    print(f"    first batch (score_s, one sentence):                 {_median(scores, 'first_batch_s'):6.2f} s")
    print(f"    write (write_s):                                     {_median(scores, 'write_s'):6.2f} s")
    if not args.no_load_detail:
        d = load_detail(args.model)
        print(f"  loading, torch imported: mtqa's tokenizer {d['tokenizer_s']:.2f} s, model {d['model_s']:.2f} s; "
              f"transformers for comparison: import {d['transformers_import_s']:.2f} s, AutoTokenizer "
              f"{d['autotokenizer_s']:.2f} s, from_pretrained {d['from_pretrained_s']:.2f} s; weights stored "
              f"{'/'.join(d['stored'])} ({d['weights_mib']:.0f} MiB), run as {d['runs']} here")
    total = _median(scores, "wall_s")
    print(f"total {total:.2f} s = {total / AIM_S:.2f} x the {AIM_S:.0f} s aim ({'met' if total <= AIM_S else 'not met'})")
    if not args.no_server_phase:
        with tempfile.TemporaryDirectory() as tmp:
            sv = server_phase(args.model, Path(tmp), args.repeat + 1)
        print(f"with a model server (mtqa serve, ready after {sv['ready_s']:.1f} s): mtqa score ONE.txt, wall: "
              f"first job {sv['first_s']:.2f} s, then {sv['next_s']:.2f} s = {sv['next_s'] / AIM_S:.2f} x the "
              f"{AIM_S:.0f} s aim ({'met' if sv['next_s'] <= AIM_S else 'not met'})")


if __name__ == "__main__":
    main()
