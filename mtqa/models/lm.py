"""A causal language model that scores text: the one home of mtqa's forward passes.

Any Hugging Face causal LM (hub id or local folder) works. Signals ask :class:`CausalLM` for
numbers through its public methods only (they never touch the transformers model):

* :meth:`CausalLM.score`: per-token log-probs, entropies and character offsets of texts
  (cached by text: signals that read the same sentence share one pass), plus each token's
  last hidden state when the model was built with ``keep_hidden=True``;
* :meth:`CausalLM.suffix_logprobs`: log-probs of the tail of each text given its head
  (a sentence given a prompt with its source: source PMI);
* :meth:`CausalLM.score_windows`: log-probs of many short windows that continue a shared
  prefix (the word-order search's re-scoring), packed into few sequences;
* :meth:`CausalLM.window_states` (that pass's body alone), :meth:`CausalLM.hidden_states` (a
  body-only pass), :meth:`CausalLM.head_logprobs`, :meth:`CausalLM.head_logprob_bounds` and
  :meth:`CausalLM.token_logits` (the output layer on given hidden states).

Batch settings (``batch_tokens``, ``batch_size``) belong to the model, so every pass batches
the same way (:mod:`mtqa.models.batching`). Two details keep passes cheap: batches are sorted
by length so padding stays small (results come back in the caller's order), and the output
layer runs only on positions whose log-prob is wanted, in row chunks, so the ``tokens x
vocab`` logits matrix is never materialised whole (Gemma's vocabulary has 262k entries).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from mtqa.errors import ModelError
from mtqa.models.batching import aligned_count, aligned_states, column_logsumexp_, length_batches, pad_batch, softcap_
from mtqa.models.device import cpu_has_bf16, resolve_device, resolve_dtype  # noqa: F401 - re-exported
from mtqa.models.lazy_torch import complete_torch
from mtqa.models.tokenizer import SWITCH_S, load_tokenizer  # noqa: F401 - load_tokenizer re-exported


@dataclass(frozen=True)
class TokenScores:
    """Per-token scores of one text. ``offsets[i]`` is the (start, end) of token i in the text."""

    offsets: np.ndarray  # int32 [n, 2]
    logprobs: np.ndarray  # float32 [n], natural log of p(token | prefix)
    entropies: np.ndarray  # float32 [n], entropy (nats) of the predictive distribution
    truncated: bool
    # float16 [n, hidden]: the last hidden state that predicts token i (row i), kept only by a
    # model built with ``keep_hidden=True``; the word-order search reads it instead of running
    # the model's body over the sentence a second time.
    hidden: np.ndarray | None = None
    # float16 [layers, 2, kv heads, n + 1, head dim]: the attention keys and values of the start
    # token and the n tokens, kept only by a model built with ``keep_kv=True`` (within its
    # ``kv_budget``); the word-order search continues from them instead of running the model's
    # body over a sentence's prefix again (:func:`mtqa.models.windows.window_states`).
    kv: np.ndarray | None = None

    @property
    def surprisals(self) -> np.ndarray:
        return -self.logprobs


@dataclass(frozen=True)
class OutputRows:
    """Some rows of a model's output layer (float32, CPU): logits of those tokens as dot products."""

    ids: np.ndarray  # int64 [k], sorted, distinct
    weight: torch.Tensor  # float32 [k, hidden]
    bias: torch.Tensor | None  # float32 [k]
    softcap: float | None

    def logits(self, h: torch.Tensor, ids: torch.Tensor | np.ndarray) -> np.ndarray:
        """float64 softcapped logits of ``ids`` at float32 CPU states ``h``: [rows, len(ids)] for a 1D
        ``ids``, one per row ([rows, 1]) for ``ids`` of shape [rows, 1] (see :meth:`CausalLM.token_logits`)."""
        ids = np.asarray(ids)
        at = torch.from_numpy(np.searchsorted(self.ids, ids.reshape(-1)))
        w = self.weight[at].to(h.device)
        b = self.bias[at].to(h.device) if self.bias is not None else None
        if ids.ndim == 2:  # one token per row
            x = (h * w).sum(-1, keepdim=True) + (b[:, None] if b is not None else 0.0)
        else:
            x = h @ w.T + (b[None, :] if b is not None else 0.0)
        x = x.float().cpu()
        if self.softcap:
            x = torch.tanh(x / self.softcap) * self.softcap
        return x.numpy().astype(np.float64)


