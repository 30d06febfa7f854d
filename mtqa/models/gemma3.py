"""Gemma 3's text decoder in plain torch: the embedded model without transformers' modeling code.

Why: importing transformers' Gemma 3 modeling module (and the masking, cache and generation
code it pulls in) took 2.2-4 s of a 9-11 s cold start on a 2-core machine, for a forward pass
of about 150 lines. :func:`load` builds this decoder for a model folder whose ``config.json``
is a plain Gemma 3 text model (:func:`supports`); any other model is loaded by transformers.

It computes what ``transformers`` (5.x, ``sdpa`` attention) computes, the same torch
operations in the same order: the scaled embedding, Gemma's ``(1 + w)`` RMS norms (in
float32), q/k norms, rotary embeddings with a local (sliding) and a global base, grouped-query
attention through ``scaled_dot_product_attention`` with the same kernel choices (no mask and
``is_causal`` when nothing is padded, else a boolean mask; the sliding window materialised
from 512 keys on), the tanh-GELU MLP and the final norm. ``tests/models/test_gemma3.py`` holds
it to transformers' outputs on the embedded model: bit for bit on the CPU in float32 and
bfloat16 (padded batches, hidden states of every layer, 4D masks, continued passes from
cached keys and values, sequences past the sliding window).

The interface is the part of transformers' that :class:`mtqa.models.lm.CausalLM` and
:mod:`mtqa.models.windows` use: ``model.model(input_ids, attention_mask (2D padding or 4D
boolean), position_ids, cache, use_cache, output_hidden_states)`` returning
``last_hidden_state``, ``hidden_states`` and ``cache`` (whose ``layers[i].keys/values`` hold
what a pass saw; a sliding layer keeps its last ``sliding_window - 1`` positions, as
transformers' ``DynamicCache`` does), ``get_output_embeddings()``, ``get_input_embeddings()``
and ``config``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

#: what :func:`supports` accepts of a ``config.json`` (anything else goes to transformers)
_PLAIN = {"model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh", "attn_logit_softcapping": None,
          "attention_bias": False, "use_bidirectional_attention": False}


@dataclass
class Gemma3Config:
    """The settings of a Gemma 3 text model that its forward pass reads (names as in ``config.json``)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    query_pre_attn_scalar: float
    sliding_window: int
    layer_types: list[str]
    rope_theta: dict[str, float]  # layer type -> rotary base
    pad_token_id: int | None = None
    final_logit_softcapping: float | None = None
    tie_word_embeddings: bool = True
    model_type: str = "gemma3_text"
    # read by mtqa.models.windows.attention_mask_4d: this decoder takes boolean 4D masks
    _attn_implementation: str = field(default="sdpa", repr=False)

    @classmethod
    def from_dict(cls, cfg: dict) -> "Gemma3Config":
        ropes = cfg.get("rope_parameters") or {}
        return cls(
            vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=cfg["num_hidden_layers"], num_attention_heads=cfg["num_attention_heads"],
            num_key_value_heads=cfg["num_key_value_heads"], head_dim=cfg["head_dim"],
            rms_norm_eps=cfg["rms_norm_eps"], query_pre_attn_scalar=cfg["query_pre_attn_scalar"],
            sliding_window=cfg["sliding_window"], layer_types=list(cfg["layer_types"]),
            rope_theta={t: float(ropes[t]["rope_theta"]) for t in set(cfg["layer_types"])},
            pad_token_id=cfg.get("pad_token_id"), final_logit_softcapping=cfg.get("final_logit_softcapping"),
            tie_word_embeddings=cfg.get("tie_word_embeddings", True),
        )


