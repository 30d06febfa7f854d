"""Source-conditioned PMI: how much the source raises the LM's probability of the translation.

In the spirit of Prism (Thompson & Post 2020), a multilingual LM (Gemma 3 is one) scores the
English sentence conditioned on its source, prompted as a translation task,

    "Source: {source}\nEnglish translation: {sentence}"

reading only the sentence's tokens (by the character offsets of the scored text; the
output head runs only on those positions, see :meth:`CausalLM.suffix_logprobs`), and compares it
with the sentence's unconditional log-probability, the bare sentence exactly as
``LMSignal`` scores it (a cache hit in ``CausalLM``). Per sentence with a source:

* ``src_logprob``: log p(sentence | source) (nats, summed over the sentence's tokens);
* ``src_pmi``: (log p(sentence | source) - log p(sentence)) / tokens, the mean per-token
  pointwise mutual information: high when the source explains the translation (adequacy),
  near zero or negative when the translation says something the source does not;
* ``src_len_ratio``: log(sentence characters / source characters), a classic omission cue;
* the per-token profile (version 2): ``src_pmi_min``, ``src_pmi_p10`` and ``src_pmi_low``
  (share of tokens below -0.5 nats) of the per-token PMI, and ``src_surprisal_max`` /
  ``src_surprisal_p90`` of the surprisal given the source: a mean hides a wrong word in a
  sentence that is otherwise fine (output columns; the quality heads do not use them, as
  they added nothing in cross-validation: README, *Agreement*).

With the default model the signal also hands the quality model, as the vector
``src_pooled``, the mean hidden states of the sentence's tokens in the conditional pass at
``POOLED_LAYERS`` (:mod:`mtqa.heads.quality`, state heads); no writer writes it.

Rows without a source get NaN (the combiner then uses its target-only head, per row).

Unit ``segment``: each row's source conditions its one segment. Unit ``article``: each
sentence is conditioned on the article's whole source when that source has at most
``max_source_chars`` characters (the sentence/source alignment is unknown, so the whole
source is the context); longer sources give NaN and the sentence falls back to the
target-only head.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from mtqa.models.lm import CausalLM
from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.types import Article

COND_TEMPLATE = "Source: {source}\nEnglish translation: "
#: hidden-state layers whose mean over the sentence's tokens (in the conditional pass) the
#: signal hands the quality model as the vector ``src_pooled``: early, middle and last of
#: Gemma 3 270M's 18 layers (chosen by cross-validation on the training rows, README)
POOLED_LAYERS = (6, 12, 18)
#: a token whose PMI is below this (nats) is one the source makes *less* likely: ``src_pmi_low``
LOW_PMI = -0.5


def source_for(article: Article, unit: str, max_source_chars: int) -> str | None:
    """The source text each sentence of ``article`` is compared with, or None (no source; or,
    unit ``article``, a source of several sentences longer than ``max_source_chars``, whose
    alignment to one sentence is unknown)."""
    src = article.source
    if src is None or not str(src).strip():
        return None
    src = str(src)
    if unit == "article" and len(article.sentences) > 1 and len(src) > max_source_chars:
        return None
    return src


def conditional_prompt(source: str, target: str) -> tuple[str, int]:
    """The prompt ``target`` is scored in, and the offset where ``target`` starts in it
    (the source's whitespace collapsed to single spaces, so a source's line breaks cannot
    imitate the template's)."""
    cond = COND_TEMPLATE.format(source=" ".join(source.split()))
    return cond + target, len(cond)


def token_pmi(cond: np.ndarray, bare: np.ndarray) -> np.ndarray:
    """Per-token PMI log p(t | source) - log p(t) of the sentence's tokens, aligned from the
    end (the two tokenisations agree after the first token; the first, which carries the
    prompt's space in the conditional pass, is left out when there are others)."""
    n = min(len(cond), len(bare))
    pmi = cond[len(cond) - n:].astype(np.float64) - bare[len(bare) - n:]
    return pmi[1:] if n > 1 else pmi


def source_columns(cond: np.ndarray, bare: np.ndarray, text: str, source: str) -> dict[str, float] | None:
    """The columns from the sentence's conditional and bare token log-probs (None when
    either is empty). ``src_pmi``: sums over the whole target (token counts may differ by
    one at the boundary), divided by the conditional's target tokens. The per-token
    profile (``src_pmi_min``, ``src_pmi_p10``, ``src_pmi_low``) finds a stretch the source
    does not explain inside a sentence whose mean PMI looks fine; the conditional
    surprisal's tail (``src_surprisal_max``, ``src_surprisal_p90``) finds a token that is
    unlikely even given the source (a mistranslated word)."""
    if len(cond) == 0 or len(bare) == 0:
        return None
    cond_sum = float(cond.sum())
    pmi = token_pmi(cond, bare)
    surprisal = -cond.astype(np.float64)
    return {"src_logprob": cond_sum, "src_pmi": (cond_sum - float(bare.sum())) / len(cond),
            "src_len_ratio": math.log(max(len(text), 1) / max(len(source), 1)),
            "src_pmi_min": float(pmi.min()), "src_pmi_p10": float(np.percentile(pmi, 10)),
            "src_pmi_low": float((pmi < LOW_PMI).mean()),
            "src_surprisal_max": float(surprisal.max()), "src_surprisal_p90": float(np.percentile(surprisal, 90))}


class SourceSignal(Signal):
    name = "source"
    version = "2"
    columns = (
        Column("src_logprob", "float32", "log p(sentence | source) under the LM prompted as a translation (nats); NaN without a source"),
        Column("src_pmi", "float32", "mean per-token PMI of the sentence with its source: (log p(t|s) - log p(t)) / tokens (nats); NaN without a source"),
        Column("src_len_ratio", "float32", "log(sentence characters / source characters); NaN without a source"),
        Column("src_pmi_min", "float32", "lowest per-token PMI with the source (nats; the first token left out); NaN without a source"),
        Column("src_pmi_p10", "float32", "10th percentile of the per-token PMI with the source (nats); NaN without a source"),
        Column("src_pmi_low", "float32", "share of the sentence's tokens with PMI below -0.5 nats; NaN without a source"),
        Column("src_surprisal_max", "float32", "highest surprisal of a token given the source (nats); NaN without a source"),
        Column("src_surprisal_p90", "float32", "90th percentile of the token surprisals given the source (nats); NaN without a source"),
    )
    labels: dict[str, str] = {}

    def __init__(self, lm: CausalLM, *, unit: str = "segment", max_source_chars: int = 1000,
                 pooled_layers: Sequence[int] | None = None):
        self.lm = lm
        self.unit = unit
        self.max_source_chars = max_source_chars
        # the pooled states are a Gemma-3-270M reading (the layers are its); another model's
        # quality heads have no state head, so nothing is pooled for it
        depth = getattr(getattr(getattr(lm, "model", None), "config", None), "num_hidden_layers", None)
        default = POOLED_LAYERS if depth == max(POOLED_LAYERS) else ()
        self.pooled_layers = tuple(default if pooled_layers is None else pooled_layers)

    def settings(self) -> dict:
        return {"template": "Source:/English translation:", "max_source_chars": self.max_source_chars,
                "max_tokens": self.lm.max_tokens, "log": "e", "pooled_layers": "/".join(map(str, self.pooled_layers))}

    def _source_for(self, article: Article) -> str | None:
        return source_for(article, self.unit, self.max_source_chars)

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        sentences = flatten(articles)
        n = len(sentences)
        out = SignalOutput.empty(n)
        nan = float("nan")
        cols = {c.name: [nan] * n for c in self.columns}
        jobs: list[tuple[int, str, int, str]] = []  # sentence index, prompt, target offset, source
        k = 0
        for a in articles:
            src = self._source_for(a)
            for s in a.sentences:
                if src is not None and s.text.strip():
                    jobs.append((k, *conditional_prompt(src, s.text), src))
                k += 1
        pooled: list[Any] = [None] * n
        if jobs:
            cond, states = self.lm.suffix_logprobs([j[1] for j in jobs], [j[2] for j in jobs],
                                                   pooled_layers=self.pooled_layers)
            # log p(target): the bare sentence, exactly as LMSignal scores it (a cache hit there)
            bare = self.lm.score([sentences[j[0]].text for j in jobs])
            for j, (idx, _prompt, _start, src) in enumerate(jobs):
                values = source_columns(cond[j], bare[j].logprobs, sentences[idx].text, src)
                if values is not None:
                    for name, v in values.items():
                        cols[name][idx] = v
                    if self.pooled_layers:
                        pooled[idx] = states[j]
        out.columns = cols
        if self.pooled_layers:
            out.vectors = {"src_pooled": pooled}
        return out