def _stacked_kv(out, width: int) -> np.ndarray | None:
    """The attention keys and values a decoder pass left in its cache, as float16
    [layers, 2, batch, kv heads, width, head dim] on the CPU; None when the cache does not hold
    every position of every layer (a sliding-window layer that dropped the oldest: sequences
    longer than its window), or has an unknown layout."""
    cache = getattr(out, "cache", None)  # transformers >= 5.2x; "past_key_values" before
    if cache is None:
        cache = getattr(out, "past_key_values", None)
    layers = getattr(cache, "layers", None)
    if not layers:
        return None
    keys = [getattr(layer, "keys", None) for layer in layers]
    values = [getattr(layer, "values", None) for layer in layers]
    if any(k is None or v is None or k.dim() != 4 or k.shape[2] != width or v.shape != k.shape
           for k, v in zip(keys, values)):
        return None
    # one float16 array filled layer by layer (the cast in the copy): stacking first made two
    # float32 copies of every key and value (141 MB for a batch of 64 x 60 tokens) before the cast
    out = torch.empty((len(keys), 2, *keys[0].shape), dtype=torch.float16, device=keys[0].device)
    for i, (k, v) in enumerate(zip(keys, values)):
        out[i, 0].copy_(k)
        out[i, 1].copy_(v)
    return out.cpu().numpy()  # on a GPU: one transfer


class _OutputLayer:
    """The base pass's output layer, in chunks of ``head_chunk`` states *across* batches.

    The body runs batch by batch (rows of similar length, :meth:`CausalLM.batches`); each
    batch's states of real tokens are queued here, and the output layer runs on every full
    chunk of the queue, the rest waiting for the next batch (or :meth:`finish`). Until session
    19 every batch ended in its own partial chunk, and a few states cost several times more a
    row than 256 (on a 2-core CPU 3.3 ms a row for 64 states, 2.5 ms for 256). A chunk's
    numbers depend on its rows, so, as before, on the chunk of texts a pass scores (whose
    batches depend only on those texts and the model's settings).

    On the CPU with a float32 output matrix the chunks run vocabulary-major in two buffers kept
    for the pass (:meth:`CausalLM._column_head`, :meth:`CausalLM._head_buffers`); elsewhere in
    the row layout (:meth:`CausalLM._row_head`).
    """

    def __init__(self, lm: "CausalLM", head, total: int):
        self.lm, self.head, self.total = lm, head, total
        self.logprobs: torch.Tensor | None = None
        self.entropies: torch.Tensor | None = None
        self.queue: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.queued = 0  # rows in the queue
        self.done = 0  # rows written
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def push(self, states: torch.Tensor, targets: torch.Tensor, is_logits: bool = False) -> int:
        """Queue one batch's states (or, for an unusual architecture, its logits, scored at once);
        the index of its first row in :meth:`finish`'s arrays."""
        if self.logprobs is None:
            self.logprobs = torch.empty(self.total, dtype=torch.float32, device=states.device)
            self.entropies = torch.full_like(self.logprobs, float("nan"))
            if not is_logits:
                self.buffers = self.lm._head_buffers(self.head, states, self.total)
        first = self.done + self.queued
        if is_logits:  # no body of its own: nothing is ever queued
            for start in range(0, states.shape[0], self.lm.head_chunk):
                sl = slice(start, start + self.lm.head_chunk)
                self._write(first + start, *self.lm._row_head(states[sl].clone(), targets[sl]))
            self.done += states.shape[0]
            return first
        self.queue.append((states, targets))
        self.queued += states.shape[0]
        if self.queued >= self.lm.head_chunk:
            self._run(whole=False)
        return first

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 log-probs and entropies of every row pushed, in push order."""
        if self.queued:
            self._run(whole=True)
        if self.logprobs is None:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return self.logprobs.cpu().numpy(), self.entropies.cpu().numpy()

    def _run(self, whole: bool) -> None:
        chunk = self.lm.head_chunk
        states = torch.cat([s for s, _ in self.queue]) if len(self.queue) > 1 else self.queue[0][0]
        targets = torch.cat([t for _, t in self.queue]) if len(self.queue) > 1 else self.queue[0][1]
        n = states.shape[0] if whole else states.shape[0] // chunk * chunk
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            if self.buffers is not None:
                got = self.lm._column_head(states[sl], self.head.weight, targets[sl], self.buffers)
            else:
                got = self.lm._row_head(self.head(states[sl]), targets[sl])
            self._write(self.done + start, *got)
        self.done += n
        self.queue = [(states[n:], targets[n:])] if n < states.shape[0] else []
        self.queued = states.shape[0] - n

    def _write(self, at: int, logprobs: torch.Tensor, entropies: torch.Tensor | None) -> None:
        self.logprobs[at : at + logprobs.shape[0]] = logprobs
        if entropies is not None:
            self.entropies[at : at + entropies.shape[0]] = entropies


def _load_model(path: str, dtype: torch.dtype, offline: bool):
    """The model of ``path``: mtqa's own Gemma 3 decoder where it applies (:mod:`mtqa.models.gemma3`:
    the same numbers, bit for bit on the CPU, without importing transformers' modeling code),
    otherwise transformers' ``AutoModelForCausalLM``."""
    from mtqa.models import gemma3

    if os.path.isdir(path) and gemma3.supports(path):
        return gemma3.load(path, dtype)
    complete_torch()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=offline)


