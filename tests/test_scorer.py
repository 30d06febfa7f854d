"""The scorer (mtqa.scorer): no import cycle, the loading line, progress within a chunk, article aggregates.

Model work runs on the tiny random-weight model of tests/test_pipeline.py (milliseconds).
"""

from __future__ import annotations

import re

import pytest

from mtqa.config import JobConfig
from mtqa.types import Article
from tests.conftest import fresh_python
from tests.test_pipeline import tiny_model  # noqa: F401


def _config(model: str, **kw) -> JobConfig:
    data = {"model": {"name": model, "device": "cpu", "dtype": "float32"}, "progress": False}
    data.update(kw)
    return JobConfig.model_validate(data)


def _article(article_id: str, text: str) -> Article:
    from mtqa.segment import segment

    article = Article(article_id=article_id, text=text, origin=f"{article_id}.txt")
    article.sentences = segment(article, "article")
    return article


def test_engines_and_scorer_never_import_the_pipeline():
    """The old cycle pipeline <-> engines/ray: each engine and the scorer import without the pipeline,
    and the pipeline imports after them (and they after it) in a fresh interpreter."""
    code = ("import sys; import mtqa.engines.ray, mtqa.engines.local, mtqa.scorer; "
            "print('mtqa.pipeline' in sys.modules); import mtqa.pipeline; print(mtqa.pipeline.run_job.__name__)")
    assert fresh_python(code).split() == ["False", "run_job"]
    assert fresh_python("import mtqa.pipeline, mtqa.engines.ray; print('ok')").strip() == "ok"


def test_loading_is_announced_with_name_dtype_device_threads(tiny_model):
    from mtqa.scorer import Scorer

    lines: list[str] = []
    Scorer.build(_config(tiny_model, progress=True), log=lines.append)
    assert len(lines) == 2, lines
    name = Scorer.build(_config(tiny_model), log=lambda m: None).model.name
    assert re.fullmatch(rf"mtqa: loading {re.escape(name)} \(float32, cpu, \d+ threads?\) \.\.\.", lines[0]), lines[0]
    assert re.fullmatch(r"mtqa: model loaded in \d+\.\d s", lines[1]), lines[1]
    quiet: list[str] = []
    Scorer.build(_config(tiny_model), log=quiet.append)  # progress: false (--no-progress): silent
    assert quiet == []


def test_the_loading_line_names_threads_and_int8():
    from mtqa.config import ModelSettings
    from mtqa.scorer import _setup

    assert _setup(ModelSettings(device="cpu", dtype="float32", threads=3)) == "float32, cpu, 3 threads"
    int8 = ModelSettings(device="cpu", dtype="auto", quantize="int8", threads=1)
    assert _setup(int8) == "float32+int8, cpu, 1 thread"


def test_score_chunk_reports_progress_within_the_chunk(tiny_model):
    """``on_step`` is called after each signal and after the detector: rising shares that end at 1.0,
    some before the chunk's rows exist; the second chunk's shares are weighted by the first one's
    step times, and the callback changes no number."""
    from mtqa.scorer import Scorer

    scorer = Scorer.build(_config(tiny_model), log=lambda m: None)
    texts = {"a": "The council met on Monday. It approved the budget for the new hospital.",
             "b": "Prices rose sharply in March. Exports fell, according to figures released on Friday."}
    shares: list[float] = []
    rows, articles = scorer.score_chunk([_article(k, t) for k, t in texts.items()], on_step=shares.append)
    assert len(shares) == len(scorer.signals) + 1
    assert shares == sorted(shares) and shares[-1] == 1.0 and 0 < shares[0] < 1
    assert len(scorer.step_seconds) == len(shares) and all(s >= 0 for s in scorer.step_seconds)
    timed: list[float] = []
    again, _ = scorer.score_chunk([_article(k, t) for k, t in texts.items()], on_step=timed.append)
    assert len(timed) == len(shares) and timed == sorted(timed) and timed[-1] == 1.0
    plain, _ = scorer.score_chunk([_article(k, t) for k, t in texts.items()])
    assert [r["quality"] for r in plain] == [r["quality"] for r in rows] == [r["quality"] for r in again]


