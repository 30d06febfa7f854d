"""The reverse direction of the source PMI: how much the sentence explains its source.

Prism (Thompson & Post 2020) scores a translation in both directions. The ``source`` signal
scores the sentence given its source (``src_pmi``); this one scores the *source* after the
sentence,

    "English: {sentence}\nTranslation: {source}"

reading only the source's tokens, against the bare source (one LM pass per distinct
source), per source token:

* ``src_rev_pmi``: (log p(source | sentence) - log p(source)) / source tokens (nats). A
  translation that leaves part of the source out explains the source less, which the forward
  direction cannot see (a fluent short sentence is likely under any prompt).

Opt-in (not in the default signal list; ``signals: [..., source_reverse]`` in a job config):
measured before deciding (README, *Source-aware mode*), it is the best single adequacy column
on WMT22 zh-en MQM dev (Spearman 0.144 [0.069, 0.223], where ``src_pmi`` gives 0.058 and
``xling_cosine`` 0.095), but a with-source quality head given it did not improve in
cross-validation on the 3,032 zh-en training rows with a source (out-of-fold 0.4127 without,
0.4118 with) nor on the dev set (0.186, 0.185): most of it is the sentence's length relative
to its source (0.070 with the source length partialled out), which the head has already. So it costs a second
conditional LM pass only where asked for, and ``quality`` does not read it.

The column asks how much one sentence explains the whole source: for a sentence of an
article of several sentences (``--unit article``) that is the sentence's share, not its
adequacy, so it is NaN there (and without a source).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from mtqa.models.lm import CausalLM
from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.signals.source import source_for
from mtqa.types import Article

#: the frame the source is scored in, after its translation
REVERSE_TEMPLATE = "English: {target}\nTranslation: "


def reverse_prompt(source: str, target: str) -> tuple[str, int]:
    """The prompt the *source* is scored in after the sentence, and the offset where the
    source starts in it (whitespace collapsed on both sides, so line breaks cannot imitate
    the template's)."""
    cond = REVERSE_TEMPLATE.format(target=" ".join(target.split()))
    return cond + " ".join(source.split()), len(cond)


def reverse_pmi(cond: np.ndarray, bare_sum: float) -> float:
    """``src_rev_pmi`` from the source's conditional token log-probs and its bare summed
    log-prob (NaN when nothing was scored)."""
    if len(cond) == 0:
        return math.nan
    return (float(cond.sum()) - bare_sum) / len(cond)


class SourceReverseSignal(Signal):
    name = "source_reverse"
    version = "1"
    columns = (
        Column("src_rev_pmi", "float32", "how much the sentence raises the LM's probability of its source: (log p(source | sentence) - log p(source)) / source tokens (nats); NaN without a source or for a sentence of a several-sentence article"),
    )
    labels: dict[str, str] = {}

    def __init__(self, lm: CausalLM, *, unit: str = "segment", max_source_chars: int = 1000):
        self.lm = lm
        self.unit = unit
        self.max_source_chars = max_source_chars

    def settings(self) -> dict:
        return {"template": "English:/Translation:", "max_source_chars": self.max_source_chars,
                "max_tokens": self.lm.max_tokens, "log": "e"}

    def reverse(self, sources: Sequence[str], targets: Sequence[str]) -> list[float]:
        """``src_rev_pmi`` per (source, sentence) pair."""
        return [pmi for pmi, _ in self.reverse_with_tokens(sources, targets)]

    def reverse_with_tokens(self, sources: Sequence[str], targets: Sequence[str]) -> list[tuple[float, int]]:
        """Per (source, sentence) pair, ``src_rev_pmi`` and the number of source tokens it is
        averaged over; each distinct source is scored bare once."""
        if not sources:
            return []
        prompts = [reverse_prompt(s, t) for s, t in zip(sources, targets)]
        cond = self.lm.suffix_logprobs([p for p, _ in prompts], [k for _, k in prompts])
        distinct = list(dict.fromkeys(" ".join(s.split()) for s in sources))
        bare = {s: float(ts.logprobs.sum()) for s, ts in zip(distinct, self.lm.score(distinct))}
        return [(reverse_pmi(c, bare[" ".join(s.split())]), len(c)) for c, s in zip(cond, sources)]

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        sentences = flatten(articles)
        out = SignalOutput.empty(len(sentences))
        values = [math.nan] * len(sentences)
        jobs: list[tuple[int, str]] = []  # sentence index, source
        k = 0
        for a in articles:
            src = source_for(a, self.unit, self.max_source_chars)
            whole = self.unit == "segment" or len(a.sentences) == 1
            for s in a.sentences:
                if src is not None and whole and s.text.strip():
                    jobs.append((k, src))
                k += 1
        for (idx, _src), v in zip(jobs, self.reverse([s for _, s in jobs], [sentences[i].text for i, _ in jobs])):
            values[idx] = v
        out.columns = {"src_rev_pmi": values}
        return out