class CausalLM:
    """Wraps a causal LM for scoring (never for generation): mtqa's own Gemma 3 decoder where it
    applies (:func:`_load_model`), otherwise a transformers model.

    ``batch_tokens``/``batch_size`` bound every forward pass (padded tokens, rows);
    ``keep_hidden`` keeps each scored token's last hidden state in :attr:`TokenScores.hidden`
    (float16, 2 bytes x hidden size per token): decided by whoever builds the model, once (the
    word-order search reads them: ``WordOrderSignal.needs_hidden``); ``keep_kv`` keeps each
    text's attention keys and values in :attr:`TokenScores.kv` (float16, 4 x layers x kv heads x
    head dim bytes per token: 18 KB for Gemma 3 270M) for the batches of each :meth:`score` call
    (a pipeline chunk) while ``kv_budget`` tokens last (16,384 tokens = ~300 MB, about 650
    sentences: a chunk of 32 short articles), so the word-order search does not run the model
    over a sentence's prefix again;
    ``entropy=False`` skips the predictive entropy (about a third of the output layer's cost;
    entropies are then NaN).
    """

    def __init__(
        self,
        path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        threads: int | None = None,
        max_tokens: int = 512,
        batch_tokens: int = 4096,
        batch_size: int = 64,
        keep_hidden: bool = False,
        keep_kv: bool = False,
        kv_budget: int = 16384,
        head_chunk: int = 256,
        cache_size: int = 8192,
        quantize: str = "none",
        entropy: bool = True,
        head_buffers: bool = True,
    ):
        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device, quantize)
        self.path = path
        self.max_tokens = max_tokens
        self.batch_tokens = batch_tokens
        self.batch_size = batch_size
        self.keep_hidden = keep_hidden
        self.keep_kv = keep_kv
        self.kv_budget = kv_budget
        self.head_chunk = head_chunk
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.path.isdir(path)
        try:
            # on the CPU the compiled BPE costs under 1% of a job: it never gives way (mtqa.models.tokenizer)
            self.tokenizer = load_tokenizer(path, switch_s=None if self.device == "cpu" else SWITCH_S)
            if self.tokenizer is None:
                complete_torch()
                from transformers import AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
            self.model = _load_model(path, self.dtype, offline)
        except Exception as exc:  # noqa: BLE001 - any loader failure is one clear line for the user
            raise ModelError(f"cannot load model {path!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        if not self.tokenizer.is_fast:
            raise ModelError(f"model {path!r} has no fast tokenizer; mtqa needs character offsets")
        self.model.to(self.device).eval()
        self.quantize = quantize
        if quantize == "int8":
            if self.device != "cpu" or self.dtype != torch.float32:
                raise ModelError("quantize: int8 needs device: cpu and dtype: float32")
            complete_torch()
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        elif quantize != "none":
            raise ModelError(f"unknown quantize setting {quantize!r} (none or int8)")
        self.entropy = entropy
        self.head_buffers = head_buffers  # reuse the output layer's chunk memory within a pass (_head_buffers)
        self._head_bf16: torch.Tensor | None = None  # bfloat16 copy of the output matrix (head_logprobs)
        self._shortlist_rows: tuple | None = None  # (shortlist, its float32 output rows): head_logprob_bounds
        # Re-scoring passes drop to bfloat16 only where bf16 is computed natively (CUDA, or a CPU
        # with AVX512-BF16/AMX). Emulated bf16 is 4-5x *slower* than float32 (measured on a 2-core
        # AVX2 CPU: the 262k-row output matrix product 2.38 s vs 0.54 s for 128 states; a linear
        # layer under autocast 9.0 ms vs 1.7 ms), so there re-scoring stays float32.
        self.native_bf16 = self.device.startswith("cuda") or cpu_has_bf16()
        cfg = self.model.config
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
        self.prefix_id = self._prefix_token_id()
        # text -> TokenScores of recent texts: signals that re-score a sentence (e.g. the
        # word-order search scoring the original next to its reorderings) get it for free.
        self._cache: OrderedDict[str, TokenScores] = OrderedDict()
        self.cache_size = cache_size

    #: settings :meth:`variant` may change (they change how passes run, not the weights)
    VARIANT_SETTINGS = ("max_tokens", "batch_tokens", "batch_size", "keep_hidden", "keep_kv", "kv_budget", "head_chunk",
                        "cache_size", "entropy", "head_buffers")

    def variant(self, **settings) -> "CausalLM":
        """This model (weights and tokenizer shared, not copied) with other pass settings and an
        empty cache of its own: a second configuration without loading the weights again
        (tests, benchmarks)."""
        unknown = sorted(set(settings) - set(self.VARIANT_SETTINGS))
        if unknown:
            raise TypeError(f"CausalLM.variant: unknown settings {unknown} (known: {', '.join(self.VARIANT_SETTINGS)})")
        other = copy.copy(self)
        other.__dict__.update(settings)
        other._cache = OrderedDict()
        return other

    def _prefix_token_id(self) -> int:
        """The token every text is conditioned on, so its first real token gets a probability."""
        tok = self.tokenizer
        for candidate in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id):
            if candidate is not None:
                return int(candidate)
        raise ModelError("the model's tokenizer has no BOS/EOS token to start a text with")

    def new_cache(self):
        """An empty key/value cache for the decoder, to fill before a pass (:mod:`mtqa.models.windows`)."""
        make = getattr(self.model, "new_cache", None)
        if make is not None:
            return make()
        complete_torch()
        from transformers import DynamicCache

        return DynamicCache()

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self.prefix_id

    def batches(self, lengths: Sequence[int], sort_keys: Sequence[int] | None = None,
                work: Sequence[int] | None = None) -> list[list[int]]:
        """Row indices cut into this model's length-sorted batches (:func:`~mtqa.models.batching.length_batches`)."""
        return length_batches(lengths, self.batch_tokens, self.batch_size, sort_keys, work=work)

    def _decoder_and_head(self):
        """The model's body (hidden states) and output layer; (None, None) for an unusual architecture."""
        head = self.model.get_output_embeddings()
        decoder = getattr(self.model, "model", None)
        if head is None or decoder is None:
            return None, None
        return decoder, head

    # -- the base pass: per-token log-probs, entropies, hidden states ------------------------

    @torch.inference_mode()
    def score(self, texts: Sequence[str]) -> list[TokenScores]:
        """Per-token scores of ``texts``, in input order (cached by text until :meth:`clear_cache`)."""
        cached = {t: self._cache[t] for t in texts if t in self._cache}
        todo = list(dict.fromkeys(t for t in texts if t not in cached))
        fresh = dict(zip(todo, self._score_uncached(todo))) if todo else {}
        for t, r in fresh.items():
            self._cache[t] = r
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [cached.get(t) or fresh[t] for t in texts]

    def clear_cache(self) -> None:
        """Forget cached scores. The pipeline calls this per chunk, so a chunk's scores depend
        only on the chunk (bit-identical whether a job ran whole, resumed, or was sharded)."""
        self._cache.clear()

    def _score_uncached(self, texts: Sequence[str]) -> list[TokenScores]:
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        ids_list = enc["input_ids"]
        offs_list = enc["offset_mapping"]
        lengths = [min(len(ids), self.max_tokens) + 1 for ids in ids_list]
        kv_left = self.kv_budget if self.keep_kv else 0
        _, head = self._decoder_and_head()
        out = _OutputLayer(self, head, sum(lengths) - len(lengths))
        placed: dict[int, tuple[int, np.ndarray | None, np.ndarray | None]] = {}  # text -> (first row, hidden, kv)
        for batch in self.batches(lengths, sort_keys=[len(ids) for ids in ids_list]):
            kept = sum(lengths[i] for i in batch)
            keep_kv = kept <= kv_left
            if keep_kv:
                kv_left -= kept
            seqs = [[self.prefix_id] + list(ids_list[i][: self.max_tokens]) for i in batch]
            input_ids, mask = pad_batch(seqs, self.pad_id)
            input_ids, mask = input_ids.to(self.device), mask.to(self.device)
            # positions t predict token t+1; keep only those whose target is a real token
            target_mask = mask[:, 1:].bool()
            states, is_logits, kv = self._body(input_ids, mask, target_mask, keep_kv)
            first = out.push(states, input_ids[:, 1:][target_mask], is_logits)
            hidden = states.to(torch.float16).cpu().numpy() if self.keep_hidden and not is_logits else None
            cursor = 0
            for row, i in enumerate(batch):
                n = len(seqs[row]) - 1
                placed[i] = (first + cursor, hidden[cursor : cursor + n] if hidden is not None else None,
                             np.ascontiguousarray(kv[:, :, row, :, : n + 1]) if kv is not None else None)
                cursor += n
        logprobs, entropies = out.finish()
        results = []
        for i, ids in enumerate(ids_list):
            start, hidden, kv = placed[i]
            n = lengths[i] - 1
            results.append(TokenScores(
                offsets=np.asarray(offs_list[i][:n], dtype=np.int32).reshape(-1, 2),
                logprobs=logprobs[start : start + n],
                entropies=entropies[start : start + n],
                truncated=len(ids) > self.max_tokens,
                hidden=hidden,
                kv=kv,
            ))
        return results

    def _body(self, input_ids, mask, target_mask, keep_kv: bool = False):
        """The base pass's body over one batch: the last hidden states that predict the real
        tokens (``target_mask``), False, and the keys and values (None unless ``keep_kv``); for an
        unusual architecture the full forward pass's logits there, True, None."""
        decoder, _ = self._decoder_and_head()
        if decoder is None:
            logits = self.model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits[:, :-1][target_mask]
            return logits, True, None
        out = decoder(input_ids=input_ids, attention_mask=mask, use_cache=keep_kv)
        kv = _stacked_kv(out, input_ids.shape[1]) if keep_kv else None
        return out.last_hidden_state[:, :-1][target_mask], False, kv

    def _row_head(self, z: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs of ``targets`` (and entropies, or None) from a chunk's logits [rows, vocab]
        (owned by the caller: changed in place)."""
        z = softcap_(z.float() if z.dtype != torch.float32 else z, self.softcap)
        # log p = z - logsumexp(z); entropy = logsumexp(z) - sum(softmax(z) * z). Done in place
        # on the chunk: one pass for exp, one for the weighted sum, instead of materialising
        # log_softmax, its exp and their product.
        z.sub_(z.amax(dim=-1, keepdim=True))
        tz = z.gather(1, targets[:, None]).squeeze(1)
        if not self.entropy:
            return tz - torch.logsumexp(z, dim=-1), None
        e = torch.exp(z)
        s = e.sum(-1)
        lse = torch.log(s)
        return tz - lse, lse - torch.einsum("ij,ij->i", e, z) / s

    def _column_head(self, h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                     buffers: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs of ``targets`` (and entropies, or None) from states ``h`` [rows, hidden]: the
        output layer computed vocabulary-major, ``weight @ h.T`` [vocab, rows], in ``buffers``.

        BLAS runs the product with the long vocabulary axis as its rows faster: [640 x 262,144]
        against 256 states on a 2-core AVX2 CPU in 0.51 s, against 0.66 s for ``h @ weight.T``.
        Until session 19 the result was copied back into the row layout (0.10 s a chunk, a
        strided transpose of 268 MB) for the softmax; now the normaliser and the entropy are
        reduced along the vocabulary axis where the product left them (max, exp and sums over
        dim 0: 0.08 s; the entropy's weighted sum as an in-place product and a sum, since
        ``einsum`` over dim 0 took 0.86 s). Log-probs differ from the row layout's in their last
        bits; entropies are closer to exact (within 4e-6 nats of a float64 product, where the row
        layout's ``einsum`` was off by up to 2.3e-3: ``tests/models/test_lm.py``).

        A partial chunk runs on :func:`~mtqa.models.batching.aligned_states` (zero states up to a
        multiple of 16, dropped after): the product and the reductions ran up to 1.65x slower on
        result rows of other lengths (133 states 533 ms, 144 states 385 ms; session 21).
        """
        n, vocab = h.shape[0], weight.shape[0]
        h = aligned_states(h)
        rows = h.shape[0]
        zt = torch.mm(weight, h.t(), out=buffers[0].view(-1)[: rows * vocab].view(vocab, rows))
        softcap_(zt, self.softcap)
        zt.sub_(zt.amax(dim=0, keepdim=True))
        tz = zt[:, :n].gather(0, targets[None, :]).squeeze(0)
        e = torch.exp(zt, out=buffers[1].view(-1)[: rows * vocab].view(vocab, rows))
        s = e.sum(0)
        lse = torch.log(s)
        ent = (lse - e.mul_(zt).sum(0) / s)[:n] if self.entropy else None
        return tz - lse[:n], ent

    def _head_buffers(self, head, hidden, total: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Two float32 buffers of min(total, head_chunk) x vocab floats (that count rounded up as
        :func:`~mtqa.models.batching.aligned_count` rounds it) that the output layer's chunks of
        one base pass write their logits and exponentials into (:meth:`_column_head`), on the CPU
        with a plain float32 output layer (else None: the chunks allocate their own and run the
        row layout).

        A fresh [256, 262144] float32 tensor is 268 MB that the allocator takes from and gives
        back to the system each time, touching every page again: on a 2-core CPU the output
        product took 0.82 s into a fresh tensor and 0.72 s into a reused one, the exponential
        0.129 s and 0.035 s. The buffers live for one pass (:class:`_OutputLayer`): memory is
        what the chunks took before, at most two chunks at a time. (On a GPU the caching
        allocator already reuses memory.)
        """
        if not self.head_buffers or hidden is None or hidden.device.type != "cpu" or type(head) is not torch.nn.Linear \
                or head.bias is not None or head.weight.dtype != torch.float32 or hidden.dtype != torch.float32:
            return None
        rows = aligned_count(min(total, self.head_chunk))  # room for a partial chunk's padding (_column_head)
        return torch.empty(rows, head.weight.shape[0]), torch.empty(rows, head.weight.shape[0])

    # -- conditional log-probs: the tail of a text given its head ----------------------------

    @torch.inference_mode()
    def suffix_logprobs(self, texts: Sequence[str], starts: Sequence[int],
                        pooled_layers: Sequence[int] | None = None) -> list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
        """float32 log-probs of the tokens of ``texts[i]`` that overlap ``texts[i][starts[i]:]``.

        For a sentence conditioned on a prompt (source PMI): like :meth:`score`, but the output
        layer runs only on the positions that predict those tokens, not on the prompt, and
        there are no entropies and no cache. Texts longer than ``max_tokens`` keep their *last*
        ``max_tokens`` tokens, so the tail survives a long prompt. (Log-probs come from
        ``log_softmax``, as they always have here: the base pass's in-place formula differs
        in the last bits, and changing either would change published numbers.)

        Given ``pooled_layers`` (hidden-state indices: 0 the embeddings, the number of layers
        the last, normalised, state; possibly none) it returns ``(log-probs, pooled)``: per
        text also the mean of those layers' states over the tail's tokens (float32
        ``[len(pooled_layers), hidden]``; zeros when the tail is empty), the sentence as the
        model reads it *given the prompt*, which the quality model's with-source state head
        reads.
        """
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(texts)
        layers = list(pooled_layers or ())
        hidden_size = self.model.config.hidden_size
        pooled = [np.zeros((len(layers), hidden_size), dtype=np.float32) for _ in texts]
        seqs, first = [], []
        for ids, offs, start in zip(enc["input_ids"], enc["offset_mapping"], starts):
            k = next((j for j, (_a, b) in enumerate(offs) if b > start), len(ids))
            ids = list(ids)
            if len(ids) > self.max_tokens:
                cut = len(ids) - self.max_tokens
                ids, k = ids[cut:], max(0, k - cut)
            seqs.append([self.prefix_id] + ids)
            first.append(k)  # index (in ids) of the first tail token
        decoder, head = self._decoder_and_head()
        if layers and decoder is None:
            raise ModelError("pooled states need a model with a separable body")
        for batch in self.batches([len(s) for s in seqs]):
            input_ids, mask = pad_batch([seqs[i] for i in batch], self.pad_id)
            input_ids, mask = input_ids.to(self.device), mask.to(self.device)
            states = None
            if decoder is not None:
                if layers:
                    out = decoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
                    hidden, states = out.last_hidden_state, out.hidden_states
                else:
                    hidden = decoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
            else:
                hidden = None
                logits_all = self.model(input_ids=input_ids, attention_mask=mask).logits
            for r, i in enumerate(batch):
                n = len(seqs[i]) - 1  # tokens of the text; position t predicts token t (of ids)
                k = first[i]
                if k >= n:
                    continue
                targets = input_ids[r, 1 + k: 1 + n]
                logits = head(hidden[r, k:n]) if hidden is not None else logits_all[r, k:n].clone()
                logits = softcap_(logits.float(), self.softcap)
                lp = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
                results[i] = lp.cpu().numpy().astype(np.float32)
                for j, layer in enumerate(layers):  # the states *of* the tail's tokens (position 1 + token)
                    pooled[i][j] = states[layer][r, 1 + k: 1 + n].float().mean(0).cpu().numpy()
        return results if pooled_layers is None else (results, pooled)

    # -- passes for re-scoring signals (the word-order search) -------------------------------

    @torch.inference_mode()
    def hidden_states(self, seqs: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """float32 last hidden states [len+1, hidden] of ``[start token] + seq`` for each token-id
        sequence (the model's body only, no output layer; needs a model with a separable body)."""
        decoder, _ = self._decoder_and_head()
        out: list[torch.Tensor] = [None] * len(seqs)  # type: ignore[list-item]
        for batch in self.batches([len(s) + 1 for s in seqs]):
            ids, mask = pad_batch([[self.prefix_id] + list(seqs[i]) for i in batch], self.pad_id)
            hidden = decoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             use_cache=False).last_hidden_state
            for r, i in enumerate(batch):
                out[i] = hidden[r, : len(seqs[i]) + 1].float().cpu()
        return out

    def window_states(self, groups, first=None, kv=None):
        """The body pass of :meth:`score_windows` alone: per window, the hidden states that predict its
        tokens (:class:`~mtqa.models.windows.WindowStates`), for a caller that runs the output
        layer only where it must (:meth:`head_logprob_bounds`, then :meth:`head_logprobs`);
        ``kv[g]``: group g's prefix keys and values from the base pass (:attr:`TokenScores.kv`)."""
        from mtqa.models.windows import window_states

        return window_states(self, groups, first, kv)

    def score_windows(self, groups, first=None) -> list[list[np.ndarray]]:
        """Per :class:`~mtqa.models.windows.WindowGroup`, per window: float32 log-probs of the
        window's tokens given the group's prefix (up to the window's start) and the window
        before them; ``first[g][w]`` (when not None) is window w's first log-prob, known already.
        See :func:`mtqa.models.windows.score_windows` (packed passes, bfloat16 rescoring precision)."""
        from mtqa.models.windows import score_windows

        return score_windows(self, groups, first)

    def output_weight(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The output layer's float weight matrix [vocab, hidden] and bias (None, None: not available)."""
        head = self.model.get_output_embeddings()
        weight = getattr(head, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.is_floating_point():
            return weight, getattr(head, "bias", None)
        # an int8-quantised head: its float twin is the input embedding when the two are tied
        emb = self.model.get_input_embeddings()
        if getattr(self.model.config, "tie_word_embeddings", False) and emb is not None:
            return emb.weight, None
        return None, None

    @property
    def has_output_matrix(self) -> bool:
        """Can single logits be taken as dot products (:meth:`token_logits` without the whole layer)?"""
        return self.output_weight()[0] is not None

    @torch.inference_mode()
    def token_logits(self, h: torch.Tensor, ids: torch.Tensor) -> np.ndarray:
        """float64 softcapped logits of tokens ``ids`` at hidden states ``h`` (CPU, float32):
        [rows, len(ids)] for a 1D ``ids``; one per row ([rows, 1]) for ``ids`` of shape [rows, 1].

        A dot product with the few output-matrix rows needed, brought to the states (which may
        come from a GPU pass); the whole output layer only when the model has no float matrix.
        A caller with many such calls gathers the rows once (:meth:`output_rows`).
        """
        rows = self.output_rows(ids)
        if rows is not None:
            return rows.logits(h, ids)
        _, head = self._decoder_and_head()  # no float matrix to take dot products with: the whole output layer
        full = head(h.to(self.device, self.dtype)).float().cpu()
        x = full.gather(1, ids) if ids.dim() == 2 else full[:, ids]
        if self.softcap:
            x = torch.tanh(x / self.softcap) * self.softcap
        return x.numpy().astype(np.float64)

    @torch.inference_mode()
    def output_rows(self, ids: torch.Tensor | np.ndarray) -> "OutputRows | None":
        """The output matrix's rows of ``ids`` (any shape), in float32 on the CPU, for
        :meth:`OutputRows.logits`: one gather and one device-to-host copy for many calls (on a GPU
        each call of :meth:`token_logits` would pay both). None when the model has no float matrix."""
        weight, bias = self.output_weight()
        if weight is None:
            return None
        need = np.unique(np.asarray(ids).reshape(-1)).astype(np.int64)
        sel = torch.from_numpy(need).to(weight.device)
        return OutputRows(need, weight[sel].float().cpu(), bias[sel].float().cpu() if bias is not None else None,
                          self.softcap)

    def _target_logits(self, h: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
        """Softcapped float32 logit of ``targets[i]`` at float32 state ``h[i]``: one exact dot product each."""
        tz = (h * weight[targets].float()).sum(-1)
        if bias is not None:
            tz = tz + bias[targets].float()
        if self.softcap:
            tz = torch.tanh(tz / self.softcap) * self.softcap
        return tz

    @torch.inference_mode()
    def head_logprobs(self, hidden: torch.Tensor, targets: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
        """float32 log p(targets[i]) from last hidden states ``hidden[i]``, for re-scoring signals.

        The target's logit is an exact float32 dot product; the log-normaliser over the whole
        vocabulary comes from a bfloat16 matrix product with float32 accumulation (2.5-4x faster
        on CPUs with bf16 units; on 512 real Gemma states its mean absolute error was 0.013 nats,
        max 0.046, measured against float32). Signals that compare such log-probs use them on
        both sides or at thresholds of several nats. Falls back to the float output layer when
        the model has no float output matrix.

        ``chunk``: states per output-layer product (default ``head_chunk``, as in the base pass).
        Until session 20 it was 512: the word-order search's first exact round (454 window
        states of 300 fluent sentences) took 1.86 s in chunks of 512 against 1.54 s in chunks of
        256 on a 2-core AVX2 CPU (a [262,144 x 512] float32 result is 537 MB of fresh memory).
        """
        chunk = self.head_chunk if chunk is None else chunk
        weight, bias = self.output_weight()
        if weight is None:
            _, head = self._decoder_and_head()
            z = head(hidden).float()
            if self.softcap:
                z = torch.tanh(z / self.softcap) * self.softcap
            return z.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(z, dim=-1)
        low = weight.dtype == torch.bfloat16 or self.native_bf16
        if low and self._head_bf16 is None:
            self._head_bf16 = weight if weight.dtype == torch.bfloat16 else weight.to(torch.bfloat16)
        h = hidden.float()
        tz = self._target_logits(h, targets, weight, bias)
        hb = hidden.to(torch.bfloat16) if low else h
        mat = self._head_bf16 if low else weight.float()
        # float32 on the CPU: every chunk's logits vocabulary-major into one reused buffer, reduced
        # along the vocabulary (as the base pass does: _column_head; fresh 537 MB tensors per chunk
        # cost page faults)
        if not low and h.device.type == "cpu" and mat.dtype == torch.float32 and h.shape[0] > 0:
            buf = torch.empty(aligned_count(min(chunk, h.shape[0])) * mat.shape[0])
            return tz - self._column_lse(mat, h, bias, chunk, buf)
        lse = torch.empty_like(tz)
        for start in range(0, h.shape[0], chunk):
            part = hb[start : start + chunk]
            z = (part @ mat.T).float()
            if bias is not None:
                z += bias.float()
            softcap_(z, self.softcap)
            m = z.amax(dim=-1, keepdim=True)
            lse[start : start + chunk] = z.sub_(m).exp_().sum(-1).log_() + m[:, 0]
        return tz - lse

    @torch.inference_mode()
    def head_logprob_bounds(self, hidden: torch.Tensor, targets: torch.Tensor, shortlist: torch.Tensor) -> torch.Tensor:
        """float32 *upper bounds* of log p(targets[i]) from ``hidden[i]``, at the cost of a shortlist.

        The log-normaliser is taken over ``shortlist`` (token ids, sorted, unique) and the target
        only: a sum over fewer terms, so it is a lower bound of the whole vocabulary's, and the
        log-prob an upper bound (exact when the shortlist holds all the probability mass). A
        search that needs exact log-probs only for its best candidates ranks with these and asks
        :meth:`head_logprobs` for the few that can still win. Needs the float output matrix
        (:attr:`has_output_matrix`).

        Computed shortlist-major (``rows @ h.T``, reduced over dim 0) in chunks of 1,024 states, as
        the base pass's output layer (:meth:`_column_head`): 3,946 window states took 0.84 s
        against 1.07 s for ``torch.logsumexp`` over ``h @ rows.T`` (2-core AVX2 CPU, session 20).
        """
        weight, bias = self.output_weight()
        if self._shortlist_rows is None or self._shortlist_rows[0] is not shortlist:
            self._shortlist_rows = (shortlist, weight[shortlist.to(weight.device)].float())
        h = hidden.float()
        tz = self._target_logits(h, targets, weight, bias)
        lse = self._column_lse(self._shortlist_rows[1], h, None if bias is None else bias[shortlist], 1024)
        listed = torch.isin(targets, shortlist.to(targets.device))
        return tz - torch.where(listed, lse, torch.logaddexp(lse, tz))

    def _column_lse(self, rows: torch.Tensor, h: torch.Tensor, bias: torch.Tensor | None, chunk: int,
                    buf: torch.Tensor | None = None) -> torch.Tensor:
        """float32 log-normaliser of each state ``h[i]`` over the output ``rows`` [tokens, hidden] (the
        whole vocabulary, or a shortlist), computed vocabulary-major (``rows @ h.T``, reduced over
        dim 0 where the product leaves it, as :meth:`_column_head` does) in chunks of ``chunk``
        states, each run on :func:`~mtqa.models.batching.aligned_states`. ``buf``: a flat float32
        buffer of at least ``aligned_count(min(chunk, states)) x tokens`` floats to compute into
        (reused across chunks: fresh [262,144 x 256] results cost page faults); None allocates."""
        lse = torch.empty(h.shape[0], dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], chunk):
            part = h[start : start + chunk]
            n, part = part.shape[0], aligned_states(part)
            out = None if buf is None else buf[: part.shape[0] * rows.shape[0]].view(rows.shape[0], part.shape[0])
            zt = torch.mm(rows, part.t(), out=out)
            if bias is not None:
                zt += bias.float()[:, None]
            softcap_(zt, self.softcap)
            lse[start : start + n] = column_logsumexp_(zt)[:n]
        return lse

    def rescoring_dtype(self) -> str:
        """The precision of re-scoring passes, for signatures: ``bfloat16`` where bf16 is native
        (or the model is bf16), ``float32`` on CPUs that would emulate it, ``int8`` bodies as they are."""
        if self.quantize != "none":
            return "int8+bfloat16-normaliser" if self.native_bf16 else "int8+float32-normaliser"
        if self.dtype in (torch.bfloat16, torch.float16):
            return str(self.dtype).replace("torch.", "")
        return "bfloat16" if self.native_bf16 else "float32"

    def rescoring_precision(self):
        """Context for re-scoring passes (the word-order search): bfloat16 autocast of a float32 model.

        The base pass stays float32. On 538 Gemma reordering windows this moved window
        log-prob sums by 0.10 nats on average (no bias: mean -0.001; p95 0.25), against search
        thresholds of several nats, and cut the pass's time by 1.7x on a CPU with bf16 units.
        """
        if self.rescoring_dtype() != "bfloat16" or self.dtype != torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if self.device.startswith("cuda") else "cpu", dtype=torch.bfloat16)
