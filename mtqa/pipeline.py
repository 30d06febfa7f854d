"""The scoring pipeline: articles stream in chunks through segmentation, an engine and the writer.

    readers -> segment -> engine (mtqa.engines: Scorer.score_chunk per chunk) -> ShardWriter

The model is loaded once per job; a bad input is reported and skipped, never fatal.
Everything that can refuse a job (output folder, missing inputs, another job on the same
output) is checked before the model loads. What scores a chunk lives in
:mod:`mtqa.scorer`; where it runs (this process or Ray actors) in :mod:`mtqa.engines`.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from mtqa import __version__
from mtqa.config import JobConfig
from mtqa.engines import Chunk, Engine, build_engine
from mtqa.errors import InputError, MtqaError
from mtqa.progress import JobProgress, ProgressCallback
from mtqa.readers import InputFile, read_inputs
from mtqa.scorer import Scorer  # noqa: F401 - re-exported: tests patch mtqa.pipeline.Scorer.build
from mtqa.segment import has_text, segment, segmenter_signature
from mtqa.signature import package_versions
from mtqa.types import Article
from mtqa.writers import (OutputLock, ShardWriter, check_output, check_target, chunk_digest, job_key, write_failure,
                          write_json_atomic)


def chunks(items: Iterable[Article], size: int) -> Iterator[list[Article]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def job_chunks(config: JobConfig, report: Callable[[InputError], None], inventory: list[InputFile],
               is_done: Callable[[int, str], bool] = lambda k, digest: False, *, segmented: bool = True) -> Iterator[Chunk]:
    """Read, number and segment the job's chunks; only this shard's (``k % num_shards == shard_index``).

    Readers are deterministic, so chunk ``k`` always holds the same articles: that is what
    makes resuming, sharding and merging exact. Chunks already done (same content hash) are
    yielded with ``done=True`` after segmentation (so their input problems are still reported).
    ``segmented=False``: the engine segments (``Chunk.segmented`` False). Either way articles
    with nothing to segment are reported and dropped here (:func:`mtqa.segment.has_text`).
    """
    # the output folder is left out of folder expansion: an OUT inside an input folder is not input
    exclude = [config.output] if config.output else []
    for k, chunk in enumerate(chunks(read_inputs(config.inputs, config.columns, report, inventory, exclude=exclude),
                                     config.articles_per_chunk)):
        if k % config.num_shards != config.shard_index:
            continue
        ids = [a.article_id for a in chunk]
        digest = chunk_digest(chunk)
        kept = []
        for article in chunk:
            if not has_text(article.text):  # exactly the texts segment() finds nothing in
                report(InputError(article.origin, "no text to score after segmentation (skipped)"))
                continue
            if segmented:
                article.sentences = segment(article, config.unit)
            kept.append(article)
        yield Chunk(k, kept, ids, done=is_done(k, digest), digest=digest, segmented=segmented)


def _skips_counted(todo: Iterator[Chunk], tracker: JobProgress) -> Iterator[Chunk]:
    """Pass chunks through, telling ``tracker`` of those an interrupted run already scored."""
    for chunk in todo:
        if chunk.done:
            tracker.skip(chunk)
        yield chunk


_END = object()


def prefetched(items: Iterator, depth: int) -> Iterator:
    """Run ``items`` in a thread, ``depth`` ahead: reading and segmentation overlap model work."""
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="mtqa-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


@dataclass
class JobResult:
    out: Path
    run_info: dict[str, Any]
    errors: list[InputError] = field(default_factory=list)
    # "sentences"/"articles" -> datasets.Dataset, loaded when first asked for (mtqa.writers.DatasetFolders)
    datasets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failed_inputs(self) -> int:
        return sum(1 for e in self.errors if not e.warning)


class NothingToScore(MtqaError):
    """None of the inputs exists: reported per input, nothing loaded, nothing written (exit 1 like any bad input)."""

    exit_code = 1


def present_inputs(inputs: list[str], report: Callable[[InputError], None]) -> list[str]:
    """The inputs that exist; each missing one is reported (one line each) before any model loads."""
    present = []
    for raw in inputs:
        if Path(raw).exists():
            present.append(raw)
        else:
            report(InputError(raw, "no such file or folder"))
    return present


#: builds the engine once the job was checked (the model loads here): (config, log) -> Engine
EngineFactory = Callable[[JobConfig, Callable[[str], None]], Engine]


def run_job(config: JobConfig, *, log: Callable[[str], None] | None = None,
            on_error: Callable[[InputError], None] | None = None, progress: ProgressCallback | None = None,
            engine: Engine | EngineFactory | None = None) -> JobResult:
    """Score every input of ``config`` into ``config.output``.

    Resumes an unfinished job in ``config.output`` with the same settings (see
    :class:`mtqa.writers.ShardWriter`). Before the model loads: the output folder is checked
    (:func:`mtqa.writers.check_target`: never the working directory, an input, or a folder
    with files mtqa did not write), missing inputs are reported, and the output is locked
    for this job (:class:`mtqa.writers.OutputLock`).

    ``engine``: what scores the chunks. An :class:`mtqa.engines.Engine` already built (e.g.
    :meth:`mtqa.api.QualityScorer.engine`, whose model is loaded; the caller closes it), or
    a factory ``(config, log) -> Engine`` called after the checks above, so a refused job
    never loads a model (default: :func:`mtqa.engines.build_engine`, local or Ray as
    ``config.engine`` says). ``progress`` receives :class:`mtqa.progress.ProgressState` s:
    once when scoring starts, within each chunk, after each chunk, and when done.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if not config.inputs:
        raise MtqaError("no inputs: give files or folders to score (or `inputs:` in the config)")
    if not config.output:
        raise MtqaError("no output folder: pass -o OUT (or `output:` in the config)")
    out = Path(config.output)
    errors: list[InputError] = []

    def report(err: InputError) -> None:
        errors.append(err)
        if on_error:
            on_error(err)

    check_target(out, config.inputs, config.overwrite)
    present = present_inputs(config.inputs, report)
    if not present:
        raise NothingToScore("nothing to score: none of the inputs exists (see above); no output written")
    with OutputLock(out) as lock:
        if lock.warning:
            log(lock.warning)
        key = job_key(config.model_dump(mode="json"))
        resume = check_output(out, config.overwrite, key, config.inputs)
        # counted in a thread while the model loads: the bar has its total when scoring starts
        tracker = JobProgress(progress, present, [out], config.articles_per_chunk, config.num_shards,
                              config.shard_index) if progress is not None else None
        t0 = time.perf_counter()
        if isinstance(engine, Engine):
            return _run_locked(config, present, out, key, resume, errors, report, log, tracker, engine, t0)
        built = (engine or build_engine)(config, log)
        try:
            return _run_locked(config, present, out, key, resume, errors, report, log, tracker, built, t0)
        finally:
            built.close()


