"""Source-conditioned PMI: how much the source raises the LM's probability of the translation.

In the spirit of Prism (Thompson & Post 2020), a multilingual LM (Gemma 3 is one) scores the
English sentence conditioned on its source, prompted as a translation task,

    conditional:   "Source: {source}\nEnglish translation: {sentence}"

reading only the sentence's tokens (by the character offsets of the scored text; the
output head runs only on those positions, see :func:`suffix_logprobs`), and compares it
with the sentence's unconditional log-probability, the bare sentence exactly as
``LMSignal`` scores it (a cache hit in ``CausalLM``). Per sentence with a source:

* ``src_logprob``: log p(sentence | source) (nats, summed over the sentence's tokens);
* ``src_pmi``: (log p(sentence | source) - log p(sentence)) / tokens, the mean per-token
  pointwise mutual information: high when the source explains the translation (adequacy),
  near zero or negative when the translation says something the source does not;
* ``src_len_ratio``: log(sentence characters / source characters), a classic omission cue.

Rows without a source get NaN (the combiner then uses its target-only head, per row).

Unit ``segment``: each row's source conditions its one segment. Unit ``article``: each
sentence is conditioned on the article's whole source when that source has at most
``max_source_chars`` characters (the sentence/source alignment is unknown, so the whole
source is the context); longer sources give NaN and the sentence falls back to the
target-only head.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from mtqa.models.lm import CausalLM, TokenScores
from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.types import Article

COND_TEMPLATE = "Source: {source}\nEnglish translation: "
UNCOND_TEMPLATE = "English translation: "


def target_logprobs(ts: TokenScores, target_start: int) -> np.ndarray:
    """Log-probabilities of the tokens that overlap the text from ``target_start`` on.

    A token that straddles the boundary (e.g. a leading space merged with the first word)
    counts as the target's; both prompts end with the same characters, so the conditional
    and the unconditional text split the target identically.
    """
    if len(ts.logprobs) == 0:
        return ts.logprobs
    keep = ts.offsets[:, 1] > target_start
    return ts.logprobs[keep]


def prompt_pair(source: str, target: str) -> tuple[str, int, str, int]:
    """(conditional text, its target offset, unconditional text, its target offset)."""
    source = " ".join(source.split())
    cond = COND_TEMPLATE.format(source=source)
    return cond + target, len(cond), UNCOND_TEMPLATE + target, len(UNCOND_TEMPLATE)


@torch.inference_mode()
def suffix_logprobs(lm: CausalLM, texts: Sequence[str], starts: Sequence[int], *,
                    batch_tokens: int = 4096, batch_size: int = 64) -> list[np.ndarray]:
    """Log-probabilities of the tokens of ``texts[i]`` that overlap ``texts[i][starts[i]:]``.

    Like ``CausalLM.score`` but the output head (the costly part of a 262k-vocabulary model)
    runs only on the positions that predict those tokens, not on the prompt; no entropies.
    Texts longer than the LM's ``max_tokens`` keep their *last* ``max_tokens`` tokens, so the
    target survives a long source.
    """
    tok = lm.tokenizer
    enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(texts)
    seqs, first = [], []
    for ids, offs, start in zip(enc["input_ids"], enc["offset_mapping"], starts):
        k = next((j for j, (_a, b) in enumerate(offs) if b > start), len(ids))
        ids = list(ids)
        if len(ids) > lm.max_tokens:
            cut = len(ids) - lm.max_tokens
            ids, k = ids[cut:], max(0, k - cut)
        seqs.append([lm.prefix_id] + ids)
        first.append(k)  # index (in ids) of the first target token
    order = sorted(range(len(texts)), key=lambda i: len(seqs[i]))
    decoder, head = lm._decoder_and_head()
    batch: list[int] = []

    def run(batch):
        width = max(len(seqs[i]) for i in batch)
        input_ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            input_ids[r, : len(seqs[i])] = torch.tensor(seqs[i])
            mask[r, : len(seqs[i])] = 1
        input_ids, mask = input_ids.to(lm.device), mask.to(lm.device)
        if decoder is not None:
            hidden = decoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        else:
            hidden = None
            logits_all = lm.model(input_ids=input_ids, attention_mask=mask).logits
        for r, i in enumerate(batch):
            n = len(seqs[i]) - 1  # tokens of the text; position t predicts token t (of ids)
            k = first[i]
            if k >= n:
                continue
            targets = input_ids[r, 1 + k: 1 + n]
            logits = head(hidden[r, k:n]) if hidden is not None else logits_all[r, k:n]
            logits = logits.float()
            if lm.softcap:
                logits = torch.tanh(logits / lm.softcap) * lm.softcap
            lp = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
            results[i] = lp.cpu().numpy().astype(np.float32)

    for i in order:
        n = len(seqs[i])
        if batch and (len(batch) + 1 > batch_size or (len(batch) + 1) * n > batch_tokens):
            run(batch)
            batch = []
        batch.append(i)
    if batch:
        run(batch)
    return results


class SourceSignal(Signal):
    name = "source"
    version = "1"
    columns = (
        Column("src_logprob", "float32", "log p(sentence | source) under the LM prompted as a translation (nats); NaN without a source"),
        Column("src_pmi", "float32", "mean per-token PMI of the sentence with its source: (log p(t|s) - log p(t)) / tokens (nats); NaN without a source"),
        Column("src_len_ratio", "float32", "log(sentence characters / source characters); NaN without a source"),
    )
    labels: dict[str, str] = {}

    def __init__(self, lm: CausalLM, *, unit: str = "segment", max_source_chars: int = 1000,
                 batch_tokens: int = 4096, batch_size: int = 64):
        self.lm = lm
        self.unit = unit
        self.max_source_chars = max_source_chars
        self.batch_tokens = batch_tokens
        self.batch_size = batch_size

    def settings(self) -> dict:
        return {"template": "Source:/English translation:", "max_source_chars": self.max_source_chars,
                "max_tokens": self.lm.max_tokens, "log": "e"}

    def _source_for(self, article: Article) -> str | None:
        src = article.source
        if src is None or not str(src).strip():
            return None
        src = str(src)
        if self.unit == "article" and len(article.sentences) > 1 and len(src) > self.max_source_chars:
            return None
        return src

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        sentences = flatten(articles)
        n = len(sentences)
        out = SignalOutput.empty(n)
        nan = float("nan")
        cols = {c.name: [nan] * n for c in self.columns}
        jobs: list[tuple[int, str, int, str, int, str]] = []
        k = 0
        for a in articles:
            src = self._source_for(a)
            for s in a.sentences:
                if src is not None and s.text.strip():
                    cond, c0, unc, u0 = prompt_pair(src, s.text)
                    jobs.append((k, cond, c0, unc, u0, src))
                k += 1
        if jobs:
            cond = suffix_logprobs(self.lm, [j[1] for j in jobs], [j[2] for j in jobs],
                                   batch_tokens=self.batch_tokens, batch_size=self.batch_size)
            # log p(target): the bare sentence, exactly as LMSignal scores it (a cache hit there)
            bare = self.lm.score([sentences[j[0]].text for j in jobs], batch_tokens=self.batch_tokens,
                                 batch_size=self.batch_size)
            for j, (idx, _cond, _c0, _unc, _u0, src) in enumerate(jobs):
                lp_c, lp_u = cond[j], bare[j].logprobs
                if len(lp_c) == 0 or len(lp_u) == 0:
                    continue
                cond_sum = float(lp_c.sum())
                cols["src_logprob"][idx] = cond_sum
                # per-token PMI: sums over the whole target (token counts may differ by one
                # at the boundary), divided by the conditional's target tokens
                cols["src_pmi"][idx] = (cond_sum - float(lp_u.sum())) / len(lp_c)
                cols["src_len_ratio"][idx] = math.log(max(len(sentences[idx].text), 1) / max(len(src), 1))
        out.columns = cols
        return out
