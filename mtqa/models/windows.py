"""Scoring many short windows that continue a shared prefix, packed into few forward passes.

A re-scoring signal (the word-order search) asks: given the tokens ``prefix[:start]``, how
probable is ``window``? Many windows share one prefix (the candidates of one sentence), so
they are *packed*: one sequence per :class:`WindowGroup` holds the prefix once, then every
window's tokens, with a 4D attention mask (each window sees the prefix up to its own start,
and itself) and position ids that restart at each window's start. The prefix runs through
the model once per group, and the output layer runs only on window tokens
(:meth:`CausalLM.head_logprobs`, no entropy). The pass runs in
:meth:`CausalLM.rescoring_precision` (bfloat16 for a float32 model). Models whose attention
takes no 4D mask get one row per window instead.
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


@torch.inference_mode()
def score_windows(lm: "CausalLM", groups: Sequence[WindowGroup],
                  first: Sequence[Sequence[float | None]] | None = None) -> list[list[np.ndarray]]:
    """Per group, per window: float32 log-prob of each window token given the prefix and the window before it.

    ``first[g][w]``, when given and not None, is the log-prob of window ``w``'s first token,
    known already (it is predicted from the unchanged prefix, as in the base pass): the output
    layer then skips it. Batches follow the model's ``batch_tokens``/``batch_size``.
    """
    decoder, _head = lm._decoder_and_head()
    packable = decoder is not None and attention_mask_4d(lm, torch.ones(1, 1, 1, dtype=torch.bool)) is not None
    where = [(g, w) for g in range(len(groups)) for w in range(len(groups[g].windows))]
    known_flat = [first[g][w] if first is not None else None for g, w in where]
    if packable:
        units = list(groups)
        bounds = np.cumsum([0] + [len(g.windows) for g in groups])
        known = [known_flat[bounds[g]:bounds[g + 1]] for g in range(len(groups))]
    else:
        units = [WindowGroup(g.prefix, [s], [w]) for g in groups for s, w in zip(g.starts, g.windows)]
        known = [[k] for k in known_flat]
    flat: list[np.ndarray] = []
    per_unit: dict[int, list[np.ndarray]] = {}
    live = [i for i, g in enumerate(units) if g.windows]
    for batch in lm.batches([units[i].packed_length() for i in live]):
        batch = [live[i] for i in batch]
        width = max(units[i].packed_length() for i in batch)
        ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
        pos = torch.zeros((len(batch), width), dtype=torch.long)
        allowed = torch.zeros((len(batch), width, width), dtype=torch.bool)
        allowed[:, :, 0] = True  # padding attends to the start token (its output is never read)
        rows, cols, targets = [], [], []
        sizes_of: dict[int, list[int]] = {i: [] for i in batch}
        for r, i in enumerate(batch):
            g = units[i]
            P = max(g.starts)
            ids[r, : P + 1] = torch.tensor([lm.prefix_id] + list(g.prefix[:P]))
            pos[r, : P + 1] = torch.arange(P + 1)
            allowed[r, : P + 1, : P + 1] = torch.tril(torch.ones(P + 1, P + 1, dtype=torch.bool))
            cursor = P + 1
            for s, w in zip(g.starts, g.windows):
                n_in = max(len(w) - 1, 0)  # the window's last token is only a target
                if n_in:
                    ids[r, cursor:cursor + n_in] = torch.tensor(list(w[:n_in]))
                    pos[r, cursor:cursor + n_in] = torch.arange(s + 1, s + 1 + n_in)
                    allowed[r, cursor:cursor + n_in, : s + 1] = True
                    allowed[r, cursor:cursor + n_in, cursor:cursor + n_in] = torch.tril(
                        torch.ones(n_in, n_in, dtype=torch.bool))
                # window token k is predicted at prefix position s (k = 0), then at window input k-1
                skip = 1 if w and known[i][len(sizes_of[i])] is not None else 0
                rows += [r] * (len(w) - skip)
                cols += ([s] + list(range(cursor, cursor + n_in)))[skip:]
                targets += list(w)[skip:]
                sizes_of[i].append(len(w) - skip)
                cursor += n_in
        if packable:
            mask = attention_mask_4d(lm, allowed)
            with lm.rescoring_precision():
                hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                                 position_ids=pos.to(lm.device), use_cache=False).last_hidden_state
        else:  # one window per row: a plain causal model with right padding
            mask2d = allowed.diagonal(dim1=1, dim2=2).long()
            if decoder is not None:
                hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask2d.to(lm.device),
                                 use_cache=False).last_hidden_state
            else:
                hidden = None
        r_t = torch.tensor(rows, dtype=torch.long, device=lm.device)
        c_t = torch.tensor(cols, dtype=torch.long, device=lm.device)
        tgt = torch.tensor(targets, dtype=torch.long, device=lm.device)
        if hidden is not None:
            lp = lm.head_logprobs(hidden[r_t, c_t], tgt).cpu().numpy()
        else:
            logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask2d.to(lm.device)).logits[r_t, c_t]
            logits = logits.float()
            if lm.softcap:
                logits = torch.tanh(logits / lm.softcap) * lm.softcap
            lp = (logits.gather(1, tgt[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)).cpu().numpy()
        cursor = 0
        for i in batch:
            out = []
            for w, size in enumerate(sizes_of[i]):
                part = lp[cursor:cursor + size].astype(np.float32)
                if size < len(units[i].windows[w]):
                    part = np.concatenate([np.array([known[i][w]], np.float32), part])
                out.append(part)
                cursor += size
            per_unit[i] = out
    for i, g in enumerate(units):
        flat.extend(per_unit.get(i, [np.zeros(0, np.float32) for _ in g.windows]))
    results: list[list[np.ndarray]] = [[] for _ in groups]
    for (g, _), lp in zip(where, flat):
        results[g].append(lp)
    return results
