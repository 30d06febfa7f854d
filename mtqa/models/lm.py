"""A causal language model that returns per-token log-probabilities with character offsets.

Any Hugging Face causal LM (hub id or local folder) works. Two details make it cheap:

* batches are sorted by length so padding stays small (the caller passes whatever order;
  results come back in the caller's order);
* the output layer runs only on real (non-padding) positions and in row chunks, so the
  ``tokens x vocab`` logits matrix is never materialised whole (Gemma's vocabulary has
  262k entries: a full logits tensor for a batch would take gigabytes).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from mtqa.errors import ModelError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class TokenScores:
    """Per-token scores of one text. ``offsets[i]`` is the (start, end) of token i in the text."""

    offsets: np.ndarray  # int32 [n, 2]
    logprobs: np.ndarray  # float32 [n], natural log of p(token | prefix)
    entropies: np.ndarray  # float32 [n], entropy (nats) of the predictive distribution
    truncated: bool
    # float16 [n, hidden]: the last hidden state that predicts token i (row i), kept only when
    # the LM was asked to (``CausalLM.keep_hidden``); the word-order search reads it instead of
    # running the model's body over the sentence a second time.
    hidden: np.ndarray | None = None

    @property
    def surprisals(self) -> np.ndarray:
        return -self.logprobs


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but torch sees no CUDA device (use device: cpu or auto)")
    return device


def cpu_has_bf16() -> bool:
    """Does this CPU compute bfloat16 natively (AVX512-BF16 or AMX)? Emulated bf16 is slower than fp32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve_dtype(dtype: str, device: str, quantize: str = "none") -> torch.dtype:
    """``auto``: bfloat16 on CUDA and on CPUs with native bf16, float32 otherwise (and for int8).

    Why bfloat16 by default: on the WMT22 zh-en dev subsample it moved the Spearman of
    ``quality`` with MQM by +0.0002 and of ``slor`` by +0.0001 (limit for a default: 0.005),
    per-segment ``quality`` by 0.001 on average, and scored 1.9x faster on a 2-core AVX512-BF16
    CPU (``benchmarks/precision_agreement.py``); the shipped quality model was trained on
    bfloat16 features. The resolved dtype is part of every score's signature.
    """
    if dtype == "auto":
        if quantize != "none":
            return torch.float32
        return torch.bfloat16 if device.startswith("cuda") or (device == "cpu" and cpu_has_bf16()) else torch.float32
    return _DTYPES[dtype]


