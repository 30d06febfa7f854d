"""Issue 10, item 9: a sentence scored only in part carries the flag ``truncated``; no number changes."""

from __future__ import annotations

import numpy as np
import pytest

from mtqa.combine import FallbackHeuristic, build_combiner
from mtqa.config import JobConfig
from mtqa.models.lm import TokenScores
from mtqa.segment import segment
from mtqa.signals.lm import LMSignal
from mtqa.types import Article


class _WordLM:
    """A stand-in LM: one token per word, truncating after ``max_tokens`` words like CausalLM."""

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens

    def score(self, texts, batch_tokens=None, batch_size=None):
        out = []
        for text in texts:
            words = text.split()[: self.max_tokens]
            starts = [text.index(w) for w in words]  # fine for this test's distinct-enough words
            offsets = np.array([[s, s + len(w)] for s, w in zip(starts, words)], dtype=np.int32).reshape(-1, 2)
            n = len(words)
            out.append(TokenScores(offsets, -np.linspace(1, 5, n).astype(np.float32),
                                   np.full(n, 2.0, dtype=np.float32), truncated=len(text.split()) > self.max_tokens))
        return out


def _flags(text: str, max_tokens: int) -> tuple[list[bool], list[bool]]:
    article = Article("a", text, "test")
    article.sentences = segment(article)
    out = LMSignal(_WordLM(max_tokens)).compute([article])
    return ["truncated" in f for f in out.flags], [s.cut for s in article.sentences]


def test_a_sentence_past_max_tokens_is_flagged():
    long_sentence = " ".join(f"word{i}" for i in range(60)) + "."
    flags, cut = _flags(f"A short sentence here. {long_sentence}", max_tokens=40)
    assert flags == [False, True] and cut == [False, False]  # the LM scored only 40 of its 61 words
    assert "truncated" in LMSignal.labels


def test_a_run_cut_by_segmentation_is_flagged():
    run_on = " ".join(f"w{i}" for i in range(1500))  # ~8,000 chars without a sentence end
    flags, cut = _flags(f"A short sentence here.\n{run_on}", max_tokens=10_000)  # the LM truncates nothing
    assert cut[0] is False and len(cut) >= 3 and all(cut[1:])
    assert flags == cut


@pytest.mark.parametrize("combiner", ["learned", "heuristic"])
def test_the_flag_changes_no_quality(combiner):
    comb = build_combiner(JobConfig(), "gemma-3-270m") if combiner == "learned" else FallbackHeuristic("other")
    cols = {"lm_tokens": [12, 12], "lm_logprob": [-40.0, -40.0], "surprisal_mean": [3.3, 3.3],
            "surprisal_max": [9.0, 9.0], "surprisal_p90": [6.0, 6.0], "entropy_mean": [2.9, 2.9],
            "excess_surprisal": [0.4, 0.4], "slor": [1.8, 1.8]}
    q = comb.combine(cols, [[], ["truncated"]]).quality
    assert q[0] == q[1]


@pytest.mark.model
def test_real_lm_flags_a_sentence_past_max_tokens(lm):
    words = "the minister said that the new plan would cost more than expected".split()
    long_sentence = " ".join(words[i % len(words)] for i in range(700)) + "."
    text = f"The plan was announced on Monday. {long_sentence}"
    article = Article("a", text, "test")
    article.sentences = segment(article)
    assert len(article.sentences) == 2 and not any(s.cut for s in article.sentences)
    out = LMSignal(lm).compute([article])
    assert out.flags == [[], ["truncated"]]
    assert out.columns["lm_tokens"][1] <= lm.max_tokens < len(lm.tokenizer(long_sentence)["input_ids"])