def _run_locked(config: JobConfig, present: list[str], out: Path, key: str, resume: bool, errors: list[InputError],
                report: Callable[[InputError], None], log: Callable[[str], None], tracker: JobProgress | None,
                engine: Engine, t0: float) -> JobResult:
    info = engine.describe()
    steps = getattr(engine, "step_totals", None)  # where the scoring time goes (engines that know it)
    steps_before = steps() if steps is not None else {}  # an engine from the API may have scored before
    t_loaded = time.perf_counter()
    writer = ShardWriter(out, info["columns"], overwrite=config.overwrite, key=key, signature=info["signature"],
                         resume=resume, log=log)
    if writer.resumed:
        log(f"mtqa: resuming the unfinished job in {out} ({writer.n_shards} chunk(s) already done)")
    inventory: list[InputFile] = []
    # the missing inputs were reported already; read the others (run.json keeps the config as given)
    reading = config.model_copy(update={"inputs": present})
    # an engine that segments in its workers (engines.processes) gets the chunks unsegmented
    segmented = not getattr(engine, "segments", False)
    todo = prefetched(job_chunks(reading, report, inventory, writer.is_done, segmented=segmented), config.prefetch)
    if tracker is not None:
        tracker.start()
        todo = _skips_counted(todo, tracker)
    for chunk, sentence_rows, article_rows in engine.run(todo, on_step=tracker.step if tracker else None):
        writer.write_chunk(sentence_rows, article_rows, k=chunk.k, digest=chunk.digest,
                           extra={"tokens": int(sum(r["lm_tokens"] for r in sentence_rows))})
        if tracker is not None:
            tracker.chunk_done(chunk, len(sentence_rows))
    if tracker is not None:
        tracker.finish()
    dropped = writer.drop_unseen()
    if writer.rescored or dropped:
        log(f"mtqa: the inputs changed since the interrupted run: {len(writer.rescored)} chunk(s) scored again, "
            f"{len(dropped)} chunk(s) no longer in the inputs dropped")
    t_scored = time.perf_counter()
    done = writer.done.values()
    n_articles = sum(c["articles"] for c in done)
    n_sentences = sum(c["sentences"] for c in done)
    n_tokens = sum(c.get("tokens", 0) for c in done)
    signature = info["signature"]
    run_info = {
        "mtqa_version": __version__,
        "signature": signature,
        "model": info["model"],
        "segmenter": segmenter_signature(),
        "packages": package_versions(),
        "config": config.model_dump(mode="json"),
        "inputs": [i.as_dict() for i in inventory],
        "counts": {"articles": n_articles, "sentences": n_sentences, "lm_tokens": n_tokens,
                   "input_errors": sum(1 for e in errors if not e.warning),
                   "input_warnings": sum(1 for e in errors if e.warning)},
        "errors": [{"where": e.where, "message": e.message, "warning": e.warning} for e in errors],
        "columns": {c.name: c.doc for c in info["columns"]},
        "labels": info["labels"],
        "sacrebleu": info.get("sacrebleu"),
    }
    if config.num_shards > 1:
        run_info["shard"] = {"index": config.shard_index, "num_shards": config.num_shards,
                             "chunks": sorted([int(k), v["sentences"], v["articles"]] for k, v in writer.done.items())}
    new_sentences = sum(c["sentences"] for c in writer.done.values()) - writer.sentences_at_start
    new_tokens = n_tokens - writer.tokens_at_start
    datasets_out = writer.finish(run_info | {"timings": {}}, config.formats, signature)
    t_done = time.perf_counter()
    score_s = t_scored - t_loaded
    run_info["timings"] = {
        "load_model_s": round(t_loaded - t0, 3), "score_s": round(score_s, 3),
        "write_s": round(t_done - t_scored, 3), "total_s": round(t_done - t0, 3),
        "sentences_per_s": round(new_sentences / score_s, 2) if score_s > 0 else None,
        "tokens_per_s": round(new_tokens / score_s, 1) if score_s > 0 else None,
        "resumed": writer.resumed,
        "rescored_chunks": len(writer.rescored),
    }
    if steps is not None:
        run_info["timings"]["steps_s"] = {k: round(v - steps_before.get(k, 0.0), 3) for k, v in steps().items()}
    try:
        write_json_atomic(out / "run.json", run_info)
    except OSError as exc:
        raise write_failure(out / "run.json", exc, "The datasets are complete; only the timings in run.json are "
                                                   "missing (rerunning with --overwrite scores everything again).") from exc
    return JobResult(out, run_info, errors, datasets_out)
