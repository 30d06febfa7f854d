"""Engines score a job's chunks: ``local`` (this process, :mod:`mtqa.engines.local`; with
``workers: N`` > 1, N processes on this machine, :mod:`mtqa.engines.processes`) and ``ray``
(Ray Data actors, :mod:`mtqa.engines.ray`).

:func:`mtqa.pipeline.run_job` reads, segments and numbers the chunks, hands them to an
engine and writes what comes back; an engine only turns :class:`Chunk` s into rows with a
:class:`mtqa.scorer.Scorer`. Engines import the scorer, never the pipeline, so there is no
import cycle between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

from mtqa.types import Article

if TYPE_CHECKING:
    from mtqa.config import JobConfig


@dataclass
class Chunk:
    """Chunk ``k`` of the job: its articles (segmented, empty ones dropped), all their ids, and the
    hash of its input content (:func:`mtqa.writers.chunk_digest`) that resuming checks.

    An engine whose ``segments`` attribute is True gets the articles unsegmented and segments
    them where it scores them (in parallel, off the driver)."""

    k: int
    articles: list[Article]
    ids: list[str]
    done: bool = False
    digest: str = ""
    #: False: the articles are not segmented yet (an engine with ``segments = True`` does it; every
    #: article here has text to segment, :func:`mtqa.segment.has_text`)
    segmented: bool = True


#: ``on_step(chunk, share)``: the engine has done ``share`` (0-1] of ``chunk`` (progress display)
ChunkStep = Callable[[Chunk, float], None]
#: what an engine yields per scored chunk: the chunk, its sentence rows, its article rows
Scored = tuple[Chunk, list[dict], list[dict]]


@runtime_checkable
class Engine(Protocol):
    """What :func:`mtqa.pipeline.run_job` needs from an engine."""

    def describe(self) -> dict[str, Any]:
        """The scorer's signature, model, columns, labels (what run.json records)."""

    def run(self, todo: Iterable[Chunk], on_step: ChunkStep | None = None) -> Iterator[Scored]:
        """Score the chunks of ``todo`` that are not ``done`` (in any order); ``on_step`` may be ignored."""

    def close(self) -> None:
        """Release what the engine holds (a Ray instance it started)."""


def build_engine(config: "JobConfig", log: Callable[[str], None]) -> Engine:
    """The engine ``config.engine`` names, with its model(s) loaded."""
    if config.engine == "ray":
        from mtqa.engines.ray import RayEngine

        return RayEngine(config, log=log)
    if config.workers > 1:
        from mtqa.engines.processes import ProcessEngine

        return ProcessEngine(config, log=log)
    from mtqa.engines.local import LocalEngine
    from mtqa.scorer import Scorer

    return LocalEngine(Scorer.build(config, log=log))


__all__ = ["Chunk", "ChunkStep", "Engine", "Scored", "build_engine"]
