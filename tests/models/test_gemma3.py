"""mtqa's own Gemma 3 decoder against transformers' on the embedded model: bit for bit on the CPU."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from mtqa.models import gemma3
from mtqa.models.batching import pad_batch


@pytest.fixture(scope="module")
def pair(default_model):
    """(transformers' model, mtqa's model) of the embedded weights, float32."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(default_model.path, dtype=torch.float32).eval()
    assert hf.config._attn_implementation == "sdpa"  # the kernels mtqa's decoder follows
    return hf, gemma3.load(default_model.path)


def _seqs(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[2] + torch.randint(5, 50_000, (n,), generator=g).tolist() for n in lengths]


def _cache_layers(out):
    cache = getattr(out, "cache", None) or out.past_key_values
    return cache.layers


@torch.inference_mode()
def test_padded_and_unpadded_batches_equal_transformers_bit_for_bit(pair):
    hf, own = pair
    ids, mask = pad_batch(_seqs([12, 7, 30, 1]), 0)
    for m in (mask, None):  # padded (boolean masks) and, without a mask, is_causal kernels
        if m is None:
            ids = ids[:, :8]
        a = hf.model(input_ids=ids, attention_mask=m, output_hidden_states=True)
        b = own.model(input_ids=ids, attention_mask=m, output_hidden_states=True)
        assert torch.equal(a.last_hidden_state, b.last_hidden_state)
        assert len(a.hidden_states) == len(b.hidden_states) == own.config.num_hidden_layers + 1
        assert all(torch.equal(x, y) for x, y in zip(a.hidden_states, b.hidden_states))
    one = torch.tensor([[2]])
    assert torch.equal(hf(input_ids=one).logits, own(input_ids=one).logits)


@torch.inference_mode()
def test_past_the_sliding_window_with_kept_keys_and_values(pair):
    """521 positions: the sliding layers' window masks the first key, and their cache keeps the last 511."""
    hf, own = pair
    ids, mask = pad_batch(_seqs([520, 300], seed=1), 0)
    a = hf.model(input_ids=ids, attention_mask=mask, use_cache=True)
    b = own.model(input_ids=ids, attention_mask=mask, use_cache=True)
    assert torch.equal(a.last_hidden_state, b.last_hidden_state)
    la, lb = _cache_layers(a), _cache_layers(b)
    assert [tuple(x.keys.shape) for x in la] == [tuple(x.keys.shape) for x in lb]
    assert {x.keys.shape[2] for x in lb} == {511, 521}
    assert all(torch.equal(x.keys, y.keys) and torch.equal(x.values, y.values) for x, y in zip(la, lb))


@torch.inference_mode()
def test_continuing_from_a_filled_cache_with_a_4d_mask(pair):
    """What the word-order search does: a prefix's keys and values, then other tokens at chosen
    positions, each row seeing a chosen part of the cache (a 4D boolean mask)."""
    from transformers import DynamicCache

    hf, own = pair
    prefix = torch.tensor(_seqs([9, 9], seed=2))
    first = own.model(input_ids=prefix, attention_mask=torch.ones_like(prefix), use_cache=True).cache
    tail = torch.tensor(_seqs([4, 4], seed=3))[:, 1:]
    pos = torch.tensor([[10, 11, 12, 13], [5, 6, 7, 8]])
    allowed = torch.zeros(2, 4, 10 + 4, dtype=torch.bool)
    allowed[0, :, :10] = True
    allowed[1, :, :5] = True
    allowed[:, :, 10:] = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    outs = []
    for model, cache in ((hf, DynamicCache()), (own, own.new_cache())):
        for i, layer in enumerate(first.layers):
            cache.update(layer.keys.clone(), layer.values.clone(), i)
        outs.append(model.model(input_ids=tail, attention_mask=allowed[:, None], position_ids=pos, use_cache=True,
                                cache=cache).last_hidden_state)
    assert torch.equal(outs[0], outs[1])


def test_causal_lm_passes_equal_with_either_decoder(pair, lm):
    """The whole scoring interface (CausalLM) on the embedded model: per-token log-probs, entropies,
    hidden states, keys and values the same whichever decoder runs."""
    from mtqa.models.lm import CausalLM

    assert isinstance(lm.model, gemma3.Gemma3ForScoring)  # the default for the embedded model
    texts = ["The government has yesterday the new law presented.", "Short.", "Jens Stoltenberg said so. " * 30]
    own = lm.variant(keep_hidden=True, keep_kv=True)
    hf = CausalLM.__new__(CausalLM)
    hf.__dict__.update(own.__dict__)
    hf.model = pair[0]  # transformers' model of the same weights
    hf._cache = type(own._cache)()
    for x, y in zip(own.score(texts), hf.score(texts)):
        assert (x.logprobs == y.logprobs).all() and (x.entropies == y.entropies).all()
        assert (x.hidden == y.hidden).all()
        assert (x.kv is None) == (y.kv is None) and (x.kv is None or (x.kv == y.kv).all())
    a = own.suffix_logprobs(["Quelle: bonjour\nEnglish: hello there"], [16], pooled_layers=[6, 18])
    b = hf.suffix_logprobs(["Quelle: bonjour\nEnglish: hello there"], [16], pooled_layers=[6, 18])
    assert (a[0][0] == b[0][0]).all() and (a[1][0] == b[1][0]).all()


def test_bfloat16_weights_equal_transformers(default_model):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(default_model.path, dtype=torch.bfloat16).eval()
    own = gemma3.load(default_model.path, torch.bfloat16)
    assert own.model.embed_tokens.weight.dtype == torch.bfloat16
    ids, mask = pad_batch(_seqs([6, 11], seed=4), 0)
    with torch.inference_mode():
        assert torch.equal(hf.model(input_ids=ids, attention_mask=mask).last_hidden_state,
                           own.model(input_ids=ids, attention_mask=mask).last_hidden_state)


def test_int8_quantisation_reaches_every_linear_layer(pair):
    """Loaded modules are plain nn.Linear, which dynamic quantisation matches by exact type."""
    own = pair[1]  # quantize_dynamic below quantises a copy
    linear = sum(isinstance(m, torch.nn.Linear) for m in own.modules())
    assert linear == own.config.num_hidden_layers * 7 + 1 and own.lm_head.weight is own.model.embed_tokens.weight
    q = torch.ao.quantization.quantize_dynamic(own, {torch.nn.Linear}, dtype=torch.qint8)
    assert sum(type(m) is torch.nn.Linear for m in q.modules()) == 0


def test_supports_only_what_it_computes_exactly(default_model, tmp_path):
    assert gemma3.supports(default_model.path)
    cfg = json.loads(open(f"{default_model.path}/config.json", encoding="utf-8").read())

    def folder_with(name: str, **changes) -> str:
        f = tmp_path / name
        f.mkdir()
        (f / "config.json").write_text(json.dumps({**cfg, **changes}))
        (f / "model.safetensors").write_bytes(b"")
        return str(f)

    assert gemma3.supports(folder_with("same"))
    assert not gemma3.supports(folder_with("llama", model_type="llama"))
    assert not gemma3.supports(folder_with("softcap", attn_logit_softcapping=50.0))
    assert not gemma3.supports(folder_with("bidirectional", use_bidirectional_attention=True))
    ropes = {t: {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6} for t in ("full_attention", "sliding_attention")}
    assert not gemma3.supports(folder_with("scaled-rope", rope_parameters=ropes))
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(f"{default_model.path}/config.json", no_weights)
    assert not gemma3.supports(no_weights)
    assert not gemma3.supports(tmp_path / "missing")
