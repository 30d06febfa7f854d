"""``engine: local``: score chunks in this process with one loaded :class:`mtqa.scorer.Scorer`.

The scorer may come from the API (:meth:`mtqa.api.QualityScorer.engine`), so a model loaded
in Python can also stream files to disk without being loaded twice.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from mtqa.engines import Chunk, ChunkStep, Scored
from mtqa.scorer import Scorer


class LocalEngine:
    """Scores chunks one after another, reporting progress within each chunk."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer

    def describe(self) -> dict[str, Any]:
        return self.scorer.describe()

    def run(self, todo: Iterable[Chunk], on_step: ChunkStep | None = None) -> Iterator[Scored]:
        for chunk in todo:
            if chunk.done:
                continue
            if not chunk.articles:
                yield chunk, [], []
                continue
            step = (lambda share, c=chunk: on_step(c, share)) if on_step is not None else None
            sentence_rows, article_rows = self.scorer.score_chunk(chunk.articles, on_step=step)
            yield chunk, sentence_rows, article_rows

    def step_totals(self) -> dict[str, float]:
        """Seconds per scoring step (signals, then combiner and detector), summed over the chunks scored."""
        return dict(self.scorer.step_totals)

    def close(self) -> None:
        pass