def supports(folder: str | Path) -> bool:
    """Is ``folder`` a Gemma 3 text model this module computes exactly as transformers does?

    A ``config.json`` of model type ``gemma3_text`` with tanh-GELU, no attention softcap or
    bias, causal attention, default rotary embeddings for every layer type, and one
    ``model.safetensors`` file."""
    folder = Path(folder)
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (folder / "model.safetensors").is_file() or not isinstance(cfg, dict):
        return False
    if any(cfg.get(k, v) != v for k, v in _PLAIN.items()) or cfg.get("model_type") != "gemma3_text":
        return False
    ropes = cfg.get("rope_parameters")
    types = cfg.get("layer_types")
    if not isinstance(ropes, dict) or not isinstance(types, list) or len(types) != cfg.get("num_hidden_layers"):
        return False
    return all(isinstance(ropes.get(t), dict) and ropes[t].get("rope_type") == "default" for t in set(types))


# -- the key/value cache ----------------------------------------------------------------------


class _Layer:
    """One layer's cached keys and values, [batch, kv heads, positions, head dim] (None while empty)."""

    def __init__(self, keep: int | None = None):
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.keep = keep  # a sliding layer keeps only its last ``keep`` positions

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full_k = k if self.keys is None else torch.cat([self.keys, k], dim=-2)
        full_v = v if self.values is None else torch.cat([self.values, v], dim=-2)
        if self.keep is not None:
            self.keys, self.values = full_k[:, :, -self.keep:, :], full_v[:, :, -self.keep:, :]
        else:
            self.keys, self.values = full_k, full_v
        return full_k, full_v  # attention sees everything, past and new


class KVCache:
    """Keys and values by layer, filled by a pass (``use_cache``) or before it (:meth:`update`)."""

    def __init__(self, keep: Sequence[int | None] = ()):
        self._keep = list(keep)
        self.layers: list[_Layer] = []

    def update(self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self.layers) <= layer_idx:
            i = len(self.layers)
            self.layers.append(_Layer(self._keep[i] if i < len(self._keep) else None))
        return self.layers[layer_idx].update(keys, values)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        if layer_idx >= len(self.layers) or self.layers[layer_idx].keys is None:
            return 0
        return self.layers[layer_idx].keys.shape[-2]


@dataclass
class DecoderOutput:
    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    cache: KVCache | None = None

    @property
    def past_key_values(self) -> KVCache | None:
        return self.cache


@dataclass
class CausalLMOutput:
    logits: torch.Tensor
    cache: KVCache | None = None


# -- the layers ------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * (1.0 + self.weight.float())).type_as(x)  # (x * w) then the cast, as Gemma does


class _Linear(nn.Linear):
    """``nn.Linear`` without its random initialisation (the checkpoint's weights replace it: 0.5 s
    saved, and building on the meta device instead imports 1.4 s of torch's reference ops);
    :func:`load` makes it a plain ``nn.Linear`` again (int8 quantisation matches the exact type)."""

    def reset_parameters(self) -> None:
        pass


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: Gemma3Config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = cfg.head_dim
        self.groups = cfg.num_attention_heads // cfg.num_key_value_heads
        self.scaling = cfg.query_pre_attn_scalar ** -0.5
        self.q_proj = _Linear(cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim, bias=False)
        self.k_proj = _Linear(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, bias=False)
        self.v_proj = _Linear(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, bias=False)
        self.o_proj = _Linear(cfg.num_attention_heads * cfg.head_dim, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(cfg.head_dim, cfg.rms_norm_eps)

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache | None) -> torch.Tensor:
        shape = (*h.shape[:-1], -1, self.head_dim)
        q = self.q_norm(self.q_proj(h).view(shape).transpose(1, 2))
        k = self.k_norm(self.k_proj(h).view(shape).transpose(1, 2))
        v = self.v_proj(h).view(shape).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = (q * cos) + (_rotate_half(q) * sin)
        k = (k * cos) + (_rotate_half(k) * sin)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        out = self._sdpa(q, k, v, mask)
        return self.o_proj(out.reshape(*h.shape[:-1], -1).contiguous())

    def _sdpa(self, q, k, v, mask):
        """transformers' ``sdpa_attention_forward``, the branches a causal scoring pass takes."""
        extra = {}
        q_len = q.shape[2]
        if self.groups > 1:
            if mask is None and k.shape[-1] == v.shape[-1] <= 256:
                extra["enable_gqa"] = True
            elif q_len == 1:  # one query: the key/value heads' groups take the query axis
                q = q.reshape(q.shape[0], q.shape[1] // self.groups, self.groups, q.shape[-1])
            else:
                k = _repeat_kv(k, self.groups)
                v = _repeat_kv(v, self.groups)
        is_causal = q_len > 1 and mask is None
        if is_causal and k.shape[2] > q_len:
            k, v = k[:, :, :q_len], v[:, :, :q_len]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=self.scaling,
                                             is_causal=is_causal, **extra)
        out = out.reshape(out.shape[0], -1, q_len, v.shape[-1])
        return out.transpose(1, 2).contiguous()


