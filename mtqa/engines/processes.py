"""``workers: N`` (N > 1) with ``engine: local``: score chunks in N processes on this machine, one model each.

Why: on a GPU the model's arithmetic is a small part of a chunk's time; most of it is the
signals' per-sentence Python (the word-order search's bookkeeping, the artefact rules, the
combiner), which one process runs on one core. N processes run it on N cores and share the
GPU (benchmarks/throughput.py ``--workers``; README *Speed*). On a CPU without spare cores
it buys little: each process gets ``cores / N`` torch threads.

This process stays the driver: it reads and numbers the chunks as for a local run (the
workers segment them: ``segments``) and writes what comes back through the same
:class:`mtqa.writers.ShardWriter`, so the output folder, resume and shards behave as in a
local run, and the numbers are the same (each chunk is scored on its own, its LM cache
cleared; ``tests/engines/test_processes.py`` compares the two). At most ``2 x N`` chunks are
in flight, so the driver never holds the whole corpus.

Workers start with ``spawn`` (a fresh interpreter: forking a process that holds torch
threads or a CUDA context is unsafe) and load the model side by side; the embedded model is
prepared once, here, before they start. A worker that dies or fails stops the job with one
line; the chunks written so far stay, and rerunning the command resumes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import traceback
from typing import Any, Callable, Iterable, Iterator

from mtqa.config import JobConfig
from mtqa.engines import Chunk, ChunkStep, Scored
from mtqa.errors import MtqaError

#: seconds between liveness checks of the workers while waiting for a result
_POLL_S = 1.0


def worker_threads(workers: int, threads: int | None) -> int:
    """torch CPU threads per worker: the configured number, else the cores this process may use / N."""
    if threads:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def _work(config: dict, tasks: Any, results: Any, index: int) -> None:
    """A worker process: build the scorer, say so, then score chunks until told to stop (None)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver decides
    try:
        from mtqa.scorer import Scorer

        scorer = Scorer.build(JobConfig.model_validate(config), log=lambda msg: None)
        results.put(("ready", index, scorer.describe()))
    except BaseException as exc:  # noqa: BLE001 - reported to the driver, which stops the job
        results.put(("failed", index, _explain(exc)))
        return
    unit = scorer.config.unit
    while (task := tasks.get()) is not None:
        k, articles, segmented = task
        try:
            if not segmented:
                from mtqa.segment import segment

                for a in articles:
                    a.sentences = segment(a, unit)
            before = dict(scorer.step_totals)
            sentence_rows, article_rows = scorer.score_chunk(articles)
            steps = {name: s - before.get(name, 0.0) for name, s in scorer.step_totals.items()}
            results.put(("scored", k, (sentence_rows, article_rows, steps)))
        except BaseException as exc:  # noqa: BLE001
            results.put(("failed", index, _explain(exc, k)))
            return


def _explain(exc: BaseException, k: int | None = None) -> tuple[bool, str]:
    """(is it an mtqa error with its own one-line message?, that message or the traceback's last line)."""
    where = f"chunk {k}: " if k is not None else ""
    if isinstance(exc, MtqaError):
        return True, f"{where}{exc}"
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return False, f"{where}{last}"


class ProcessEngine:
    """Chunks go to ``workers`` processes as they free up; progress moves per scored chunk."""

    #: the workers segment the chunks (pysbd is the driver's largest cost otherwise: ~1 ms a
    #: sentence, which capped 8 workers on a GPU below their pace)
    segments = True

    def __init__(self, config: JobConfig, log: Callable[[str], None] = print):
        from mtqa.models import resolve

        self.workers = config.workers
        resolve(config.model.name, log=log)  # prepare an embedded model once, not N times side by side
        threads = worker_threads(self.workers, config.model.threads)
        dump = config.model_copy(update={"workers": 1}).model_dump(mode="json")
        dump["model"]["threads"] = threads
        dump["progress"] = False
        ctx = mp.get_context("spawn")
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=_work, args=(dump, self.tasks, self.results, i), daemon=True,
                                  name=f"mtqa-worker-{i}") for i in range(self.workers)]
        self.step_totals_: dict[str, float] = {}
        self._closed = False
        self._in_flight = 0
        if config.progress:
            log(f"mtqa: loading the model in {self.workers} worker processes ({threads} CPU thread(s) each) ...")
        for p in self.procs:
            p.start()
        infos = []
        try:
            for _ in self.procs:
                kind, _, payload = self._next()
                if kind != "ready":
                    self._fail(payload)
                infos.append(payload)
        except BaseException:
            self.close()
            raise
        signatures = {i["signature"] for i in infos}
        if len(signatures) != 1:  # cannot happen with one installation; checked like the Ray engine does
            self.close()
            raise MtqaError(f"the worker processes scored with different setups: {sorted(signatures)}")
        self.info = infos[0]

    def _next(self) -> tuple[str, int, Any]:
        """The next message of any worker; a worker that died without a word stops the job."""
        while True:
            try:
                return self.results.get(timeout=_POLL_S)
            except queue.Empty:
                dead = [p for p in self.procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    p = dead[0]
                    raise MtqaError(f"a scoring process ({p.name}) died (exit code {p.exitcode}; out of memory?). "
                                    f"The chunks written so far are kept: rerun the same command to resume "
                                    f"(with fewer --workers if memory is short).")

    @staticmethod
    def _fail(payload: tuple[bool, str]) -> None:
        known, message = payload
        if known:
            raise MtqaError(message)
        raise RuntimeError(f"scoring failed in a worker process: {message}")

    def describe(self) -> dict[str, Any]:
        return self.info

    def run(self, todo: Iterable[Chunk], on_step: ChunkStep | None = None) -> Iterator[Scored]:
        pending: dict[int, Chunk] = {}
        it = iter(todo)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * self.workers:
                chunk = next(it, None)
                if chunk is None:
                    exhausted = True
                elif chunk.done:
                    continue
                elif not chunk.articles:
                    yield chunk, [], []
                else:
                    pending[chunk.k] = chunk
                    self.tasks.put((chunk.k, chunk.articles, chunk.segmented))
            self._in_flight = len(pending)
            if not pending:
                return
            kind, k, payload = self._next()
            if kind != "scored":
                self._fail(payload)
            sentence_rows, article_rows, steps = payload
            for name, seconds in steps.items():
                self.step_totals_[name] = self.step_totals_.get(name, 0.0) + seconds
            yield pending.pop(k), sentence_rows, article_rows

    def step_totals(self) -> dict[str, float]:
        """Seconds per scoring step, summed over the chunks and over the workers (which run side by side,
        so the sums exceed the job's wall time)."""
        return dict(self.step_totals_)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # stopped mid-job (Ctrl-C, a write error): the chunks in flight are lost anyway, do not wait for them
        wait = 10 if not self._in_flight else 0
        for p in self.procs:
            if p.is_alive():
                try:
                    self.tasks.put(None)
                except (OSError, ValueError):
                    break
        for p in self.procs:
            p.join(timeout=wait)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in (self.tasks, self.results):
            q.cancel_join_thread()
            q.close()