def test_step_shares_follow_the_previous_chunks_step_times():
    from mtqa.scorer import _StepClock

    got: list[float] = []
    clock = _StepClock([3.0, 1.0, 0.0, 4.0], 4, got.append)
    for _ in range(4):
        clock.step()
    assert got == [3 / 8, 4 / 8, 4 / 8, 1.0]
    equal: list[float] = []
    clock = _StepClock([], 4, equal.append)  # first chunk: nothing measured yet, equal steps
    for _ in range(4):
        clock.step()
    assert equal == [0.25, 0.5, 0.75, 1.0] and len(clock.seconds) == 4


def test_aggregate_weighs_sentences_by_length():
    from mtqa.scorer import aggregate

    article = Article(article_id="a", text="x" * 40, origin="a.txt")
    rows = [{"start": 0, "end": 30, "quality": 0.2, "flags": ["word_order"], "sentence_id": 0},
            {"start": 31, "end": 40, "quality": 0.9, "flags": [], "sentence_id": 1}]
    agg = aggregate(article, rows)
    assert agg["quality"] == pytest.approx((30 * 0.2 + 9 * 0.9) / 39)
    assert agg["flagged_share"] == 0.5 and agg["worst_sentence_id"] == 0 and agg["n_sentences"] == 2
    empty = aggregate(article, [])
    assert empty["n_sentences"] == 0 and empty["quality"] is None



@pytest.mark.model
def test_the_quality_model_gets_its_pooled_states(default_model, lm):
    """On the default model the combiner's state heads read the base pass's pooled states
    (``lm_pooled``), the source signal's pooled conditioned states (``src_pooled``) and the
    xling signal's embedding pair (``xling_pair``): the scorer hands all three over, and the
    quality it writes is the one the combiner gives with them (not the one without)."""
    from mtqa.combine import build_combiner
    from mtqa.heads.detector import pooled_states
    from mtqa.scorer import Scorer
    from mtqa.segment import segment
    from mtqa.signals import build_signals

    config = JobConfig.model_validate({"progress": False, "unit": "segment"})
    model = lm.variant(keep_hidden=True)
    combiner = build_combiner(config, default_model.name)
    assert combiner.vectors == ("lm_pooled", "src_pooled", "xling_pair")
    scorer = Scorer(config, default_model, model, build_signals(config, model), combiner, None)
    arts = []
    for aid, text, source in (("a", "The government presented the new law yesterday.", "Die Regierung hat gestern das neue Gesetz vorgestellt."),
                              ("b", "Stocks fell sharply in early trading on Monday.", None)):
        a = Article(aid, text, "t", source=source)
        a.sentences = segment(a, "segment")
        arts.append(a)
    rows, _ = scorer.score_chunk(arts)
    texts = [r["text"] for r in rows]
    columns = {c.name: [r[c.name] for r in rows] for c in scorer.columns}
    flags = [[f for f in r["flags"] if f != "low_quality"] for r in rows]
    src = next(s for s in scorer.signals if s.name == "source").compute(arts).vectors["src_pooled"]
    assert src[0].shape == (3, 640) and src[1] is None
    pair = next(s for s in scorer.signals if s.name == "xling").compute(arts).vectors["xling_pair"]
    assert pair[0].shape == (4 * 384,) and pair[1] is None
    vectors = {"lm_pooled": list(pooled_states(model.score(texts), 640)), "src_pooled": src, "xling_pair": pair}
    want = combiner.combine(columns, flags, vectors).quality
    assert [r["quality"] for r in rows] == pytest.approx(want, abs=1e-6)
    without = combiner.combine(columns, flags).quality
    assert abs(without[1] - want[1]) > 1e-4  # the target-only row: its state moved its quality
    no_pair = combiner.combine(columns, flags, {**vectors, "xling_pair": [None, None]}).quality
    assert abs(no_pair[0] - want[0]) > 1e-4  # the row with a source: its embedding pair moved its quality
