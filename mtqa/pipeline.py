"""The scoring pipeline: articles stream in chunks through segmentation, signals and the combiner.

    readers -> segment -> [signal.compute(chunk) for each signal] -> combiner -> ShardWriter

The model is loaded once per job; a bad input is reported and skipped, never fatal.
Everything that can refuse a job (output folder, missing inputs, another job on the same
output) is checked before the model loads.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from mtqa import __version__
from mtqa.combine import Combiner, build_combiner
from mtqa.config import JobConfig
from mtqa.errors import InputError, MtqaError
from mtqa.models import ResolvedModel, resolve
from mtqa.models.lm import CausalLM
from mtqa.readers import InputFile, read_inputs
from mtqa.segment import segment, segmenter_signature
from mtqa.signals import Signal, SignalOutput, build_signals
from mtqa.signature import build_signature, package_versions
from mtqa.types import Article
from mtqa.writers import (OutputLock, ShardWriter, check_output, check_target, chunk_digest, job_key, write_failure,
                          write_json_atomic)


@dataclass
class Scorer:
    """Everything that turns articles into scored rows: built once per job, reused by chunk."""

    config: JobConfig
    model: ResolvedModel
    lm: CausalLM
    signals: list[Signal]
    combiner: Combiner
    #: the MT detector (mtqa.heads.detector), None for models without shipped parameters
    detector: Any = None

    @classmethod
    def build(cls, config: JobConfig, log: Callable[[str], None] = print) -> "Scorer":
        m = config.model
        model = resolve(m.name, log=log)
        # batch settings live on the model; hidden states are kept for the word-order search
        lm = CausalLM(model.path, device=m.device, dtype=m.dtype, threads=m.threads, max_tokens=m.max_tokens,
                      quantize=m.quantize, batch_tokens=m.batch_tokens, batch_size=m.batch_size, keep_hidden=True)
        from mtqa.heads import build_detector

        return cls(config, model, lm, build_signals(config, lm), build_combiner(config, model.name),
                   build_detector(model.name))

    @property
    def columns(self):
        return [c for s in self.signals for c in s.columns]

    @property
    def labels(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.signals:
            out.update(s.labels)
        out.update(self.combiner.labels)
        return out

    def signature(self) -> str:
        return build_signature(
            model=self.model.name, weights_sha256=self.model.weights_sha256,
            dtype=self.dtype_name, device=self.lm.device,
            segmenter=segmenter_signature(), unit=self.config.unit,
            signals=[s.signature() for s in self.signals], combiner=self.combiner.signature(),
            detector=self.detector.signature() if self.detector is not None else None,
        )

    @property
    def dtype_name(self) -> str:
        name = str(self.lm.dtype).replace("torch.", "")
        return name + ("+int8" if self.config.model.quantize == "int8" else "")

    def describe(self) -> dict[str, Any]:
        """What run.json records about the scorer (also sent back by remote engines)."""
        return {
            "signature": self.signature(),
            "model": {"name": self.model.name, "path": self.model.path, "weights_sha256": self.model.weights_sha256,
                      "licence": self.model.licence, "dtype": self.dtype_name, "device": self.lm.device},
            "columns": list(self.columns),
            "labels": self.labels,
            # reference-mode metrics carry their own reproducibility signatures (sacrebleu's)
            "sacrebleu": next((s.metric_signatures() for s in self.signals if hasattr(s, "metric_signatures")), None),
        }

    def score_chunk(self, articles: Sequence[Article]) -> tuple[list[dict], list[dict]]:
        """Score articles whose ``sentences`` are set; return (sentence rows, article rows).

        The LM's text cache is cleared first, so a chunk's numbers depend on the chunk alone
        (the same whether the job ran whole, was resumed, sharded or run on Ray).
        """
        self.lm.clear_cache()
        n = sum(len(a.sentences) for a in articles)
        merged = SignalOutput.empty(n)
        for signal in self.signals:
            out = signal.compute(articles)
            merged.columns.update(out.columns)
            for i in range(n):
                for flag in out.flags[i] if out.flags else ():
                    if flag not in merged.flags[i]:
                        merged.flags[i].append(flag)
                if out.spans:
                    merged.spans[i].extend(out.spans[i])
        quality = self.combiner.combine(merged.columns, merged.flags)
        sentence_rows, article_rows = [], []
        i = 0
        for article in articles:
            first = i
            for s in article.sentences:
                row = {
                    "article_id": s.article_id, "sentence_id": s.sentence_id, "paragraph_id": s.paragraph_id,
                    "start": s.start, "end": s.end, "text": s.text, "quality": quality[i],
                    "flags": merged.flags[i], "spans": [sp.as_dict() for sp in sorted(merged.spans[i], key=lambda x: (x.start, x.end))],
                }
                for name, values in merged.columns.items():
                    row[name] = values[i]
                sentence_rows.append(row)
                i += 1
            article_rows.append(aggregate(article, sentence_rows[len(sentence_rows) - (i - first):]))
        self.detect(sentence_rows, article_rows)
        return sentence_rows, article_rows

    def detect(self, sentence_rows: list[dict], article_rows: list[dict]) -> None:
        """``mt_probability`` (sentences, articles), ``mt_evidence`` and ``language`` (articles).

        The detector reads the base pass's token scores and kept hidden states: cache hits
        in the LM (the chunk's sentences were scored by the LM signal moments ago)."""
        if self.detector is None:
            for r in sentence_rows:
                r["mt_probability"] = None
            for a in article_rows:
                a.update(mt_probability=None, mt_evidence="no MT detector ships for this model", language="")
            return
        from mtqa.heads.detector import apply

        scores = self.lm.score([r["text"] for r in sentence_rows]) if sentence_rows else []
        apply(self.detector, sentence_rows, article_rows, scores, self.lm.model.config.hidden_size)


def aggregate(article: Article, rows: list[dict]) -> dict:
    """Article-level scores.

    ``quality`` is the character-length-weighted mean of sentence quality (a long broken
    sentence weighs more than a short one); ``flagged_share`` is the share of sentences with
    at least one flag; ``worst_sentence_id`` the sentence of lowest quality.
    """
    if not rows:
        return {"article_id": article.article_id, "origin": article.origin, "n_sentences": 0, "quality": None,
                "flagged_share": None, "worst_sentence_id": None, "text": article.text}
    weights = [max(1, r["end"] - r["start"]) for r in rows]
    quality = sum(w * r["quality"] for w, r in zip(weights, rows)) / sum(weights)
    worst = min(rows, key=lambda r: r["quality"])
    return {
        "article_id": article.article_id, "origin": article.origin, "n_sentences": len(rows),
        "quality": quality, "flagged_share": sum(1 for r in rows if r["flags"]) / len(rows),
        "worst_sentence_id": worst["sentence_id"], "text": article.text,
    }


def chunks(items: Iterable[Article], size: int) -> Iterator[list[Article]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@dataclass
class Chunk:
    """Chunk ``k`` of the job: its articles (segmented, empty ones dropped), all their ids, and the
    hash of its input content (:func:`mtqa.writers.chunk_digest`) that resuming checks."""

    k: int
    articles: list[Article]
    ids: list[str]
    done: bool = False
    digest: str = ""


def job_chunks(config: JobConfig, report: Callable[[InputError], None], inventory: list[InputFile],
               is_done: Callable[[int, str], bool] = lambda k, digest: False) -> Iterator[Chunk]:
    """Read, number and segment the job's chunks; only this shard's (``k % num_shards == shard_index``).

    Readers are deterministic, so chunk ``k`` always holds the same articles: that is what
    makes resuming, sharding and merging exact. Chunks already done (same content hash) are
    yielded with ``done=True`` after segmentation (so their input problems are still reported).
    """
    # the output folder is left out of folder expansion: an OUT inside an input folder is not input
    exclude = [config.output] if config.output else []
    for k, chunk in enumerate(chunks(read_inputs(config.inputs, config.columns, report, inventory, exclude=exclude),
                                     config.articles_per_chunk)):
        if k % config.num_shards != config.shard_index:
            continue
        ids = [a.article_id for a in chunk]
        digest = chunk_digest(chunk)
        for article in chunk:
            article.sentences = segment(article, config.unit)
            if not article.sentences:
                report(InputError(article.origin, "no text to score after segmentation (skipped)"))
        yield Chunk(k, [a for a in chunk if a.sentences], ids, done=is_done(k, digest), digest=digest)


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
    datasets: dict[str, Any] = field(default_factory=dict)

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


def run_job(config: JobConfig, *, log: Callable[[str], None] | None = None,
            on_error: Callable[[InputError], None] | None = None, progress=None) -> JobResult:
    """Score every input of ``config`` into ``config.output``.

    Resumes an unfinished job in ``config.output`` with the same settings (see
    :class:`mtqa.writers.ShardWriter`). Before the model loads: the output folder is checked
    (:func:`mtqa.writers.check_target`: never the working directory, an input, or a folder
    with files mtqa did not write), missing inputs are reported, and the output is locked
    for this job (:class:`mtqa.writers.OutputLock`).
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
        return _run_locked(config, present, out, key, resume, errors, report, log, progress)


def _run_locked(config: JobConfig, present: list[str], out: Path, key: str, resume: bool, errors: list[InputError],
                report: Callable[[InputError], None], log: Callable[[str], None], progress) -> JobResult:
    t0 = time.perf_counter()
    if config.engine == "ray":
        from mtqa.engines.ray import RayEngine

        engine = RayEngine(config, log=log)
    else:
        engine = LocalEngine(Scorer.build(config, log=log))
    info = engine.describe()
    t_loaded = time.perf_counter()
    writer = ShardWriter(out, info["columns"], overwrite=config.overwrite, key=key, signature=info["signature"],
                         resume=resume, log=log)
    if writer.resumed:
        log(f"mtqa: resuming the unfinished job in {out} ({writer.n_shards} chunk(s) already done)")
    inventory: list[InputFile] = []
    if progress is not None:
        progress(0, 0)  # scoring starts: open the progress display
    # the missing inputs were reported already; read the others (run.json keeps the config as given)
    reading = config.model_copy(update={"inputs": present})
    todo = prefetched(job_chunks(reading, report, inventory, writer.is_done), config.prefetch)
    for chunk, sentence_rows, article_rows in engine.run(todo):
        writer.write_chunk(sentence_rows, article_rows, k=chunk.k, digest=chunk.digest,
                           extra={"tokens": int(sum(r["lm_tokens"] for r in sentence_rows))})
        if progress is not None:
            progress(len(chunk.articles), len(sentence_rows))
    engine.close()
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
    try:
        write_json_atomic(out / "run.json", run_info)
    except OSError as exc:
        raise write_failure(out / "run.json", exc, "The datasets are complete; only the timings in run.json are "
                                                   "missing (rerunning with --overwrite scores everything again).") from exc
    return JobResult(out, run_info, errors, datasets_out)


class LocalEngine:
    """Scores chunks in this process with one model."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer

    def describe(self) -> dict[str, Any]:
        return self.scorer.describe()

    def run(self, todo: Iterable[Chunk]) -> Iterator[tuple[Chunk, list[dict], list[dict]]]:
        for chunk in todo:
            if chunk.done:
                continue
            if not chunk.articles:
                yield chunk, [], []
                continue
            sentence_rows, article_rows = self.scorer.score_chunk(chunk.articles)
            yield chunk, sentence_rows, article_rows

    def close(self) -> None:
        pass
