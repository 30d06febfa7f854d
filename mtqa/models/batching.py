"""Batch building for the model's forward passes: length-sorted batches, right padding, softcap.

Every pass of :class:`mtqa.models.lm.CausalLM` (the base scoring pass, the source-conditioned
pass, the word-order windows, a body-only pass) batches the same way, so it is written once:

* rows are sorted by length and cut greedily into batches of at most ``batch_size`` rows and
  ``batch_tokens`` padded tokens (``rows x longest row``): rows of similar length share a
  batch, so padding stays small, and results go back to the caller's order by index;
* a batch is right-padded (``pad_id``) with an attention mask of ones on real tokens.

Batch composition is part of the numbers (padding changes kernel shapes, so floats can move
in their last bits): the batches depend only on the rows and the model's batch settings,
never on which signal asks.
"""

from __future__ import annotations

from typing import Sequence

import torch


def length_batches(lengths: Sequence[int], batch_tokens: int, batch_size: int,
                   sort_keys: Sequence[int] | None = None) -> list[list[int]]:
    """Row indices grouped by increasing length; each group at most ``batch_size`` rows and
    ``batch_tokens`` padded tokens (a single row longer than that still gets its own batch).

    ``lengths[i]`` is row i's padded length; rows are sorted (stably) by ``sort_keys`` when
    given (the base pass sorts by untruncated length), else by ``lengths``.
    """
    keys = lengths if sort_keys is None else sort_keys
    out: list[list[int]] = []
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: keys[i]):
        if batch and (len(batch) + 1 > batch_size or (len(batch) + 1) * lengths[i] > batch_tokens):
            out.append(batch)
            batch = []
        batch.append(i)
    if batch:
        out.append(batch)
    return out


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask`` (long tensors, CPU) of token sequences."""
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        input_ids[row, : len(s)] = torch.tensor(list(s))
        mask[row, : len(s)] = 1
    return input_ids, mask


def softcap_(logits: torch.Tensor, cap: float | None) -> torch.Tensor:
    """Gemma's final logit softcapping, ``cap * tanh(logits / cap)``, in place (no-op without a cap).

    Callers pass a tensor they own (a fresh output of the head, or a copy).
    """
    if cap:
        logits.div_(cap).tanh_().mul_(cap)
    return logits
