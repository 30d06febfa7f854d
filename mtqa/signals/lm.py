"""Language-model signals: token surprisal statistics, SLOR, and surprisal-spike spans.

All log-probabilities are natural logs (nats). Per sentence:

* ``surprisal_mean``/``_max``/``_p90``: statistics of -log p(token | prefix) over the LM's tokens;
* ``entropy_mean``: mean entropy of the predictive distribution, the surprisal a fluent
  continuation would have on average; ``excess_surprisal`` = surprisal_mean - entropy_mean;
* ``slor`` (Kann et al. 2018, "Sentence-level fluency evaluation"): (log p_LM(s) - log p_uni(s)) / |s|,
  where p_uni is the product of the words' unigram frequencies (``wordfreq``, English) and
  |s| the number of words. It discounts rare words, so a sentence is not "disfluent" just
  because it names Stoltenberg.

Spans (label ``lm_spike``): words containing a token whose surprisal stands far above the
sentence's own level (robust z-score: (s - median) / (1.4826 * MAD) > ``spike_z``) and above
``spike_min`` nats, at most three per sentence, offsets mapped back to the article text.

Flag ``truncated``: the numbers describe only part of the sentence, because it is longer than
the LM's ``max_tokens`` (only the first ``max_tokens`` tokens were scored) or because
segmentation had to cut an overlong run with no sentence end (``Sentence.cut``). It changes
no number (the combiners do not count it as an artefact); it says the scores are partial.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from mtqa.models.lm import CausalLM, TokenScores
from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.types import Article, Span

_MIN_FREQ = 1e-8  # floor for words wordfreq has never seen


@lru_cache(maxsize=200_000)
def _word_logfreq(word: str) -> float:
    from wordfreq import word_frequency

    return math.log(max(word_frequency(word, "en"), _MIN_FREQ))


def unigram_logprob(text: str) -> tuple[float, int]:
    """Sum of the words' unigram log-frequencies and the number of words."""
    from wordfreq import tokenize

    words = tokenize(text, "en")
    return sum(_word_logfreq(w) for w in words), len(words)


def robust_z(values: np.ndarray) -> np.ndarray:
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * 1.4826
    return (values - med) / max(mad, 0.5)


def _word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole words and strip surrounding spaces."""
    while start < end and text[start].isspace():
        start += 1
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


class LMSignal(Signal):
    name = "lm"
    version = "1"
    columns = (
        Column("lm_tokens", "int32", "tokens the LM scored"),
        Column("lm_logprob", "float32", "log-probability of the sentence under the LM (nats)"),
        Column("surprisal_mean", "float32", "mean token surprisal (nats)"),
        Column("surprisal_max", "float32", "largest token surprisal (nats)"),
        Column("surprisal_p90", "float32", "90th percentile of token surprisal (nats)"),
        Column("entropy_mean", "float32", "mean entropy of the LM's next-token distribution (nats)"),
        Column("excess_surprisal", "float32", "surprisal_mean - entropy_mean (nats)"),
        Column("slor", "float32", "SLOR: (LM log-prob - unigram log-prob) / words"),
    )
    labels = {
        "lm_spike": "a word the language model found far less expected than the rest of its sentence",
        "truncated": "only part of the sentence was scored: it is longer than the LM's max_tokens, or segmentation "
                     "cut an overlong run without a sentence end",
    }

    def __init__(self, lm: CausalLM, *, spike_z: float = 3.5, spike_min: float = 7.0):
        self.lm = lm
        self.spike_z = spike_z
        self.spike_min = spike_min

    def settings(self) -> dict:
        return {"spike_z": self.spike_z, "spike_min": self.spike_min, "max_tokens": self.lm.max_tokens,
                "unigram": "wordfreq-en", "log": "e"}

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        sentences = flatten(articles)
        texts_by_article = {a.article_id: a.text for a in articles}
        scores = self.lm.score([s.text for s in sentences])
        out = SignalOutput.empty(len(sentences))
        cols: dict[str, list] = {c.name: [] for c in self.columns}
        for k, (sent, ts) in enumerate(zip(sentences, scores)):
            stats = self.sentence_stats(sent.text, ts)
            for name, value in stats.items():
                cols[name].append(value)
            out.spans[k] = self.spikes(texts_by_article[sent.article_id], sent.start, ts)
            if ts.truncated or getattr(sent, "cut", False):
                out.flags[k].append("truncated")
        out.columns = cols
        return out

    def sentence_stats(self, text: str, ts: TokenScores) -> dict:
        s = ts.surprisals
        if len(s) == 0:
            nan = float("nan")
            return {"lm_tokens": 0, "lm_logprob": 0.0, "surprisal_mean": nan, "surprisal_max": nan,
                    "surprisal_p90": nan, "entropy_mean": nan, "excess_surprisal": nan, "slor": nan}
        logprob = float(ts.logprobs.sum())
        uni, n_words = unigram_logprob(text)
        mean, ent = float(s.mean()), float(ts.entropies.mean())
        return {
            "lm_tokens": int(len(s)),
            "lm_logprob": logprob,
            "surprisal_mean": mean,
            "surprisal_max": float(s.max()),
            "surprisal_p90": float(np.percentile(s, 90)),
            "entropy_mean": ent,
            "excess_surprisal": mean - ent,
            "slor": (logprob - uni) / max(n_words, 1),
        }

    def spikes(self, article_text: str, offset: int, ts: TokenScores) -> list[Span]:
        s = ts.surprisals
        if len(s) < 4:
            return []
        z = robust_z(s)
        hits = [i for i in np.argsort(-z) if i > 0 and z[i] > self.spike_z and s[i] > self.spike_min][:3]
        spans: dict[tuple[int, int], Span] = {}
        median = float(np.median(s))
        for i in hits:
            a, b = ts.offsets[i]
            start, end = _word_bounds(article_text, offset + int(a), offset + int(b))
            if start >= end or (start, end) in spans:
                continue
            word = article_text[start:end]
            spans[(start, end)] = Span(start, end, "lm_spike", float(z[i]),
                                       f'unexpected here: "{word}" ({s[i]:.1f} nats vs the sentence median {median:.1f})')
        return sorted(spans.values(), key=lambda sp: sp.start)