def _repeat_kv(x: torch.Tensor, n: int) -> torch.Tensor:
    b, heads, length, dim = x.shape
    return x[:, :, None, :, :].expand(b, heads, n, length, dim).reshape(b, heads * n, length, dim)


class MLP(nn.Module):
    def __init__(self, cfg: Gemma3Config):
        super().__init__()
        self.gate_proj = _Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = _Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = _Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: Gemma3Config, layer_idx: int):
        super().__init__()
        self.self_attn = Attention(cfg, layer_idx)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.pre_feedforward_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_feedforward_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, h, cos, sin, mask, cache):
        h = h + self.post_attention_layernorm(self.self_attn(self.input_layernorm(h), cos, sin, mask, cache))
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class Gemma3Text(nn.Module):
    """The body: embeddings, the decoder layers, the final norm (transformers' ``Gemma3TextModel``)."""

    def __init__(self, cfg: Gemma3Config):
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, cfg.pad_token_id,  # uninitialised: loaded
                                         _weight=torch.empty(cfg.vocab_size, cfg.hidden_size))
        self.layers = nn.ModuleList(DecoderLayer(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        dim = cfg.head_dim
        # computed on the CPU in float32 as transformers does, copied to a device once (_on): the
        # embedding scale (cast to the weights' dtype when used: bfloat16 rounds sqrt(640) as
        # transformers does) and, per layer type, the rotary inverse frequencies
        self._constants = {"embed_scale": torch.tensor(cfg.hidden_size ** 0.5, device="cpu")} | {
            t: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float, device="cpu") / dim))
            for t, base in cfg.rope_theta.items()}
        self._on_device: dict[tuple[str, str], torch.Tensor] = {}

    def _on(self, name: str, device: torch.device) -> torch.Tensor:
        key = (name, str(device))
        if key not in self._on_device:
            self._on_device[key] = self._constants[name].to(device)
        return self._on_device[key]

    def new_cache(self) -> KVCache:
        """An empty cache whose sliding layers keep their last ``sliding_window - 1`` positions."""
        cfg = self.config
        return KVCache([cfg.sliding_window - 1 if t == "sliding_attention" else None for t in cfg.layer_types])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, cache: KVCache | None = None, use_cache: bool | None = False,
                output_hidden_states: bool = False, past_key_values: KVCache | None = None) -> DecoderOutput:
        cfg = self.config
        cache = cache if cache is not None else past_key_values
        if use_cache and cache is None:
            cache = self.new_cache()
        weight = self.embed_tokens.weight
        h = F.embedding(input_ids, weight, cfg.pad_token_id) * self._on("embed_scale", weight.device).to(weight.dtype)
        past = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = (torch.arange(input_ids.shape[1], device=h.device) + past).unsqueeze(0)
        masks = self._masks(attention_mask, input_ids.shape[0], input_ids.shape[1], past, h.device)
        rope = {}
        for t in self.config.rope_theta:
            freqs = position_ids[..., None].float() * self._on(t, h.device)
            emb = torch.cat((freqs, freqs), dim=-1)
            rope[t] = (emb.cos().to(dtype=h.dtype), emb.sin().to(dtype=h.dtype))
        states = [h] if output_hidden_states else None
        for i, layer in enumerate(self.layers):
            t = cfg.layer_types[i]
            h = layer(h, rope[t][0], rope[t][1], masks[t], cache)
            if states is not None:
                states.append(h)
        h = self.norm(h)
        if states is not None:
            states[-1] = h  # the last entry is the normalised state, as in transformers
        return DecoderOutput(h, tuple(states) if states is not None else None, cache if use_cache else None)

    def _masks(self, attention_mask, batch: int, q_len: int, past: int, device) -> dict[str, torch.Tensor | None]:
        """The attention mask of each layer type, as transformers builds it for ``sdpa``: a 4D mask
        is used as given by every layer; a 2D padding mask (or none) becomes None (``is_causal``)
        where nothing is padded, else a boolean [batch, 1, q, kv] mask, with the sliding window
        whenever there are at least ``sliding_window`` keys."""
        if attention_mask is not None and attention_mask.dim() == 4:
            return {t: attention_mask for t in self.config.rope_theta}
        if past:
            raise ValueError("after cached positions the decoder needs a 4D attention mask (mtqa passes one)")
        kv_len = q_len
        padding = attention_mask.to(device=device, dtype=torch.bool) if attention_mask is not None else None
        unpadded = padding is None or bool(padding.all())
        q = torch.arange(q_len, device=device)[:, None]
        kv = torch.arange(kv_len, device=device)[None, :]
        out = {}
        for t in self.config.rope_theta:
            window = self.config.sliding_window if t == "sliding_attention" else None
            if unpadded and (window is None or kv_len < window):
                out[t] = None
                continue
            allowed = kv <= q
            if window is not None:
                allowed = allowed & (kv > q - window)
            allowed = allowed[None, None]
            if padding is not None:
                allowed = allowed & padding[:, None, None, :]
            out[t] = allowed.expand(batch, -1, q_len, kv_len)
        return out


