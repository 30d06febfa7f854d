"""``engine: local`` and the engine interface, on the tiny random-weight model."""

from __future__ import annotations

from mtqa.config import JobConfig
from mtqa.engines import Chunk, Engine, build_engine
from mtqa.engines.local import LocalEngine
from mtqa.segment import segment
from mtqa.types import Article
from tests.test_pipeline import tiny_model  # noqa: F401


def _chunk(k: int, texts: list[str], done: bool = False) -> Chunk:
    articles = []
    for i, text in enumerate(texts):
        a = Article(article_id=f"c{k}-{i}", text=text, origin=f"c{k}.jsonl:{i + 1}")
        a.sentences = segment(a, "article")
        articles.append(a)
    return Chunk(k, [a for a in articles if a.sentences], [a.article_id for a in articles], done=done)


def test_build_engine_gives_a_local_engine_that_scores_chunks_and_reports_steps(tiny_model):
    config = JobConfig.model_validate({"model": {"name": tiny_model, "device": "cpu", "dtype": "float32"},
                                       "progress": False})
    engine = build_engine(config, log=lambda m: None)
    assert isinstance(engine, LocalEngine) and isinstance(engine, Engine)
    assert engine.describe()["signature"] == engine.scorer.signature()
    todo = [_chunk(0, ["The council met on Monday. It approved the budget."]),
            _chunk(1, ["Already scored by an interrupted run."], done=True),
            _chunk(2, []),  # every article of it was empty: written as an empty chunk, never scored
            _chunk(3, ["Prices rose sharply in March.", "Exports fell."])]
    steps: list[tuple[int, float]] = []
    scored = list(engine.run(iter(todo), on_step=lambda chunk, share: steps.append((chunk.k, share))))
    assert [c.k for c, _, _ in scored] == [0, 2, 3]
    assert [len(s) for _, s, _ in scored] == [2, 0, 2] and [len(a) for _, _, a in scored] == [1, 0, 2]
    n_steps = len(engine.scorer.signals) + 1
    assert [k for k, _ in steps] == [0] * n_steps + [3] * n_steps  # only chunks that were scored
    assert steps[n_steps - 1][1] == steps[-1][1] == 1.0
    # without a callback: the same rows
    again = list(engine.run(iter([_chunk(0, ["The council met on Monday. It approved the budget."])])))
    assert [r["quality"] for r in again[0][1]] == [r["quality"] for r in scored[0][1]]
    engine.close()


def test_any_object_with_describe_run_close_is_an_engine():
    class Fake:
        def describe(self):
            return {}

        def run(self, todo, on_step=None):
            return iter(())

        def close(self):
            pass

    assert isinstance(Fake(), Engine)
    assert not isinstance(lambda config, log: Fake(), Engine)  # a factory is not an engine (run_job tells them apart)
