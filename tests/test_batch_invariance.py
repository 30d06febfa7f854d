"""Batch invariance: an article's scores barely depend on what else is in its chunk.

The LM scores a chunk's sentences in padded, length-sorted batches; on CPUs with native
bfloat16 (AVX512-BF16, AMX) the matrix kernels are not bit-identical across batch shapes, so
the same article scored alone and inside a larger job differed in 13 of 14 sentences, by up
to 0.0024 in ``quality`` (issue 10). On this project's dev machine (no native bf16) the
difference is exactly 0 in float32 and in (emulated) bfloat16. The bound tested here is the
documented guarantee: |Δquality| <= 0.01 (4x the worst difference seen, and 2.5x the largest
float32-vs-bfloat16 change of the README's precision table, 0.004), and flags identical
except the threshold flags (``low_quality``, ``word_order``) of sentences right at their
threshold.
"""

from __future__ import annotations

import random

import pytest

from tests.conftest import DATA

QUALITY_BOUND = 0.01
WORD_ORDER_MARGIN = 0.5  # on the scale of scoring.word_order_threshold (5.0)
THRESHOLD_FLAGS = {"low_quality", "word_order"}

OTHER = ("The committee published its annual report on Tuesday. Officials said the figures were better than expected. "
         "Unemployment fell for the third month in a row, while wages rose slowly. Critics argued that the recovery "
         "remained fragile and uneven across regions. The minister will present a new budget in the autumn.")


def _articles():
    from mtqa.segment import segment
    from mtqa.types import Article

    def make(article_id: str, text: str) -> Article:
        a = Article(article_id, text, article_id)
        a.sentences = segment(a, "article")
        return a

    rng = random.Random(0)
    sentences = [s.strip() + "." for s in OTHER.split(".") if s.strip()]
    fluent = (DATA / "sample-fluent-article.txt").read_text(encoding="utf-8")
    others = [make("fluent", fluent)]
    for i in range(6):
        rng.shuffle(sentences)
        others.append(make(f"other-{i}", " ".join(sentences[: rng.randint(2, len(sentences))])))
    mt = make("sample-mt-article", (DATA / "sample-mt-article.txt").read_text(encoding="utf-8"))
    return mt, others


@pytest.mark.model
def test_an_article_scores_the_same_alone_and_inside_a_job(default_model):
    from mtqa.config import JobConfig
    from mtqa.pipeline import Scorer

    config = JobConfig.model_validate({"progress": False, "model": {"device": "cpu"}})  # default dtype: auto
    scorer = Scorer.build(config, log=lambda m: None)
    mt, others = _articles()
    alone, _ = scorer.score_chunk([mt])
    mixed, _ = scorer.score_chunk(others[:3] + [mt] + others[3:])  # one chunk, as in a job of 8 articles
    inside = [r for r in mixed if r["article_id"] == "sample-mt-article"]
    assert len(alone) == len(inside) == len(mt.sentences) >= 10
    flag_quality = config.scoring.flag_quality
    threshold = config.scoring.word_order_threshold
    worst = 0.0
    for a, b in zip(alone, inside):
        assert a["text"] == b["text"]
        differ = set(a["flags"]) ^ set(b["flags"])
        assert differ <= THRESHOLD_FLAGS, (a["text"], a["flags"], b["flags"])
        if "low_quality" in differ:
            assert min(abs(a["quality"] - flag_quality), abs(b["quality"] - flag_quality)) <= QUALITY_BOUND
        if "word_order" in differ:
            assert min(abs(a["word_order_score"] - threshold), abs(b["word_order_score"] - threshold)) <= WORD_ORDER_MARGIN
        if not differ:
            worst = max(worst, abs(a["quality"] - b["quality"]))
    assert worst <= QUALITY_BOUND, worst