class CausalLM:
    """Wraps a transformers causal LM for scoring (never for generation)."""

    def __init__(
        self,
        path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        threads: int | None = None,
        max_tokens: int = 512,
        head_chunk: int = 256,
        cache_size: int = 8192,
        quantize: str = "none",
        entropy: bool = True,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device, quantize)
        self.max_tokens = max_tokens
        self.head_chunk = head_chunk
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.path.isdir(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype, local_files_only=offline)
        except Exception as exc:  # noqa: BLE001 - any loader failure is one clear line for the user
            raise ModelError(f"cannot load model {path!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        if not self.tokenizer.is_fast:
            raise ModelError(f"model {path!r} has no fast tokenizer; mtqa needs character offsets")
        self.model.to(self.device).eval()
        self.quantize = quantize
        if quantize == "int8":
            if self.device != "cpu" or self.dtype != torch.float32:
                raise ModelError("quantize: int8 needs device: cpu and dtype: float32")
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        elif quantize != "none":
            raise ModelError(f"unknown quantize setting {quantize!r} (none or int8)")
        # entropy=False skips the entropy of the predictive distribution (about a third of
        # the output-layer cost); TokenScores.entropies is then all NaN.
        self.entropy = entropy
        # keep_hidden=True keeps each token's last hidden state in TokenScores.hidden (float16,
        # 2 bytes x hidden size per token); signals that need them switch it on.
        self.keep_hidden = False
        self._head_bf16: torch.Tensor | None = None  # bfloat16 copy of the output matrix (head_logprobs)
        cfg = self.model.config
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
        self.prefix_id = self._prefix_token_id()
        # text -> TokenScores of recent texts: signals that re-score a sentence (e.g. the
        # word-order search scoring the original next to its reorderings) get it for free.
        self._cache: OrderedDict[str, TokenScores] = OrderedDict()
        self.cache_size = cache_size

    def _prefix_token_id(self) -> int:
        """The token every text is conditioned on, so its first real token gets a probability."""
        tok = self.tokenizer
        for candidate in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id):
            if candidate is not None:
                return int(candidate)
        raise ModelError("the model's tokenizer has no BOS/EOS token to start a text with")

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self.prefix_id

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

    @torch.inference_mode()
    def head_logprobs(self, hidden: torch.Tensor, targets: torch.Tensor, *, chunk: int = 512) -> torch.Tensor:
        """float32 log p(targets[i]) from last hidden states ``hidden[i]``, for re-scoring signals.

        The target's logit is an exact float32 dot product; the log-normaliser over the whole
        vocabulary comes from a bfloat16 matrix product with float32 accumulation (2.5-4x faster
        on CPUs with bf16 units; on 512 real Gemma states its mean absolute error was 0.013 nats,
        max 0.046, measured against float32). Signals that compare such log-probs use them on
        both sides or at thresholds of several nats. Falls back to the float output layer when
        the model has no float output matrix.
        """
        weight, bias = self.output_weight()
        if weight is None:
            _, head = self._decoder_and_head()
            z = head(hidden).float()
            if self.softcap:
                z = torch.tanh(z / self.softcap) * self.softcap
            return z.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(z, dim=-1)
        if self._head_bf16 is None:
            self._head_bf16 = weight if weight.dtype == torch.bfloat16 else weight.to(torch.bfloat16)
        h = hidden.float()
        tz = (h * weight[targets].float()).sum(-1)
        if bias is not None:
            tz = tz + bias[targets].float()
        if self.softcap:
            tz = torch.tanh(tz / self.softcap) * self.softcap
        lse = torch.empty_like(tz)
        hb = hidden.to(torch.bfloat16)
        for start in range(0, h.shape[0], chunk):
            z = (hb[start : start + chunk] @ self._head_bf16.T).float()
            if bias is not None:
                z += bias.float()
            if self.softcap:
                z.div_(self.softcap).tanh_().mul_(self.softcap)
            m = z.amax(dim=-1, keepdim=True)
            lse[start : start + chunk] = z.sub_(m).exp_().sum(-1).log_() + m[:, 0]
        return tz - lse

    def rescoring_precision(self):
        """Context for re-scoring passes (the word-order search): bfloat16 autocast of a float32 model.

        The base pass stays float32. On 538 Gemma reordering windows this moved window
        log-prob sums by 0.10 nats on average (no bias: mean -0.001; p95 0.25), against search
        thresholds of several nats, and cut the pass's time by 1.7x on a CPU with bf16 units.
        """
        if self.dtype != torch.float32 or self.quantize != "none":
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if self.device.startswith("cuda") else "cpu", dtype=torch.bfloat16)

    def _decoder_and_head(self):
        head = self.model.get_output_embeddings()
        decoder = getattr(self.model, "model", None)
        if head is None or decoder is None:
            return None, None
        return decoder, head

    @torch.inference_mode()
    def score(self, texts: Sequence[str], batch_tokens: int = 4096, batch_size: int = 32) -> list[TokenScores]:
        """Score ``texts``; results in input order. Batches hold at most ``batch_tokens`` padded tokens."""
        cached = {t: self._cache[t] for t in texts if t in self._cache}
        todo = list(dict.fromkeys(t for t in texts if t not in cached))
        fresh = dict(zip(todo, self._score_uncached(todo, batch_tokens, batch_size))) if todo else {}
        for t, r in fresh.items():
            self._cache[t] = r
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [cached.get(t) or fresh[t] for t in texts]

    def clear_cache(self) -> None:
        """Forget cached scores. The pipeline calls this per chunk, so a chunk's scores depend
        only on the chunk (bit-identical whether a job ran whole, resumed, or was sharded)."""
        self._cache.clear()

    def _score_uncached(self, texts: Sequence[str], batch_tokens: int, batch_size: int) -> list[TokenScores]:
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        ids_list = enc["input_ids"]
        offs_list = enc["offset_mapping"]
        order = sorted(range(len(texts)), key=lambda i: len(ids_list[i]))
        results: list[TokenScores | None] = [None] * len(texts)
        batch: list[int] = []
        for i in order:
            n = min(len(ids_list[i]), self.max_tokens) + 1
            if batch and (len(batch) + 1 > batch_size or (len(batch) + 1) * n > batch_tokens):
                self._run(batch, ids_list, offs_list, results)
                batch = []
            batch.append(i)
        if batch:
            self._run(batch, ids_list, offs_list, results)
        return results  # type: ignore[return-value]

    def _run(self, batch, ids_list, offs_list, results) -> None:
        seqs = [[self.prefix_id] + list(ids_list[i][: self.max_tokens]) for i in batch]
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            input_ids[row, : len(s)] = torch.tensor(s)
            mask[row, : len(s)] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        # positions t predict token t+1; keep only those whose target is a real token
        target_mask = mask[:, 1:].bool()
        targets = input_ids[:, 1:][target_mask]
        logprobs, entropies, hidden = self._target_logprobs(input_ids, mask, target_mask, targets)
        cursor = 0
        for row, i in enumerate(batch):
            n = len(seqs[row]) - 1
            offsets = np.asarray(offs_list[i][:n], dtype=np.int32).reshape(-1, 2)
            results[i] = TokenScores(
                offsets=offsets,
                logprobs=logprobs[cursor : cursor + n],
                entropies=entropies[cursor : cursor + n],
                truncated=len(ids_list[i]) > self.max_tokens,
                hidden=hidden[cursor : cursor + n] if hidden is not None else None,
            )
            cursor += n

    def _target_logprobs(self, input_ids, mask, target_mask, targets):
        decoder, head = self._decoder_and_head()
        if decoder is not None:
            hidden = decoder(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state
            hidden = hidden[:, :-1][target_mask]
        else:  # unusual architecture: fall back to the full forward pass
            logits = self.model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits[:, :-1][target_mask]
            hidden = None
        total = targets.shape[0]
        out_lp = torch.empty(total, dtype=torch.float32, device=hidden.device if hidden is not None else logits.device)
        out_ent = torch.full_like(out_lp, float("nan"))
        for start in range(0, total, self.head_chunk):
            sl = slice(start, start + self.head_chunk)
            z = head(hidden[sl]) if hidden is not None else logits[sl]
            z = z.float() if z.dtype != torch.float32 else (z.clone() if hidden is None else z)
            if self.softcap:
                z.div_(self.softcap).tanh_().mul_(self.softcap)
            # log p = z - logsumexp(z); entropy = logsumexp(z) - sum(softmax(z) * z).
            # Done in place on the chunk: one pass for exp, one for the weighted sum, instead
            # of materialising log_softmax, its exp and their product.
            z.sub_(z.amax(dim=-1, keepdim=True))
            tz = z.gather(1, targets[sl, None]).squeeze(1)
            if self.entropy:
                e = torch.exp(z)
                s = e.sum(-1)
                ez = torch.einsum("ij,ij->i", e, z)
                lse = torch.log(s)
                out_ent[sl] = lse - ez / s
            else:
                lse = torch.logsumexp(z, dim=-1)
            out_lp[sl] = tz - lse
        kept = hidden.to(torch.float16).cpu().numpy() if self.keep_hidden and hidden is not None else None
        return out_lp.cpu().numpy(), out_ent.cpu().numpy(), kept


def nats_to_bits(x: float) -> float:
    return x / math.log(2)
