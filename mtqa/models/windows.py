"""Scoring many short windows that continue a shared prefix, packed into few forward passes.

A re-scoring signal (the word-order search) asks: given the tokens ``prefix[:start]``, how
probable is ``window``? Many windows share one prefix (the candidates of one sentence), so
they are *packed*: a :class:`WindowGroup` is laid out as the prefix once, then every window's
tokens, with a 4D attention mask (each window sees the prefix up to its own start, and itself)
and position ids that restart at each window's start. Several groups then share one row of the
batch (first fit, longest first, rows as long as the longest group), each seeing only itself,
so a batch holds almost no padding: with one group per row, a third of the tokens of 300
sentences' windows were padding. Rows longer than the longest group cost more per token (on
600 fluent sentences: 1.65 ms a token in rows of 192 against 1.56 ms, the body's time varying
by 0.15 ms between repeats). The prefix runs through the model once per group.

The pass is split in two, so that a caller can decide which windows are worth the output
layer: :func:`window_states` runs the model's body and returns, per window, the hidden states
that predict its tokens (:class:`WindowStates`); :func:`score_windows` runs the output layer
(:meth:`CausalLM.head_logprobs`, no entropy) on all of them. The body runs in
:meth:`CausalLM.rescoring_precision` (bfloat16 where it is native). Models whose attention
takes no 4D mask get one row per window instead.

When the base pass kept each sentence's attention keys and values (``CausalLM(keep_kv=True)``,
:attr:`TokenScores.kv`) and every window's first log-prob is known, the prefix does not run
again: a row's cache holds its groups' prefixes and the body runs over the windows' tokens
only (:func:`_continued_states`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    from mtqa.models.lm import CausalLM

@dataclass
class WindowGroup:
    """Windows that share one prefix: window ``i`` scores ``windows[i]`` after ``prefix[:starts[i]]``."""

    prefix: Sequence[int]
    starts: list[int]
    windows: list[Sequence[int]]

    def packed_length(self) -> int:
        return 1 + max(self.starts) + sum(max(len(w) - 1, 0) for w in self.windows)


@dataclass
class WindowStates:
    """The body pass's result: for every window, the hidden states that predict its tokens.

    ``rows[g][w]`` are the indices (into ``hidden`` and ``targets``) of window ``w`` of group
    ``g``, in token order, without its first token when ``known[g][w]`` gives that one's
    log-prob. ``hidden`` is None for a model without a separable body: the pass then computed
    the log-probs itself (``computed``), and the output layer is not asked again.
    """

    hidden: torch.Tensor | None
    targets: torch.Tensor
    rows: list[list[np.ndarray]]
    known: list[list[float | None]]
    computed: np.ndarray | None = None

    def window_logprobs(self, g: int, w: int, row_logprobs: np.ndarray) -> np.ndarray:
        """Window ``w`` of group ``g``'s float32 log-probs, from per-row log-probs (indexed like ``hidden``)."""
        part = np.asarray(row_logprobs[self.rows[g][w]], dtype=np.float32)
        k = self.known[g][w]
        return part if k is None else np.concatenate([np.array([k], np.float32), part])


