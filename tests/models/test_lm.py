"""CausalLM's fast output layer against a plain log_softmax reference, on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_pipeline import build_tiny_model

TEXTS = ["The council met on Monday.", "Prices rose sharply in March, according to figures released on Friday.",
         "Short.", "The council met on Monday.", ""]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, default_model):
    from mtqa.models.lm import CausalLM

    path = build_tiny_model(tmp_path_factory.mktemp("tinylm") / "model", default_model.path)
    return CausalLM(str(path), device="cpu", dtype="float32", head_chunk=7)


def reference(lm, text):
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    x = torch.tensor([[lm.prefix_id] + ids])
    with torch.inference_mode():
        logits = lm.model(input_ids=x).logits[0, :-1].float()
    if lm.softcap:
        logits = torch.tanh(logits / lm.softcap) * lm.softcap
    logp = torch.log_softmax(logits, -1)
    lp = logp.gather(1, torch.tensor(ids)[:, None]).squeeze(1)
    ent = -(logp.exp() * logp).sum(-1)
    return lp.numpy(), ent.numpy()


def test_logprobs_and_entropies_match_reference(tiny_lm):
    tiny_lm.clear_cache()
    scores = tiny_lm.score(TEXTS, batch_tokens=64, batch_size=2)
    assert len(scores) == len(TEXTS)
    for text, ts in zip(TEXTS, scores):
        lp, ent = reference(tiny_lm, text) if text else (np.zeros(0), np.zeros(0))
        assert ts.logprobs.dtype == np.float32 and ts.entropies.dtype == np.float32
        np.testing.assert_allclose(ts.logprobs, lp, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ts.entropies, ent, rtol=1e-4, atol=1e-4)
        assert len(ts.offsets) == len(ts.logprobs)


def test_cache_returns_the_same_object_until_cleared(tiny_lm):
    tiny_lm.clear_cache()
    a = tiny_lm.score(TEXTS[:2])
    b = tiny_lm.score(TEXTS[1:2])
    assert b[0] is a[1]
    tiny_lm.clear_cache()
    c = tiny_lm.score(TEXTS[1:2])
    assert c[0] is not a[1]


def test_entropy_can_be_skipped(tiny_lm, default_model, tmp_path):
    from mtqa.models.lm import CausalLM

    lm = CausalLM(tiny_lm.model.name_or_path, device="cpu", dtype="float32", entropy=False)
    ts = lm.score(TEXTS[1:2])[0]
    np.testing.assert_allclose(ts.logprobs, tiny_lm.score(TEXTS[1:2])[0].logprobs, rtol=1e-5, atol=1e-5)
    assert np.isnan(ts.entropies).all()


def test_bfloat16_and_int8_run(tiny_lm):
    from mtqa.models.lm import CausalLM

    ref = tiny_lm.score(TEXTS[1:2])[0].logprobs
    for kw in ({"dtype": "bfloat16"}, {"dtype": "float32", "quantize": "int8"}):
        lm = CausalLM(tiny_lm.model.name_or_path, device="cpu", **kw)
        ts = lm.score(TEXTS[1:2])[0]
        assert ts.logprobs.dtype == np.float32 and np.isfinite(ts.logprobs).all()
        assert np.abs(ts.logprobs - ref).max() < 0.5


def test_kept_hidden_states_reproduce_the_logprobs(tiny_lm):
    """TokenScores.hidden row t is the state that predicts token t: the head on it gives logprobs[t]."""
    tiny_lm.clear_cache()
    assert tiny_lm.score(TEXTS[1:2])[0].hidden is None  # off unless a signal asks for it
    tiny_lm.clear_cache()
    tiny_lm.keep_hidden = True
    try:
        scores = tiny_lm.score(TEXTS, batch_tokens=64, batch_size=2)
    finally:
        tiny_lm.keep_hidden = False
        tiny_lm.clear_cache()
    for text, ts in zip(TEXTS, scores):
        assert ts.hidden is not None and ts.hidden.dtype == np.float16
        assert ts.hidden.shape == (len(ts.logprobs), tiny_lm.model.config.hidden_size)
        if not text:
            continue
        ids = torch.tensor(tiny_lm.tokenizer(text, add_special_tokens=False)["input_ids"])
        lp = tiny_lm.head_logprobs(torch.from_numpy(ts.hidden).float(), ids).numpy()
        np.testing.assert_allclose(lp, ts.logprobs, atol=0.05)


def test_head_logprobs_match_float32_within_bf16_error(tiny_lm):
    text = TEXTS[1]
    ids = tiny_lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    x = torch.tensor([[tiny_lm.prefix_id] + ids])
    with torch.inference_mode():
        hidden = tiny_lm.model.model(input_ids=x).last_hidden_state[0, :-1]
    lp = tiny_lm.head_logprobs(hidden, torch.tensor(ids), chunk=3)
    assert lp.dtype == torch.float32
    np.testing.assert_allclose(lp.numpy(), reference(tiny_lm, text)[0], atol=0.05)


def test_rescoring_runs_in_bfloat16_only_for_a_float32_model(tiny_lm):
    x = torch.ones(2, 2)
    with tiny_lm.rescoring_precision():
        assert (x @ x).dtype == torch.bfloat16
    tiny_lm.dtype, saved = torch.bfloat16, tiny_lm.dtype
    try:
        with tiny_lm.rescoring_precision():
            assert (x @ x).dtype == torch.float32  # a bf16/fp16 model runs as it is
    finally:
        tiny_lm.dtype = saved


def test_auto_dtype_is_bfloat16_only_where_the_hardware_has_it(monkeypatch):
    from mtqa.models import lm as lm_module

    monkeypatch.setattr(lm_module, "cpu_has_bf16", lambda: True)
    assert lm_module.resolve_dtype("auto", "cpu") == torch.bfloat16
    assert lm_module.resolve_dtype("auto", "cpu", quantize="int8") == torch.float32  # int8 needs float32
    assert lm_module.resolve_dtype("float32", "cpu") == torch.float32  # an explicit choice wins
    monkeypatch.setattr(lm_module, "cpu_has_bf16", lambda: False)
    assert lm_module.resolve_dtype("auto", "cpu") == torch.float32  # emulated bf16 would be slower
    assert lm_module.resolve_dtype("auto", "cuda") == torch.bfloat16
