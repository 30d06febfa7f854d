"""Batch building for the model's forward passes: length-sorted batches, right padding, softcap,
and the vocabulary-major log-normaliser.

Every pass of :class:`mtqa.models.lm.CausalLM` (the base scoring pass, the source-conditioned
pass, the word-order windows, a body-only pass) batches the same way, so it is written once:

* rows are sorted by length and cut into batches of at most ``batch_size`` rows and
  ``batch_tokens`` padded tokens (``rows x longest row``) where padding plus a fixed cost per
  batch is least: rows of similar length share a batch, and results go back to the caller's
  order by index;
* a batch is right-padded (``pad_id``) with an attention mask of ones on real tokens.

The vocabulary-major output layer runs on a multiple of 16 states (:func:`aligned_states`).

Batch composition is part of the numbers (padding changes kernel shapes, so floats can move
in their last bits): the batches depend only on the rows and the model's batch settings,
never on which signal asks.
"""

from __future__ import annotations

from typing import Sequence

import torch


#: what a batch costs beyond its padded tokens, in tokens (:func:`length_batches`)
BATCH_COST = 64


def length_batches(lengths: Sequence[int], batch_tokens: int, batch_size: int,
                   sort_keys: Sequence[int] | None = None, batch_cost: int | None = None,
                   work: Sequence[int] | None = None) -> list[list[int]]:
    """Row indices grouped by increasing length; each group at most ``batch_size`` rows and
    ``batch_tokens`` padded tokens (a single row longer than that still gets its own batch).

    ``lengths[i]`` is row i's padded length; rows are sorted (stably) by ``sort_keys`` when
    given (the base pass sorts by untruncated length), else by ``lengths``. The sorted rows
    are cut where the padded tokens (rows x longest row, summed over batches) plus
    ``batch_cost`` per batch are least (an exact dynamic programme, O(rows x batch_size)).
    Until session 19 they were cut greedily, each batch as full as the limits allowed: on 300
    news sentences of 7,456 tokens that ran 9,484 through the body (the longest sentences of
    all in one batch with shorter ones); cut by cost, 7,837 tokens in 9 batches instead of 4.
    ``batch_cost`` (default :data:`BATCH_COST`) stands for a batch's fixed work (the body's
    Python, smaller and so slower matrix products): 32, 64 and 128 ran within noise of each
    other on that text (benchmarks/logs/speed.md, session 19).

    ``work[i]`` (default ``lengths[i]``): what row i costs per padded position, where that is
    not what the ``batch_tokens`` cap counts. The word-order windows' continued pass
    (:func:`mtqa.models.windows._continued_states`) computes a row's new tokens only, while its
    memory also holds the row's cached prefixes: capped by cached + new tokens, cut by new ones.
    Cut by cached + new tokens, the windows of 267 perturbed sentences ran in 14 batches (many
    of 2-6 rows, split to spare cache padding that costs little work); cut by new tokens in 3, and
    the pass took 6.4-6.6 s instead of 6.9-7.7 s (session 20).
    """
    keys = lengths if sort_keys is None else sort_keys
    work = lengths if work is None else work
    cost = BATCH_COST if batch_cost is None else batch_cost
    order = sorted(range(len(lengths)), key=lambda i: keys[i])
    n = len(order)
    best = [0] + [None] * n  # best[j]: least cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = widest = 0
        for i in range(j - 1, max(j - 1 - batch_size, -1), -1):  # the batch order[i:j]
            longest = max(longest, lengths[order[i]])
            widest = max(widest, work[order[i]])
            size = j - i
            if size > 1 and size * longest > batch_tokens:
                break
            total = best[i] + size * widest + cost
            if best[j] is None or total < best[j]:
                best[j], cut[j] = total, i
    out: list[list[int]] = []
    j = n
    while j:
        out.append(order[cut[j]:j])
        j = cut[j]
    return out[::-1]


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


def column_logsumexp_(zt: torch.Tensor) -> torch.Tensor:
    """log-sum-exp of each column of vocabulary-major logits ``zt`` [vocab, rows], overwriting
    ``zt`` with its exponentials (callers pass a buffer they own). The re-scoring passes compute
    the output layer as ``weight @ h.T``, faster than ``h @ weight.T`` on the CPU, and reduce it
    where the product left it (:meth:`mtqa.models.lm.CausalLM.head_logprobs`,
    :meth:`~mtqa.models.lm.CausalLM.head_logprob_bounds`)."""
    m = zt.amax(dim=0)
    return zt.sub_(m).exp_().sum(0).log_() + m


#: the vocabulary-major output layer runs on a multiple of this many states (:func:`aligned_states`)
STATE_ALIGN = 16


def aligned_count(n: int) -> int:
    """How many states the vocabulary-major output layer runs on for ``n``: ``n`` rounded up to a
    multiple of :data:`STATE_ALIGN`, or ``n`` itself below 12 (see :func:`aligned_states`)."""
    return n if n < 12 else n + (-n % STATE_ALIGN)


def aligned_states(h: torch.Tensor) -> torch.Tensor:
    """``h`` [states, hidden] with zero states appended up to :func:`aligned_count` of them: the
    states ``weight @ h.T`` and the reductions over its vocabulary axis should run on.

    The product's result [vocab, states] has rows ``states`` floats long, and on the CPU both
    the matrix product and the column-wise log-sum-exp run far slower when that is not a
    multiple of 16: against Gemma 3's [262,144 x 640] output matrix (2-core AVX2 CPU, float32,
    session 21) 169 states took 647 ms and 176 states 440 ms, 133 took 533 ms and 144 took 385,
    255 took 1,009 and 256 took 610; below 12 states the padding costs more than it saves (11:
    98 ms as they are, 110 padded to 16; 12: 127 against 110). The padded columns are computed
    and dropped; the real columns' products come out the same bits, their log-normalisers within
    float32 rounding (the column reduction's vector remainder moves: ``tests/models/test_lm.py``).
    Every partial chunk pays this: the last of each base pass, the word-order search's exact
    rounds and its shortlist bounds.
    """
    n = h.shape[0]
    extra = aligned_count(n) - n
    return torch.cat([h, h.new_zeros(extra, *h.shape[1:])]) if extra else h
