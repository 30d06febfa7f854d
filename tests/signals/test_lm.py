"""LMSignal: robust z-scores, surprisal spikes, sentence statistics and SLOR.

The arithmetic is checked on hand-made token scores (no model); a few checks run the real
default model end to end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtqa.models.lm import TokenScores
from mtqa.segment import segment
from mtqa.signals.lm import LMSignal, robust_z, unigram_logprob
from mtqa.types import Article


def token_scores(text: str, surprisals: list[float], entropies: list[float] | None = None) -> TokenScores:
    """One token per whitespace-separated word of ``text``, with the given surprisals."""
    words = text.split()
    assert len(words) == len(surprisals)
    offsets, pos = [], 0
    for w in words:
        start = text.index(w, pos)
        offsets.append([start, start + len(w)])
        pos = start + len(w)
    ent = entropies if entropies is not None else [2.0] * len(words)
    return TokenScores(np.array(offsets, dtype=np.int32).reshape(-1, 2), -np.array(surprisals, dtype=np.float32),
                       np.array(ent, dtype=np.float32), truncated=False)


# -- robust z (pure numpy) ---------------------------------------------------------------------


def test_robust_z_uses_median_and_scaled_mad():
    v = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, MAD median(|-2, -1, 0, 1, 97|) = 1, scaled by 1.4826
    np.testing.assert_allclose(robust_z(v), (v - 3.0) / 1.4826)
    assert robust_z(v)[-1] > 60  # one outlier does not inflate the scale, unlike a standard deviation
    assert (v[-1] - v.mean()) / v.std() < 2.1


def test_robust_z_floors_the_scale():
    """A sentence of near-identical surprisals has a tiny MAD: the 0.5 floor keeps a small
    difference from becoming a huge z."""
    v = np.array([2.0, 2.0, 2.0, 2.0, 3.0])
    np.testing.assert_allclose(robust_z(v), (v - 2.0) / 0.5)
    np.testing.assert_allclose(robust_z(np.array([4.0, 4.1, 3.9, 4.0])), (np.array([4.0, 4.1, 3.9, 4.0]) - 4.0) / 0.5)


# -- spikes (hand-made token scores) ------------------------------------------------------------


def test_a_spike_spans_its_whole_word_in_article_offsets():
    sentence = "Officials discuss the military attitude of the union today."
    article = "Title line.\n" + sentence
    offset = article.index(sentence)
    s = [3.0, 4.0, 1.0, 3.0, 12.0, 1.0, 1.0, 2.0, 2.5]
    ts = token_scores(sentence, s)
    sig = LMSignal(lm=None)
    (span,) = sig.spikes(article, offset, ts)
    assert article[span.start:span.end] == "attitude" and span.label == "lm_spike"
    assert span.score == pytest.approx(float(robust_z(np.array(s, dtype=np.float32))[4]))
    assert span.note == 'unexpected here: "attitude" (12.0 nats vs the sentence median 2.5)'


def test_a_spike_inside_a_word_widens_to_the_word():
    sentence = "They sent heavy weap0ns to the front."
    ts = token_scores(sentence, [2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 2.0])
    # split "weap0ns" into two tokens and make the second one the spike
    a, b = (int(x) for x in ts.offsets[3])
    offsets = np.insert(ts.offsets, 4, [a + 4, b], axis=0)
    offsets[3] = [a, a + 4]
    lp = np.insert(ts.logprobs, 4, -11.0).astype(np.float32)
    ts2 = TokenScores(offsets, lp, np.full(len(lp), 2.0, np.float32), False)
    (span,) = LMSignal(lm=None).spikes(sentence, 0, ts2)
    assert sentence[span.start:span.end] == "weap0ns"


def test_spike_thresholds_first_token_and_cap():
    sig = LMSignal(lm=None, spike_z=3.5, spike_min=7.0)
    text = "one two three four five six seven eight nine ten"
    # the first token is never a spike (it has no context), however surprising
    assert sig.spikes(text, 0, token_scores(text, [15.0] + [2.0] * 9)) == []
    # far above the sentence's level but under spike_min nats: no spike
    assert sig.spikes(text, 0, token_scores(text, [1.0] * 5 + [6.5] + [1.0] * 4)) == []
    # at most three spikes, the strongest, in text order
    s = [2.0, 9.0, 2.0, 10.0, 2.0, 11.0, 2.0, 12.0, 2.0, 2.0]
    spans = sig.spikes(text, 0, token_scores(text, s))
    assert [text[sp.start:sp.end] for sp in spans] == ["four", "six", "eight"]
    # fewer than four tokens: no robust statistics, no spikes
    assert sig.spikes("a b c", 0, token_scores("a b c", [1.0, 20.0, 1.0])) == []


# -- sentence statistics and SLOR ----------------------------------------------------------------


def test_sentence_stats_and_slor():
    text = "The council met on Monday."
    s = [2.0, 5.0, 3.0, 1.0, 4.0]
    ent = [1.0, 2.0, 3.0, 2.0, 2.0]
    ts = token_scores(text, s, ent)
    stats = LMSignal(lm=None).sentence_stats(text, ts)
    logprob = -sum(s)
    uni, n_words = unigram_logprob(text)
    assert n_words == 5 and uni < 0
    assert stats["lm_tokens"] == 5
    assert stats["lm_logprob"] == pytest.approx(logprob)
    assert stats["surprisal_mean"] == pytest.approx(3.0)
    assert stats["surprisal_max"] == pytest.approx(5.0)
    assert stats["surprisal_p90"] == pytest.approx(np.percentile(s, 90))
    assert stats["entropy_mean"] == pytest.approx(2.0)
    assert stats["excess_surprisal"] == pytest.approx(1.0)
    assert stats["slor"] == pytest.approx((logprob - uni) / 5)


def test_slor_discounts_rare_words():
    """Same LM log-prob, rarer words: SLOR is higher (a rare name is not disfluency)."""
    common, rare = "The man said it.", "The Stoltenberg said it."
    sig = LMSignal(lm=None)
    s = [2.0, 8.0, 3.0, 1.0]
    assert unigram_logprob(rare)[0] < unigram_logprob(common)[0]
    assert sig.sentence_stats(rare, token_scores(rare, s))["slor"] > sig.sentence_stats(common, token_scores(common, s))["slor"]


def test_empty_scores_give_nan_statistics():
    empty = TokenScores(np.zeros((0, 2), np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32), False)
    stats = LMSignal(lm=None).sentence_stats("", empty)
    assert stats["lm_tokens"] == 0 and stats["lm_logprob"] == 0.0
    assert all(math.isnan(stats[k]) for k in ("surprisal_mean", "surprisal_max", "surprisal_p90", "entropy_mean",
                                              "excess_surprisal", "slor"))


# -- on the default model -----------------------------------------------------------------------


@pytest.mark.model
def test_compute_on_the_real_model(lm):
    fluent = "The council approved the new budget on Monday after a short debate."
    odd = "The council approved the new budget on Monday after a short zebra debate."
    scrambled = "Monday budget short the after approved debate council a new on the."
    article = Article("a", " ".join([fluent, odd, scrambled]), "test")
    article.sentences = segment(article)
    assert len(article.sentences) == 3
    out = LMSignal(lm).compute([article])
    cols = out.columns
    lm.clear_cache()
    scores = lm.score([s.text for s in article.sentences])
    for k, ts in enumerate(scores):
        assert cols["lm_tokens"][k] == len(ts.logprobs)
        assert cols["lm_logprob"][k] == pytest.approx(float(ts.logprobs.sum()), abs=1e-3)
    # the scrambled sentence has the same words as the fluent one: lower SLOR, higher surprisal
    assert cols["slor"][2] < cols["slor"][0] - 1.0
    assert cols["surprisal_mean"][2] > cols["surprisal_mean"][0]
    assert all(cols["entropy_mean"][k] > 0 for k in range(3))
    # the inserted word is a spike, in article offsets; the fluent sentence has none
    assert out.spans[0] == []
    labelled = {article.text[sp.start:sp.end] for sp in out.spans[1]}
    assert "zebra" in labelled and all(sp.label == "lm_spike" for sp in out.spans[1])
    start, end = article.sentences[1].start, article.sentences[1].end
    assert all(start <= sp.start < sp.end <= end for sp in out.spans[1])
