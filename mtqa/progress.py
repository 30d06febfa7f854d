"""Job progress: a total known before scoring starts, updates within a chunk, a tqdm bar on stderr.

**What the bar counts.** Articles. Their number is known from the inputs before a single
sentence is scored: :func:`estimate_articles` counts rows cheaply (newlines of ``.jsonl``/
``.csv``/``.tsv`` at disk speed, one per ``.txt``, ``num_rows`` from Parquet and ``datasets``
metadata) in a thread while the model loads. Sentences would be the finer unit, but they
are only known after segmentation, which runs ``prefetch`` chunks ahead of the model: a
sentence total would keep growing and give no ETA. The row count is an estimate (a bad
row or a blank line counts once too often), so the last update sets the total to what was
really scored.

**Within a chunk** the count moves by the share of the chunk done, reported by
:meth:`mtqa.scorer.Scorer.score_chunk` after each signal (weighted by the time each took
on the previous chunk), so 32 articles do not jump from 0 to 32 after a minute of silence.

:class:`ProgressBar` shows it on stderr with a rate and an ETA when stderr is a terminal;
elsewhere (a log file, CI) it prints one final line instead of redrawing a bar.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TextIO

from mtqa.engines import Chunk


@dataclass(frozen=True)
class ProgressState:
    """One progress update (what a ``progress`` callback of :func:`mtqa.pipeline.run_job` receives)."""

    #: articles this job (shard) is expected to score; None until counted (or when uncountable)
    total: int | None
    #: articles scored so far, fractional while a chunk is being scored
    done: float
    #: sentences in the chunks scored so far
    sentences: int
    #: the job has ended: ``total == done`` (the real count, not the estimate)
    finished: bool = False


ProgressCallback = Callable[[ProgressState], None]


def estimate_articles(paths: Sequence[str], exclude: Sequence[str | Path] = ()) -> int | None:
    """About how many articles ``paths`` hold (rows of tables, one per text file); None if unknown.

    Cheap by design: no parsing except ``.json`` documents (read whole by the reader too).
    Problems are not reported here: the readers report them once, while scoring.
    """
    from mtqa.readers import TEXT_SUFFIXES, expand

    total = 0
    try:
        for path, _ in expand(list(paths), lambda err: None, exclude):
            n = _count(path, TEXT_SUFFIXES)
            if n is None:
                return None
            total += n
    except Exception:  # noqa: BLE001 - an estimate for a progress bar must never fail a job
        return None
    return total


def _count(path: Path, text_suffixes: set[str]) -> int | None:
    if path.is_dir():
        import datasets

        ds = datasets.load_from_disk(str(path))
        return sum(ds.num_rows.values()) if isinstance(ds.num_rows, dict) else ds.num_rows
    suffix = path.suffix.lower()
    if suffix in text_suffixes:
        return 1
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if suffix == ".json":
        import json

        data = json.loads(path.read_bytes())
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        return len(data) if isinstance(data, list) else 1
    lines = _lines(path)
    return max(0, lines - 1) if suffix in (".csv", ".tsv") else lines  # less the header


def _lines(path: Path) -> int:
    """Lines (a last one without a newline included), counted as newlines in 1 MiB blocks (about 1 GB/s)."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def shard_share(total: int, per_chunk: int, num_shards: int, shard_index: int) -> int:
    """Of ``total`` articles in chunks of ``per_chunk``, how many chunk ``k % num_shards == shard_index`` holds."""
    n_chunks = -(-total // per_chunk)
    return sum(min(per_chunk, total - k * per_chunk) for k in range(shard_index, n_chunks, num_shards))


class JobProgress:
    """The counting behind the display: run_job calls it, it calls ``callback`` with states.

    The total is counted in a thread (started before the model loads) and appears in the
    first update after it is known. Chunks already done by an interrupted run are taken
    off the total: the bar shows the work left, and its rate is not inflated.
    """

    def __init__(self, callback: ProgressCallback, paths: Sequence[str], exclude: Sequence[str | Path] = (),
                 per_chunk: int = 32, num_shards: int = 1, shard_index: int = 0):
        self.callback = callback
        self.done = 0
        self.sentences = 0
        self.skipped = 0
        self._total: int | None = None
        self._counted = threading.Event()

        def count() -> None:
            n = estimate_articles(paths, exclude)
            if n is not None and num_shards > 1:
                n = shard_share(n, per_chunk, num_shards, shard_index)
            self._total = n
            self._counted.set()

        threading.Thread(target=count, name="mtqa-count", daemon=True).start()

    @property
    def total(self) -> int | None:
        if not self._counted.is_set() or self._total is None:
            return None
        return max(self._total - self.skipped, self.done)

    def start(self, wait: float = 2.0) -> None:
        """Scoring starts (the model is loaded): the first update, with the total if counted by now."""
        self._counted.wait(wait)
        self.callback(ProgressState(self.total, 0, 0))

    def skip(self, chunk: Chunk) -> None:
        """``chunk`` was scored by an interrupted run: not part of the work left."""
        self.skipped += len(chunk.ids)

    def step(self, chunk: Chunk, share: float) -> None:
        """The engine has done ``share`` of ``chunk``."""
        self.callback(ProgressState(self.total, self.done + share * len(chunk.ids), self.sentences))

    def chunk_done(self, chunk: Chunk, n_sentences: int) -> None:
        self.done += len(chunk.ids)
        self.sentences += n_sentences
        self.callback(ProgressState(self.total, self.done, self.sentences))

    def finish(self) -> None:
        self.callback(ProgressState(self.done, self.done, self.sentences, finished=True))


_WITH_TOTAL = ("{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total_fmt} articles "
               "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
_NO_TOTAL = "{desc}: {n:.1f} articles [{elapsed}, {rate_fmt}{postfix}]"


class ProgressBar:
    """A :data:`ProgressCallback` drawing a tqdm bar on ``stream`` (stderr): articles, rate, ETA.

    When ``stream`` is not a terminal no bar is drawn (it would fill a log with redraws);
    :meth:`close` then prints one line with what was scored and how fast.
    """

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.bar = None
        self.last: ProgressState | None = None
        self.started = time.perf_counter()

    def __call__(self, state: ProgressState) -> None:
        if self.last is None:
            self.started = time.perf_counter()
        self.last = state
        if not self.tty:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=state.total, unit=" articles", file=self.stream, desc="mtqa: scoring",
                            dynamic_ncols=True, mininterval=0.5, smoothing=0.1,
                            bar_format=_WITH_TOTAL if state.total is not None else _NO_TOTAL)
        if state.total is not None and self.bar.total != state.total:
            self.bar.total = state.total  # counted after the bar opened, or shrunk by a resume
            self.bar.bar_format = _WITH_TOTAL
        self.bar.set_postfix_str(f"{state.sentences} sentences", refresh=False)
        self.bar.update(max(0.0, state.done - self.bar.n))  # redraws at most every mininterval
        if state.finished:
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.last is not None and self.last.finished and not self.tty:  # a failed job ends with its error
            s = self.last
            seconds = time.perf_counter() - self.started
            rate = f", {s.sentences / seconds:.1f} sentences/s" if seconds > 0 and s.sentences else ""
            print(f"mtqa: scored {s.done:.0f} article(s), {s.sentences} sentence(s) in {seconds:.1f} s{rate}",
                  file=self.stream, flush=True)


__all__ = ["JobProgress", "ProgressBar", "ProgressCallback", "ProgressState", "estimate_articles", "shard_share"]