class Gemma3ForScoring(nn.Module):
    """The body and the (tied) output layer: transformers' ``Gemma3ForCausalLM`` without generation."""

    def __init__(self, cfg: Gemma3Config):
        super().__init__()
        self.config = cfg
        self.model = Gemma3Text(cfg)
        self.lm_head = _Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def new_cache(self) -> KVCache:
        """An empty cache to fill with keys and values before a pass (:mod:`mtqa.models.windows`)."""
        return KVCache()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> CausalLMOutput:
        out = self.model(input_ids, attention_mask, **kwargs)
        logits = self.lm_head(out.last_hidden_state)
        cap = self.config.final_logit_softcapping
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return CausalLMOutput(logits, out.cache)


def load(folder: str | Path, dtype: torch.dtype = torch.float32) -> Gemma3ForScoring:
    """The model of ``folder`` (:func:`supports` must hold), weights in ``dtype``.

    Built without random initialisation of its 270M weights and given the safetensors file's
    tensors, which are memory-mapped: weights stored in the dtype that runs are not copied.
    """
    from safetensors import safe_open

    folder = Path(folder)
    cfg = Gemma3Config.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    model = Gemma3ForScoring(cfg)
    state = {}
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            state[name] = t if t.dtype == dtype else t.to(dtype)
    if "lm_head.weight" not in state:
        if not cfg.tie_word_embeddings:
            raise ValueError("the weights have no lm_head.weight and the config does not tie it to the embeddings")
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(f"weights do not fit Gemma 3: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    for module in model.modules():
        if type(module) is _Linear:
            module.__class__ = nn.Linear
    return model.eval()


__all__ = ["Gemma3Config", "Gemma3ForScoring", "KVCache", "load", "supports"]
