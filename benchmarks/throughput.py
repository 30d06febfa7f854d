"""Throughput against the machine's limit, in one process, on the same sentences.

    python benchmarks/throughput.py [--model gemma-3-270m] [--sentences 300] [--dtype float32 bfloat16] [--workers 1]
                                    [--device cpu|cuda] [--memory] [--memory-model smollm2-135m]

Prints, per dtype, on clean text and on text with 10% of its sentences perturbed
(``--perturbed``; the word-order search works harder on broken text):
* the bare model forward pass (decoder + output layer on the same batches, tokens/s), run
  before and after the pipeline and averaged (the machine's speed drifts); the sentences are
  all distinct (:func:`corpus`), so both passes do the work they are credited with;
* the full ``mtqa score`` pipeline (run_job: reading, segmentation, signals, combiner, shard
  writing, dataset assembly; tokens/s and sentences/s) and its ratio to the bare forward;
* torch GEMM peak (fp32, and bf16 where it is native: CUDA, AVX512-BF16/AMX) and the
  pipeline's effective GFLOP/s (2 x parameters used per token, output layer included, +
  attention) as a share of the machine's best GEMM peak (measured at the start and again after
  each measurement, the best kept);
* the pipeline's steps (``run.json``'s ``timings.steps_s``) as shares of its base LM pass:
  the word-order search, the artefact rules, combiner and detector, ...
With ``--workers 1 8`` the pipeline runs once per value, in that many worker processes (one
model each, ``mtqa score --workers``), against the same single-process bare pass.
With ``--device cuda`` everything above runs on the GPU (timings after ``torch.cuda.synchronize()``,
the GEMM peak measured on the device); ``benchmarks/gpu.sh`` sets a lent CUDA machine up for it.
With ``--memory``: peak resident memory of ``score`` in a fresh process for 1k and 100k
sentences (``--memory-model``; a stub scorer with ``--memory-stub``), to check it streams.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample-mt-article.txt"


def sync(device: str) -> None:
    """Wait for queued GPU work, so that a wall-clock interval covers it (no-op on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def gemm_peak(dtype: torch.dtype, n: int = 2048, reps: int = 6, device: str = "cpu") -> float:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(2):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def corpus(n_sentences: int, seed: int = 0) -> list[str]:
    """Sentences drawn from the bundled sample articles and shuffled into articles of 8, every one
    distinct: a sentence drawn again gets a number in parentheses.

    Distinct because both passes score a text once however often it occurs (``CausalLM.score``
    caches by text), the bare pass over the whole list and the pipeline per chunk: with repeats
    (until session 12, two thirds of the draws kept their text: 121 distinct of 300) the bare
    pass did 3,138 tokens of work and the pipeline 3,530 for the 6,581 both were credited with,
    which overstated both rates and the effective share of the peak about twofold, and
    understated pipeline / bare (0.89x).
    """
    from mtqa.segment import segment
    from mtqa.types import Article

    sents = []
    for f in sorted((ROOT / "data").glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        sents += [s.text for s in segment(Article(f.stem, text, str(f)), "article")]
    rng = random.Random(seed)
    out, seen = [], set()
    for i in range(n_sentences):
        s = rng.choice(sents)
        if s in seen:  # the number goes before a final stop: after it, segmentation splits it off
            s = f"{s[:-1]} ({i}){s[-1]}" if s[-1:] in ".!?" else f"{s} ({i})"
        seen.add(s)
        out.append(s)
    return out


def perturbed(sentences: list[str], share: float, seed: int = 0) -> list[str]:
    """``sentences`` with ``share`` of them (seeded) broken by a perturbation of :mod:`mtqa.perturb`
    (swaps, phrase moves, verb-final clauses, shuffles, fused sentences, spacing), kinds in turn."""
    from mtqa.perturb import KINDS, perturb

    rng = random.Random(f"throughput:{seed}")
    out = list(sentences)
    picked = rng.sample(range(len(out)), round(share * len(out)))
    for j, i in enumerate(picked):
        p = perturb(out[i], KINDS[j % len(KINDS)], rng, out[(i + 1) % len(out)])
        if p is not None:
            out[i] = p.text
    return out


def as_scored(sentences: list[str], per_article: int = 8) -> list[str]:
    """The sentences the pipeline scores from :func:`write_inputs`' articles: segmentation
    merges and splits some of the joined sentences (300 become about 243), so the bare pass
    scores these, the very sequences the pipeline's base pass scores."""
    from mtqa.segment import segment
    from mtqa.types import Article

    return [u.text for aid, text in _articles(sentences, per_article)
            for u in segment(Article(aid, text, "x"), "article")]


def _articles(sentences: list[str], per_article: int) -> list[tuple[str, str]]:
    """(id, text) of the articles the sentences are joined into, ``per_article`` to each."""
    return [(f"a{a}", " ".join(sentences[a:a + per_article])) for a in range(0, len(sentences), per_article)]


def write_inputs(sentences: list[str], folder: Path, per_article: int = 8) -> Path:
    path = folder / "in.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for aid, text in _articles(sentences, per_article):
            fh.write(json.dumps({"id": aid, "text": text}) + "\n")
    return path


def flops_per_token(model, ctx: float) -> float:
    """2 x (non-embedding params + output layer) + attention (4 x layers x width x context)."""
    cfg = model.config
    emb = model.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in model.parameters()) - emb
    head = model.get_output_embeddings().weight.numel()
    heads = cfg.num_attention_heads * getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
    return 2 * (body + head) + 4 * cfg.num_hidden_layers * heads * ctx


def bench(model_name: str, dtype: str, n: int, threads: int | None, entropy_check: bool, device: str = "cpu",
          share: float = 0.0, batch_tokens: int = 4096, batch_size: int = 64, workers: Sequence[int] = (1,), per_chunk: int = 32) -> dict:
    from mtqa.models import resolve
    from mtqa.models.lm import CausalLM

    sentences = perturbed(corpus(n), share)
    scored = as_scored(sentences)  # what the pipeline's base pass will score
    resolved = resolve(model_name)
    lm = CausalLM(resolved.path, device=device, dtype=dtype, threads=threads, batch_tokens=batch_tokens,
                  batch_size=batch_size)
    # warm-up; on a GPU over every batch shape, since the first call of each shape pays for kernel
    # selection (a 16-sentence warm-up understated the bare pass 5x on an H200)
    lm.score(scored if device.startswith("cuda") else scored[:16])
    lm.clear_cache()
    sync(device)
    t = time.perf_counter()
    scores = lm.score(scored)
    sync(device)
    bare_s = time.perf_counter() - t
    n_tokens = sum(len(s.logprobs) for s in scores)
    res = {"model": model_name, "dtype": dtype, "device": device, "sentences": n, "tokens": n_tokens, "bare_s": bare_s,
           "bare_tok_s": n_tokens / bare_s, "perturbed": share}
    if entropy_check:
        no_entropy = lm.variant(entropy=False)  # same weights, own (empty) cache
        sync(device)
        t = time.perf_counter()
        no_entropy.score(scored)
        sync(device)
        res["no_entropy_tok_s"] = n_tokens / (time.perf_counter() - t)
    ctx = n_tokens / len(scored) / 2
    res["gflop_per_token"] = flops_per_token(lm.model, ctx) / 1e9
    res["pipelines"] = [pipeline(sentences, model_name, device, dtype, threads, batch_tokens, batch_size, w, res,
                                 per_chunk) for w in workers]
    # the bare pass again after the pipeline: this machine's speed drifts by a quarter within
    # minutes (the same 300 sentences took 36.8 and 45.9 s), so the pipeline is compared with
    # the mean of the bare passes around it, and both are printed
    lm.clear_cache()
    sync(device)
    t = time.perf_counter()
    lm.score(scored)
    sync(device)
    res["bare_after_s"] = time.perf_counter() - t
    res["bare_tok_s"] = n_tokens / ((bare_s + res["bare_after_s"]) / 2)
    for p in res["pipelines"]:
        p["ratio"] = p["pipe_tok_s"] / res["bare_tok_s"]
    return res


def pipeline(sentences: list[str], model_name: str, device: str, dtype: str, threads: int | None, batch_tokens: int,
             batch_size: int, workers: int, bare: dict, per_chunk: int = 32) -> dict:
    """The full ``mtqa score`` pipeline over ``sentences`` (8 to an article), timed like the bare pass.

    The engine (the model, or ``workers`` processes with one model each) is built before the
    clock starts, as the bare pass's model is, and warmed as the bare pass is: on a GPU a first
    job over the same sentences warms each process's kernels for every batch shape (a fresh
    worker process pays for kernel selection again); on a CPU a job over the first 16
    sentences, as the bare pass's 16-sentence warm-up (until session 13 the pipeline's
    one-time costs, ~1 s: the first forward pass, loading wordfreq's table and the language
    detector, fell inside its timed run and not the bare pass's). The pipeline's model cache
    is emptied per chunk, so the warm-up scores nothing in advance."""
    from mtqa.config import JobConfig
    from mtqa.engines import build_engine
    from mtqa.pipeline import run_job

    with tempfile.TemporaryDirectory() as tmp:
        inp = write_inputs(sentences, Path(tmp))
        cfg = JobConfig.model_validate({"inputs": [str(inp)], "output": f"{tmp}/out", "progress": False,
                                        "workers": workers, "articles_per_chunk": per_chunk,
                                        "model": {"name": model_name, "device": device, "dtype": dtype,
                                                  "threads": threads, "batch_tokens": batch_tokens,
                                                  "batch_size": batch_size}})
        engine = build_engine(cfg, log=lambda m: None)
        try:
            warm = cfg.model_copy(update={"output": f"{tmp}/warm-up"})
            if not device.startswith("cuda"):
                (Path(tmp) / "warm").mkdir()
                warm = warm.model_copy(update={"inputs": [str(write_inputs(sentences[:16], Path(tmp) / "warm"))]})
            run_job(warm, log=lambda m: None, engine=engine)
            result = run_job(cfg, log=lambda m: None, engine=engine)
        finally:
            engine.close()
    tm = result.run_info["timings"]
    res = {"workers": workers}
    res["pipe_s"] = tm["score_s"] + tm["write_s"]
    res["pipe_tokens"] = result.run_info["counts"]["lm_tokens"]
    res["pipe_tok_s"] = res["pipe_tokens"] / res["pipe_s"]
    res["pipe_sent_s"] = result.run_info["counts"]["sentences"] / res["pipe_s"]
    res["ratio"] = res["pipe_tok_s"] / bare["bare_tok_s"]
    res["pipe_gflops"] = res["pipe_tok_s"] * bare["gflop_per_token"]
    res["steps_s"] = tm.get("steps_s", {})
    return res


def peak_rss(n: int, model: str, stub: bool, device: str = "cpu") -> float:
    """Peak RSS (MiB) of a fresh ``score`` process on ``n`` sentences (the input is written here,
    so that building the corpus in memory does not count)."""
    tmp = Path(tempfile.mkdtemp())
    write_inputs(corpus(n), tmp)
    code = f"""
import json, resource, sys, tempfile, threading, time
anon_peak = [0]
def _sample():  # anonymous (heap) memory, sampled: file-backed pages of memory-mapped Arrow shards are page cache
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                anon_peak[0] = max(anon_peak[0], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=_sample, daemon=True).start()
sys.path.insert(0, {str(ROOT / "benchmarks")!r})
import datasets; datasets.disable_progress_bars()
from throughput import corpus, write_inputs
from pathlib import Path
from mtqa.config import JobConfig
from mtqa.pipeline import run_job
tmp = Path({str(tmp)!r})
inp = tmp / "in.jsonl"
if {stub}:
    class Stub:
        def __init__(self, cfg): self.cfg = cfg
        def describe(self):
            from mtqa.signals.lm import LMSignal
            return {{"signature": "stub", "model": {{}}, "columns": list(LMSignal.columns), "labels": {{}}}}
        def run(self, todo, on_step=None):
            for c in todo:
                rows = [dict(article_id=s.article_id, sentence_id=s.sentence_id, paragraph_id=s.paragraph_id, start=s.start,
                        end=s.end, text=s.text, quality=0.5, flags=[], spans=[], lm_tokens=1) for a in c.articles for s in a.sentences]
                arts = [dict(article_id=a.article_id, origin=a.origin, n_sentences=len(a.sentences), quality=0.5,
                        flagged_share=0.0, worst_sentence_id=0, text=a.text) for a in c.articles]
                yield c, rows, arts
        def close(self): pass
    engine = Stub(None)
else:
    engine = None
cfg = JobConfig.model_validate({{"inputs": [str(inp)], "output": str(tmp / "out"), "progress": False,
                                "model": {{"name": {model!r}, "device": {device!r}, "dtype": "bfloat16"}}}})
r = run_job(cfg, log=lambda m: None, engine=engine)
# VmHWM, not ru_maxrss: after fork + exec, Linux carries the parent's high-water mark into
# ru_maxrss, so a child of a benchmark that holds two models would report the parent's size
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"rss_mib": rss, "anon_mib": anon_peak[0] / 1024,
                  "sentences": r.run_info["counts"]["sentences"]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--dtype", nargs="+", default=None,
                    help="default: float32, and bfloat16 where it is native (CUDA, AVX512-BF16/AMX; emulated bf16 "
                         "on a CPU runs for hours and is not what mtqa runs there)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where the model and the GEMM peak run (cuda: see benchmarks/gpu.sh)")
    ap.add_argument("--perturbed", type=float, nargs="+", default=[0.0, 0.1],
                    help="shares of sentences broken by mtqa.perturb, one run each (default: 0 and 0.1)")
    ap.add_argument("--batch-tokens", type=int, default=4096, help="bare and pipeline (mtqa's default 4096)")
    ap.add_argument("--batch-size", type=int, default=64, help="bare and pipeline (mtqa's default 64)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1],
                    help="pipeline only: score in this many worker processes (mtqa score --workers), one pipeline "
                         "run per value; the bare pass stays one process with all threads")
    ap.add_argument("--articles-per-chunk", type=int, default=32,
                    help="pipeline only (mtqa's default 32; the corpus has 8 sentences to an article): smaller chunks "
                         "give many workers enough to share on a small corpus")
    ap.add_argument("--entropy-cost", action="store_true", help="also time the forward pass without entropies")
    ap.add_argument("--memory", action="store_true", help="peak RSS for 1k and 100k sentences (fresh processes)")
    ap.add_argument("--memory-model", default="smollm2-135m")
    ap.add_argument("--memory-stub", action="store_true", help="stub scorer: reader+segmentation+writer path only")
    ap.add_argument("--memory-sizes", type=int, nargs=2, default=[1000, 100000])
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets

    datasets.disable_progress_bars()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA device (a CPU-only torch build, or no driver)")
        print(f"device: {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}")
        # a GPU needs bigger products to reach its peak; 8192^3 x 20 is about a second at 1 PFLOP/s
        size = {"n": 8192, "reps": 20}
    else:
        size = {}
    from mtqa.models.device import cpu_has_bf16

    peaks = {"fp32": gemm_peak(torch.float32, device=args.device, **size)}
    if args.device == "cuda" or cpu_has_bf16():
        peaks["bf16"] = gemm_peak(torch.bfloat16, device=args.device, **size)
        print(f"torch GEMM peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    else:
        # emulated bf16 GEMM runs at well under 1 GFLOP/s here (minutes for this product): no
        # peak worth the name, and mtqa runs float32 on such a CPU (dtype auto)
        print(f"torch GEMM peak: fp32 {peaks['fp32']:.0f} GFLOP/s; bf16 is emulated on this CPU (not measured)")
    best = max(peaks, key=peaks.get)
    dtypes = args.dtype or (["float32"] + (["bfloat16"] if "bf16" in peaks else []))
    shares = []  # (what, GFLOP/s) of every pipeline, for the summary against the run's best peak
    for dtype, share in ((d, p) for d in dtypes for p in args.perturbed):
        r = bench(args.model, dtype, args.sentences, args.threads, args.entropy_cost, args.device, share,
                  args.batch_tokens, args.batch_size, args.workers, args.articles_per_chunk)
        # the peak again after each measurement, the best kept: on a shared 2-core VM one 0.6 s
        # product read 160 in one run and 185 GFLOP/s in the next, and a low reading would
        # flatter every share (session 19)
        for k in peaks:
            peaks[k] = max(peaks[k], gemm_peak(torch.float32 if k == "fp32" else torch.bfloat16, device=args.device, **size))
        print("torch GEMM peak, best so far: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()))
        text = f"{share:.0%} of sentences perturbed" if share else "clean text"
        print(f"[{r['model']} {dtype}{' ' + args.device if args.device != 'cpu' else ''}, {text}, batches of "
              f"{args.batch_size} sentences / {args.batch_tokens} tokens] {r['sentences']} sentences, "
              f"{r['tokens']} tokens, {r['gflop_per_token']:.3f} GFLOP/token")
        line = (f"  bare forward:  {r['bare_tok_s']:8.1f} tokens/s (mean of the passes before and after the pipeline: "
                f"{r['tokens'] / r['bare_s']:.1f}, {r['tokens'] / r['bare_after_s']:.1f})")
        if "no_entropy_tok_s" in r:
            line += f"   (without entropy: {r['no_entropy_tok_s']:.1f} tokens/s)"
        print(line)
        for p in r["pipelines"]:
            how = f" ({p['workers']} worker processes)" if p["workers"] > 1 else ""
            how += f" ({args.articles_per_chunk} articles per chunk)" if args.articles_per_chunk != 32 else ""
            print(f"  pipeline{how}: {p['pipe_tok_s']:8.1f} tokens/s  {p['pipe_sent_s']:.1f} sentences/s   "
                  f"pipeline/bare = {p['ratio']:.2f} (aim >= 0.9)")
            shares.append((f"{dtype}, {text}{how}", p["pipe_gflops"]))
            print(f"  effective:     {p['pipe_gflops']:8.1f} GFLOP/s = {p['pipe_gflops'] / peaks[best]:.3f} of the machine's "
                  f"GEMM peak ({best}; aim >= 0.6)"
                  + ("" if best == "fp32" else f", {p['pipe_gflops'] / peaks['fp32']:.3f} of fp32 peak"))
            steps = p["steps_s"]
            if steps.get("lm"):
                print("  pipeline steps, as a share of its base LM pass (the lm signal): "
                      + ", ".join(f"{k} {v / steps['lm']:.2f}" for k, v in steps.items() if k != "lm")
                      + f" (word-order search aim <= 0.1; run.json timings.steps_s{', summed over the workers' if p['workers'] > 1 else ''}"
                        f": {steps})")
    if shares:
        best = max(peaks, key=peaks.get)
        print(f"effective share against the best {best} peak of the whole run ({peaks[best]:.0f} GFLOP/s): "
              + "; ".join(f"{what} {g / peaks[best]:.3f}" for what, g in shares) + " (aim >= 0.6)")
    if args.memory:
        what = "stub scorer (reader+segmentation+writer)" if args.memory_stub else f"{args.memory_model} bfloat16"
        small, large = (peak_rss(n, args.memory_model, args.memory_stub, args.device) for n in args.memory_sizes)
        print(f"peak RSS, {what}: {small['sentences']} sentences {small['rss_mib']:.0f} MiB, "
              f"{large['sentences']} sentences {large['rss_mib']:.0f} MiB "
              f"(ratio {large['rss_mib'] / small['rss_mib']:.2f}, aim <= 1.10)")
        print(f"  of which anonymous memory (heap; sampled every 20 ms): {small['anon_mib']:.0f} MiB, "
              f"{large['anon_mib']:.0f} MiB (ratio {large['anon_mib'] / small['anon_mib']:.2f}); the rest is "
              f"page cache of the memory-mapped Arrow shards, which the kernel can drop")


if __name__ == "__main__":
    main()