def attention_mask_4d(lm: "CausalLM", allowed: torch.Tensor) -> torch.Tensor | None:
    """``allowed`` [rows, q, k] (bool) in the form the model's attention takes (None: it takes
    no 4D mask, so nothing can be packed)."""
    impl = getattr(lm.model.config, "_attn_implementation", None)
    if impl == "sdpa":
        return allowed[:, None]
    if impl == "eager":
        dtype = next(lm.model.parameters()).dtype
        out = torch.zeros(allowed.shape, dtype=dtype)
        out.masked_fill_(~allowed, torch.finfo(dtype).min)
        return out[:, None]
    return None


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Items (by index) packed into rows of at most ``capacity`` tokens: first fit, longest first.

    Deterministic (ties keep index order); an item longer than ``capacity`` gets a row of its own.
    """
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, room in enumerate(free):
            if lengths[i] <= room:
                rows[r].append(i)
                free[r] -= lengths[i]
                break
        else:
            rows.append([i])
            free.append(capacity - lengths[i])
    return rows


def _cache_argument(decoder) -> str | None:
    """The name under which the decoder takes a key/value cache (``cache`` in transformers >= 5.2x,
    ``past_key_values`` before); None when it takes neither."""
    import inspect

    params = inspect.signature(decoder.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in params), None)


@torch.inference_mode()
def window_states(lm: "CausalLM", groups: Sequence[WindowGroup],
                  first: Sequence[Sequence[float | None]] | None = None,
                  kv: Sequence[np.ndarray | None] | None = None) -> WindowStates:
    """The model's body over all windows (packed); see :class:`WindowStates`.

    ``first[g][w]``, when given and not None, is the log-prob of window ``w``'s first token,
    known already (it is predicted from the unchanged prefix, as in the base pass): no state is
    kept for it. Batches follow the model's ``batch_tokens``/``batch_size``.

    ``kv[g]``: the base pass's attention keys and values of group ``g``'s prefix
    (:attr:`TokenScores.kv`). When every group has them and every window's first log-prob is
    known, the body runs over the windows' own tokens only, continuing from those keys and
    values (:func:`_continued_states`) instead of running over each prefix again (41% of this
    pass's tokens on the bundled articles with 10% perturbed sentences; README, *Word order*).
    """
    decoder, _head = lm._decoder_and_head()
    packable = decoder is not None and attention_mask_4d(lm, torch.ones(1, 1, 1, dtype=torch.bool)) is not None
    if (packable and kv is not None and len(kv) == len(groups) and all(x is not None for x in kv)
            and first is not None and all(f is not None for fs in first for f in fs)
            and _cache_argument(decoder) is not None):
        return _continued_states(lm, decoder, groups, first, kv)
    known = [[first[g][w] if first is not None else None for w in range(len(grp.windows))]
             for g, grp in enumerate(groups)]
    # the units a row may hold: whole groups when packable, else one window each (with its prefix)
    if packable:
        units = [(g, list(range(len(grp.windows)))) for g, grp in enumerate(groups) if grp.windows]
    else:
        units = [(g, [w]) for g, grp in enumerate(groups) for w in range(len(grp.windows))]
    lengths = [WindowGroup(groups[g].prefix, [groups[g].starts[w] for w in ws],
                           [groups[g].windows[w] for w in ws]).packed_length() for g, ws in units]
    if packable:
        layout = pack_rows(lengths, max(lengths, default=0))
    else:
        layout = [[u] for u in range(len(units))]
    row_len = [sum(lengths[u] for u in row) for row in layout]
    hidden_parts: list[torch.Tensor] = []
    target_parts: list[int] = []
    computed_parts: list[np.ndarray] = []
    rows_of: dict[tuple[int, int], np.ndarray] = {}
    n_rows = 0
    for batch in lm.batches(row_len):
        width = max(row_len[r] for r in batch)
        ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
        pos = torch.zeros((len(batch), width), dtype=torch.long)
        allowed = torch.zeros((len(batch), width, width), dtype=torch.bool)
        b_rows, b_cols, b_targets, b_keys = [], [], [], []
        for r, layout_row in enumerate(batch):
            base = 0
            for u in layout[layout_row]:
                g, ws = units[u]
                grp = groups[g]
                P = max(grp.starts[w] for w in ws)
                ids[r, base: base + P + 1] = torch.tensor([lm.prefix_id] + list(grp.prefix[:P]))
                pos[r, base: base + P + 1] = torch.arange(P + 1)
                allowed[r, base: base + P + 1, base: base + P + 1] = torch.tril(torch.ones(P + 1, P + 1, dtype=torch.bool))
                cursor = base + P + 1
                for w in ws:
                    s, win = grp.starts[w], grp.windows[w]
                    n_in = max(len(win) - 1, 0)  # the window's last token is only a target
                    if n_in:
                        ids[r, cursor:cursor + n_in] = torch.tensor(list(win[:n_in]))
                        pos[r, cursor:cursor + n_in] = torch.arange(s + 1, s + 1 + n_in)
                        allowed[r, cursor:cursor + n_in, base: base + s + 1] = True
                        allowed[r, cursor:cursor + n_in, cursor:cursor + n_in] = torch.tril(
                            torch.ones(n_in, n_in, dtype=torch.bool))
                    # window token k is predicted at prefix position s (k = 0), then at window input k-1
                    skip = 1 if win and known[g][w] is not None else 0
                    cols = ([base + s] + list(range(cursor, cursor + n_in)))[skip:]
                    b_keys.append(((g, w), len(cols)))
                    b_rows += [r] * len(cols)
                    b_cols += cols
                    b_targets += list(win)[skip:]
                    cursor += n_in
                base += lengths[u]
            # padding attends to the row's first token only (its output is never read); real tokens
            # never do unless it is their own group's start
            allowed[r, base:, 0] = True
        r_t = torch.tensor(b_rows, dtype=torch.long, device=lm.device)
        c_t = torch.tensor(b_cols, dtype=torch.long, device=lm.device)
        if packable:
            mask = attention_mask_4d(lm, allowed)
            with lm.rescoring_precision():
                hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                                 position_ids=pos.to(lm.device), use_cache=False).last_hidden_state
            hidden_parts.append(hidden[r_t, c_t])
        else:  # one window per row: a plain causal model with right padding
            mask2d = allowed.diagonal(dim1=1, dim2=2).long()
            if decoder is not None:
                hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask2d.to(lm.device),
                                 use_cache=False).last_hidden_state
                hidden_parts.append(hidden[r_t, c_t])
            else:
                logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask2d.to(lm.device)).logits[r_t, c_t]
                logits = logits.float()
                if lm.softcap:
                    logits = torch.tanh(logits / lm.softcap) * lm.softcap
                tgt = torch.tensor(b_targets, dtype=torch.long, device=lm.device)
                computed_parts.append(
                    (logits.gather(1, tgt[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)).cpu().numpy())
        target_parts += b_targets
        for key, size in b_keys:
            rows_of[key] = np.arange(n_rows, n_rows + size)
            n_rows += size
    empty = np.zeros(0, dtype=np.int64)
    rows = [[rows_of.get((g, w), empty) for w in range(len(grp.windows))] for g, grp in enumerate(groups)]
    hidden_all = torch.cat(hidden_parts) if hidden_parts else None
    computed = np.concatenate(computed_parts) if computed_parts else None
    if hidden_all is None and computed is None:
        computed = np.zeros(0, np.float32)
    return WindowStates(hidden_all, torch.tensor(target_parts, dtype=torch.long, device=lm.device), rows, known,
                        computed)


def _continued_states(lm: "CausalLM", decoder, groups: Sequence[WindowGroup], first: Sequence[Sequence[float]],
                      kv: Sequence[np.ndarray]) -> WindowStates:
    """:func:`window_states` continuing from the base pass's keys and values.

    A group's *inputs* are its windows' tokens but the last, which is only a target (a window's
    first token is predicted from the prefix, and its log-prob is known). Groups are packed
    into rows by their inputs (first fit, longest first, as :func:`pack_rows` does for the
    packed pass); a row's cache holds its groups' prefixes one after another, each up to its
    latest window start, with the base pass's keys and values. Each input sees its own
    group's prefix up to its window's start and its window's earlier inputs (a 4D mask over
    cache + inputs), at the positions the tokens would have in the candidate. Same log-probs
    as the packed pass up to float rounding (the keys and values are stored in float16).
    """
    known = [list(fs) for fs in first]
    arg = _cache_argument(decoder)
    kv_dtype = torch.bfloat16 if lm.rescoring_dtype() == "bfloat16" else lm.dtype
    inputs = [[list(win[:max(len(win) - 1, 0)]) for win in grp.windows] for grp in groups]
    q_len = [sum(len(x) for x in ins) for ins in inputs]
    p_len = [max(grp.starts) + 1 if grp.starts else 0 for grp in groups]
    todo = [g for g in range(len(groups)) if q_len[g]]
    layout = [[todo[i] for i in row] for row in pack_rows([q_len[g] for g in todo], max((q_len[g] for g in todo), default=0))]
    row_q = [sum(q_len[g] for g in row) for row in layout]
    row_ctx = [sum(p_len[g] for g in row) for row in layout]
    hidden_parts: list[torch.Tensor] = []
    target_parts: list[int] = []
    rows_of: dict[tuple[int, int], np.ndarray] = {}
    n_rows = 0
    layers, _, heads, _, dim = kv[todo[0]].shape if todo else (0, 2, 0, 0, 0)
    # rows of similar input counts share a batch: at most batch_tokens cached + input tokens (its
    # memory), cut by input tokens (its work; the cache is only read, by the attention)
    for batch in lm.batches([row_q[r] + row_ctx[r] for r in range(len(layout))], sort_keys=row_q, work=row_q):
        width = max(row_q[r] for r in batch)
        ctx = max(row_ctx[r] for r in batch)
        ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
        pos = torch.zeros((len(batch), width), dtype=torch.long)
        allowed = torch.zeros((len(batch), width, ctx + width), dtype=torch.bool)
        past = np.zeros((layers, 2, len(batch), heads, ctx, dim), dtype=np.float16)
        b_rows, b_cols = [], []
        for r, row in enumerate(batch):
            c_base, cursor = 0, 0
            for g in layout[row]:
                grp = groups[g]
                past[:, :, r, :, c_base:c_base + p_len[g]] = kv[g][:, :, :, :p_len[g]]
                for w, (s, ins) in enumerate(zip(grp.starts, inputs[g])):
                    n = len(ins)
                    if not n:
                        continue
                    ids[r, cursor:cursor + n] = torch.tensor(ins)
                    pos[r, cursor:cursor + n] = torch.arange(s + 1, s + 1 + n)
                    allowed[r, cursor:cursor + n, c_base:c_base + s + 1] = True  # the start token and prefix[:s]
                    allowed[r, cursor:cursor + n, ctx + cursor:ctx + cursor + n] = torch.tril(
                        torch.ones(n, n, dtype=torch.bool))
                    rows_of[(g, w)] = np.arange(n_rows, n_rows + n)
                    n_rows += n
                    b_rows += [r] * n
                    b_cols += list(range(cursor, cursor + n))
                    target_parts += list(grp.windows[w][1:])
                    cursor += n
                c_base += p_len[g]
            allowed[r, cursor:, 0] = True  # padding inputs see the first cached token (their output is never read)
        cache = lm.new_cache()
        past_t = torch.from_numpy(past).to(lm.device, kv_dtype)
        for layer in range(layers):
            cache.update(past_t[layer, 0], past_t[layer, 1], layer)
        mask = attention_mask_4d(lm, allowed)
        with lm.rescoring_precision():
            hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                             position_ids=pos.to(lm.device), use_cache=True, **{arg: cache}).last_hidden_state
        hidden_parts.append(hidden[torch.tensor(b_rows, device=lm.device), torch.tensor(b_cols, device=lm.device)])
    empty = np.zeros(0, dtype=np.int64)
    rows = [[rows_of.get((g, w), empty) for w in range(len(grp.windows))] for g, grp in enumerate(groups)]
    hidden_all = torch.cat(hidden_parts) if hidden_parts else None
    computed = None if hidden_all is not None else np.zeros(0, np.float32)
    return WindowStates(hidden_all, torch.tensor(target_parts, dtype=torch.long, device=lm.device), rows, known,
                        computed)


def score_windows(lm: "CausalLM", groups: Sequence[WindowGroup],
                  first: Sequence[Sequence[float | None]] | None = None) -> list[list[np.ndarray]]:
    """Per group, per window: float32 log-prob of each window token given the prefix and the window before it.

    The body pass of :func:`window_states`, then the output layer on every window state.
    """
    states = window_states(lm, groups, first)
    if states.computed is not None:
        lp = states.computed
    else:
        lp = lm.head_logprobs(states.hidden, states.targets).cpu().numpy()
    return [[states.window_logprobs(g, w, lp) for w in range(len(grp.windows))] for g, grp in enumerate(groups)]
