"""CausalLM's passes (base, suffix, body, windows, output layer) against plain references on a
tiny random-weight model, and the batching helpers they share."""

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
    scores = tiny_lm.variant(batch_tokens=64, batch_size=2).score(TEXTS)
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

    lm = CausalLM(tiny_lm.path, device="cpu", dtype="float32", entropy=False)
    ts = lm.score(TEXTS[1:2])[0]
    np.testing.assert_allclose(ts.logprobs, tiny_lm.score(TEXTS[1:2])[0].logprobs, rtol=1e-5, atol=1e-5)
    assert np.isnan(ts.entropies).all()


def test_bfloat16_and_int8_run(tiny_lm):
    from mtqa.models.lm import CausalLM

    ref = tiny_lm.score(TEXTS[1:2])[0].logprobs
    for kw in ({"dtype": "bfloat16"}, {"dtype": "float32", "quantize": "int8"}):
        lm = CausalLM(tiny_lm.path, device="cpu", **kw)
        ts = lm.score(TEXTS[1:2])[0]
        assert ts.logprobs.dtype == np.float32 and np.isfinite(ts.logprobs).all()
        assert np.abs(ts.logprobs - ref).max() < 0.5


def test_kept_hidden_states_reproduce_the_logprobs(tiny_lm):
    """TokenScores.hidden row t is the state that predicts token t: the head on it gives logprobs[t]."""
    tiny_lm.clear_cache()
    assert tiny_lm.score(TEXTS[1:2])[0].hidden is None  # off unless the model is built to keep them
    scores = tiny_lm.variant(keep_hidden=True, batch_tokens=64, batch_size=2).score(TEXTS)
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


def test_head_logprob_bounds_bound_from_above_and_are_exact_with_the_whole_vocabulary(tiny_lm):
    """A shortlist's log-normaliser is a lower bound, so its log-probs bound the exact ones from
    above (with or without the target listed); with every token listed they are exact."""
    text = TEXTS[1]
    ids = tiny_lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        hidden = tiny_lm.model.model(input_ids=torch.tensor([[tiny_lm.prefix_id] + ids])).last_hidden_state[0, :-1]
    exact = reference(tiny_lm, text)[0]
    targets = torch.tensor(ids)
    vocab = tiny_lm.output_weight()[0].shape[0]
    short = torch.tensor(sorted(set(range(0, vocab, 7)) | set(ids[::2])))
    bound = tiny_lm.head_logprob_bounds(hidden, targets, short).numpy()
    assert (bound >= exact - 1e-5).all() and (bound > exact + 1e-3).any()
    np.testing.assert_allclose(tiny_lm.head_logprob_bounds(hidden, targets, torch.arange(vocab)).numpy(), exact,
                               atol=1e-4)


def test_rescoring_runs_in_bfloat16_only_for_a_float32_model_with_native_bf16(tiny_lm):
    x = torch.ones(2, 2)
    saved = tiny_lm.dtype, tiny_lm.native_bf16
    try:
        tiny_lm.native_bf16 = True
        with tiny_lm.rescoring_precision():
            assert (x @ x).dtype == torch.bfloat16
        assert tiny_lm.rescoring_dtype() == "bfloat16"
        tiny_lm.native_bf16 = False  # a CPU that would emulate bf16 (4-5x slower): stay float32
        with tiny_lm.rescoring_precision():
            assert (x @ x).dtype == torch.float32
        assert tiny_lm.rescoring_dtype() == "float32"
        tiny_lm.dtype, tiny_lm.native_bf16 = torch.bfloat16, True
        with tiny_lm.rescoring_precision():
            assert (x @ x).dtype == torch.float32  # a bf16/fp16 model runs as it is
    finally:
        tiny_lm.dtype, tiny_lm.native_bf16 = saved


def test_head_logprobs_is_exact_float32_without_native_bf16(tiny_lm):
    """Without native bf16 the log-normaliser is a float32 product: equal to the full softmax."""
    saved = tiny_lm.native_bf16
    try:
        tiny_lm.native_bf16 = False
        tiny_lm._head_bf16 = None
        text = "A short sentence for the head."
        ids = [tiny_lm.prefix_id] + tiny_lm.tokenizer(text, add_special_tokens=False)["input_ids"]
        decoder, _ = tiny_lm._decoder_and_head()
        with torch.inference_mode():
            hidden = decoder(input_ids=torch.tensor([ids])).last_hidden_state[0, :-1]
        lp = tiny_lm.head_logprobs(hidden, torch.tensor(ids[1:]))
        np.testing.assert_allclose(lp.numpy(), reference(tiny_lm, text)[0], atol=1e-4)
        assert tiny_lm._head_bf16 is None  # no bf16 copy of the output matrix was made
    finally:
        tiny_lm.native_bf16 = saved


def test_auto_dtype_is_bfloat16_only_where_the_hardware_has_it(monkeypatch):
    from mtqa.models import device as lm_module

    monkeypatch.setattr(lm_module, "cpu_has_bf16", lambda: True)
    assert lm_module.resolve_dtype("auto", "cpu") == torch.bfloat16
    assert lm_module.resolve_dtype("auto", "cpu", quantize="int8") == torch.float32  # int8 needs float32
    assert lm_module.resolve_dtype("float32", "cpu") == torch.float32  # an explicit choice wins
    monkeypatch.setattr(lm_module, "cpu_has_bf16", lambda: False)
    assert lm_module.resolve_dtype("auto", "cpu") == torch.float32  # emulated bf16 would be slower
    assert lm_module.resolve_dtype("auto", "cuda") == torch.bfloat16


# -- one model, several configurations ---------------------------------------------------------


def test_variant_shares_the_weights_but_not_settings_or_cache(tiny_lm):
    tiny_lm.clear_cache()
    v = tiny_lm.variant(batch_size=1, keep_hidden=True)
    assert v.model is tiny_lm.model and v.tokenizer is tiny_lm.tokenizer
    assert (v.batch_size, v.keep_hidden) == (1, True) and (tiny_lm.batch_size, tiny_lm.keep_hidden) == (64, False)
    a = v.score(TEXTS[:2])
    assert tiny_lm.score(TEXTS[:1])[0] is not a[0]  # its own cache
    np.testing.assert_allclose(a[0].logprobs, tiny_lm.score(TEXTS[:1])[0].logprobs, atol=1e-5)
    with pytest.raises(TypeError, match="unknown settings"):
        tiny_lm.variant(device="cuda")


def test_batch_settings_bound_every_pass_and_keep_the_callers_order(tiny_lm, monkeypatch):
    """score and suffix_logprobs cut batches by the model's own settings, not by the caller."""
    from mtqa.models import lm as lm_module

    seen: list[list[int]] = []
    real = lm_module.length_batches

    def spy(lengths, batch_tokens, batch_size, sort_keys=None, **kw):
        out = real(lengths, batch_tokens, batch_size, sort_keys, **kw)
        seen.extend(out)
        assert all(len(b) <= batch_size and len(b) * max(lengths[i] for i in b) <= max(batch_tokens, max(lengths))
                   for b in out)
        return out

    monkeypatch.setattr(lm_module, "length_batches", spy)
    small = tiny_lm.variant(batch_tokens=40, batch_size=2)
    texts = [t for t in TEXTS if t][:3] + ["One more sentence to score here."]
    scores = small.score(texts)
    assert len(seen) >= 2 and sorted(i for b in seen for i in b) == list(range(len(set(texts))))
    for text, ts in zip(texts, scores):
        np.testing.assert_allclose(ts.logprobs, reference(tiny_lm, text)[0], atol=1e-4)


# -- the other passes against plain references --------------------------------------------------


def test_suffix_logprobs_match_the_reference_tail(tiny_lm):
    prompts = ["Source: Le conseil.\nEnglish translation: ", "Q: ", ""]
    targets = ["The council met on Monday.", "Prices rose.", "Short."]
    texts = [p + t for p, t in zip(prompts, targets)]
    got = tiny_lm.variant(batch_size=2).suffix_logprobs(texts, [len(p) for p in prompts])
    for text, prompt, lp in zip(texts, prompts, got):
        ids = tiny_lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        keep = np.array([b > len(prompt) for _a, b in ids["offset_mapping"]])
        assert lp.dtype == np.float32 and len(lp) == keep.sum()
        np.testing.assert_allclose(lp, reference(tiny_lm, text)[0][keep], atol=1e-4)


def test_hidden_states_and_token_logits(tiny_lm):
    ids = tiny_lm.tokenizer(TEXTS[1], add_special_tokens=False)["input_ids"]
    (h,) = tiny_lm.hidden_states([ids])
    assert h.shape == (len(ids) + 1, tiny_lm.model.config.hidden_size) and h.dtype == torch.float32
    with torch.inference_mode():
        full = tiny_lm.model.lm_head(h).float()
    if tiny_lm.softcap:
        full = torch.tanh(full / tiny_lm.softcap) * tiny_lm.softcap
    some = torch.tensor([5, 17, ids[0]])
    np.testing.assert_allclose(tiny_lm.token_logits(h, some), full[:, some].numpy(), atol=1e-4)
    per_row = torch.tensor(ids + [ids[0]])[:, None]  # one token per row
    np.testing.assert_allclose(tiny_lm.token_logits(h, per_row)[:, 0], full.gather(1, per_row)[:, 0].numpy(), atol=1e-4)
    assert tiny_lm.has_output_matrix
    # rows gathered once for several calls (the word-order search): a superset, in any order, with repeats
    rows = tiny_lm.output_rows(np.array([ids[0], 17, 5, 17, *ids, 99]))
    assert list(rows.ids) == sorted(set(rows.ids)) and rows.weight.shape == (len(rows.ids), h.shape[1])
    np.testing.assert_array_equal(rows.logits(h, some), tiny_lm.token_logits(h, some))
    np.testing.assert_array_equal(rows.logits(h, per_row), tiny_lm.token_logits(h, per_row))


def _window_reference(lm, prefix, start, window):
    """log p(window tokens | prefix[:start]) from one plain float32 pass over prefix[:start] + window."""
    ids = list(prefix[:start]) + list(window)
    x = torch.tensor([[lm.prefix_id] + ids])
    with torch.inference_mode():
        logits = lm.model(input_ids=x).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None])[:, 0].numpy()
    return logp[start:]


@pytest.mark.parametrize("packed", [True, False])
def test_score_windows_match_plain_passes(tiny_lm, monkeypatch, packed):
    """Windows packed after their shared prefix (4D mask, restarted positions), and groups
    packed side by side into one row (each seeing only itself), score as if each window ran
    alone after its prefix; the unpacked fallback (one row per window) gives the same. In
    float32 re-scoring they agree to float rounding: a group that could see its row's first
    token (another group's start) moved window sums by nats on Gemma."""
    from mtqa.models import windows
    from mtqa.models.windows import WindowGroup

    if not packed:
        monkeypatch.setattr(windows, "attention_mask_4d", lambda lm, allowed: None)
    tok = lambda t: tiny_lm.tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    a, b = tok(TEXTS[1]), tok("The council met on Monday evening in the town hall.")
    groups = [
        WindowGroup(a, [3, 5, 3], [a[4:6] + a[3:4], a[6:8], tok(" rose")]),
        WindowGroup(b, [0, 2], [b[1:3], b[3:4] + b[2:3] + b[4:5]]),
        WindowGroup(a, [], []),
        WindowGroup(b, [1], [b[2:3]]),
        WindowGroup(a, [0], [a[1:2] + a[0:1]]),
    ]
    known = [[None, -1.5, None], [None, None], [], [None], [-2.0]]
    lengths = [g.packed_length() for g in groups if g.windows]
    assert any(len(row) > 1 for row in windows.pack_rows(lengths, max(lengths)))  # groups do share rows
    got = tiny_lm.variant(batch_tokens=64, batch_size=2).score_windows(groups, known)
    assert [len(g) for g in got] == [3, 2, 0, 1, 1]
    for g, lps, kn in zip(groups, got, known):
        for start, window, lp, k in zip(g.starts, g.windows, lps, kn):
            ref = _window_reference(tiny_lm, g.prefix, start, window)
            assert lp.dtype == np.float32 and lp.shape == ref.shape
            if k is not None:
                assert lp[0] == np.float32(k)  # a known first log-prob is taken, not recomputed
                lp, ref = lp[1:], ref[1:]
            tol = 1e-4 if tiny_lm.rescoring_dtype() == "float32" else 0.05  # bfloat16 rescoring precision
            np.testing.assert_allclose(lp, ref, atol=tol)


def test_windows_continued_from_the_base_pass_keys_and_values_match_plain_passes(lm, monkeypatch):
    """With the base pass's keys and values (``keep_kv``) the body runs over the windows' own
    tokens only, groups side by side in rows, each input seeing its own group's prefix: the
    same log-probs as a plain pass per window, up to the float16 the keys and values are
    kept in. On Gemma (the real model: the tiny one barely reacts) letting a group see the
    row's first start token, another group's, moved them by 0.4 nats here."""
    from mtqa.models import windows
    from mtqa.models.windows import WindowGroup

    lm = lm.variant(keep_kv=True, keep_hidden=True, batch_tokens=64, batch_size=2)
    tok = lambda t: lm.tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    texts = [TEXTS[1], "The council met on Monday evening in the town hall."]
    a, b = (tok(t) for t in texts)
    bases = lm.score(texts)
    cfg = lm.model.config
    for ts, ids in zip(bases, (a, b)):
        assert ts.kv.dtype == np.float16 and ts.kv.shape == (
            cfg.num_hidden_layers, 2, cfg.num_key_value_heads, len(ids) + 1, cfg.head_dim)
    groups = [WindowGroup(a, [3, 5, 3], [a[4:6] + a[3:4], a[6:8], tok(" rose")]),
              WindowGroup(b, [0, 2], [b[1:3], b[3:4] + b[2:3] + b[4:5]]),
              WindowGroup(b, [1], [b[2:3]]),
              WindowGroup(a, [2], [a[4:11]])]
    owner = [0, 1, 1, 0]
    known = [[-1.0, -1.5, -0.5], [-2.0, -3.0], [-1.0], [-4.0]]  # first log-probs known: the continued pass needs them
    states = lm.window_states(groups, known, [bases[k].kv for k in owner])
    assert states.hidden.shape[0] == sum(len(w) - 1 for g in groups for w in g.windows)  # no prefix tokens
    lp = lm.head_logprobs(states.hidden, states.targets).numpy()
    for g, grp in enumerate(groups):
        for w, (start, window) in enumerate(zip(grp.starts, grp.windows)):
            got = states.window_logprobs(g, w, lp)
            assert got[0] == np.float32(known[g][w])
            np.testing.assert_allclose(got[1:], _window_reference(lm, grp.prefix, start, window)[1:], atol=0.02)
    inputs = [n for n in (sum(len(w) - 1 for w in g.windows) for g in groups) if n]
    assert any(len(row) > 1 for row in windows.pack_rows(inputs, max(inputs)))  # groups do share rows
    # the continued pass ran above; without every group's keys and values, or without every
    # first log-prob, the packed pass runs instead (same states to float16 rounding)
    ran = []
    monkeypatch.setattr(windows, "_continued_states", lambda *args: ran.append(1) or pytest.fail("continued"))
    for kv, first in (([None, bases[1].kv, bases[1].kv], known), ([bases[k].kv for k in owner], None)):
        packed = lm.window_states(groups, first, kv)
        lp_packed = lm.head_logprobs(packed.hidden, packed.targets).numpy()
        for g, grp in enumerate(groups):
            for w in range(len(grp.windows)):
                np.testing.assert_allclose(packed.window_logprobs(g, w, lp_packed)[1:],
                                           states.window_logprobs(g, w, lp)[1:], atol=0.02)
    assert not ran


def test_keys_and_values_are_kept_within_the_budget_only(tiny_lm):
    texts = [TEXTS[1], "The council met on Monday evening in the town hall.", "Short."]
    lengths = [len(tiny_lm.tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts]
    assert all(ts.kv is None for ts in tiny_lm.variant(keep_hidden=True).score(texts))  # off by default
    every = tiny_lm.variant(keep_kv=True, batch_size=1, kv_budget=sum(lengths))
    assert all(ts.kv is not None for ts in every.score(texts))
    some = tiny_lm.variant(keep_kv=True, batch_size=1, kv_budget=max(lengths))
    kept = [ts.kv is not None for ts in some.score(texts)]
    assert 1 <= sum(kept) < len(texts)  # batches (one text each here) are kept while the budget lasts


# -- batching helpers (no model) ----------------------------------------------------------------


def test_pack_rows_first_fit_longest_first():
    from mtqa.models.windows import pack_rows

    rows = pack_rows([5, 60, 30, 100, 40, 250], 100)
    assert rows == [[5], [3], [1, 4], [2, 0]]  # 250 alone (too long), 100 fills a row, 60+40, 30+5
    assert sorted(i for r in rows for i in r) == list(range(6))
    assert pack_rows([], 10) == []


def test_length_batches():
    from mtqa.models.batching import length_batches

    lengths = [5, 1, 9, 3, 3, 30, 2]
    batches = length_batches(lengths, batch_tokens=12, batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [i for b in batches for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths)  # shortest first: rows of a batch have similar length
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 12)
    assert [5] in batches  # a row longer than batch_tokens still gets a batch of its own
    assert length_batches([], 10, 2) == []
    # sort_keys order the rows (the base pass sorts by untruncated length, costs by truncated)
    assert length_batches([4, 4, 4], 100, 2, sort_keys=[9, 1, 5]) == [[1, 2], [0]]
    # cut where padding plus a cost per batch is least: a long row gets a batch of its own when
    # its padding of the short ones would cost more than a batch (5 x 40 padded tokens > 64)
    assert length_batches([10, 10, 10, 10, 10, 50], 1000, 6, batch_cost=64) == [[0, 1, 2, 3, 4], [5]]
    assert length_batches([10, 10, 10, 10, 10, 50], 1000, 6, batch_cost=500) == [[0, 1, 2, 3, 4, 5]]
    # ``work``: what padding costs, when the cap counts more (the windows' continued pass: the cap
    # counts cached + new tokens, the work only the new ones). Rows of equal work share a batch
    # however their capped lengths differ, up to the cap
    assert length_batches([40, 12, 80, 20], 1000, 4, sort_keys=[8, 8, 8, 8], work=[8, 8, 8, 8]) == [[0, 1, 2, 3]]
    assert length_batches([40, 12, 80, 20], 1000, 4, sort_keys=[8, 8, 8, 8]) == [[0, 1], [2, 3]]
    assert length_batches([40, 12, 80, 20], 200, 4, sort_keys=[8, 8, 8, 8], work=[8, 8, 8, 8]) == [[0, 1], [2, 3]]


def test_column_logsumexp_matches_torch_over_the_vocabulary_axis():
    from mtqa.models.batching import column_logsumexp_

    zt = torch.randn(1000, 7, generator=torch.Generator().manual_seed(0)) * 20
    want = torch.logsumexp(zt.double(), dim=0).float()
    assert torch.allclose(column_logsumexp_(zt.clone()), want, rtol=0, atol=1e-5)


def test_aligned_states_pad_to_a_multiple_of_16_and_leave_the_real_columns_alone(lm):
    """The vocabulary-major output layer runs on a multiple of 16 states (``aligned_states``; other
    result-row lengths ran up to 1.65x slower on the CPU): zero states appended from 12 states up,
    none below; on the model's own output matrix the real columns of the product are the same
    bits, and their log-normalisers within float32 rounding (the reduction's vector remainder moves)."""
    from mtqa.models.batching import aligned_count, aligned_states, column_logsumexp_

    assert [aligned_count(n) for n in (0, 1, 8, 11, 12, 16, 17, 169, 256, 257)] == [0, 1, 8, 11, 16, 16, 32, 176, 256, 272]
    weight = lm.model.get_output_embeddings().weight.detach().float()
    g = torch.Generator().manual_seed(0)
    for n in (5, 13, 37, 250):
        h = torch.randn(n, weight.shape[1], generator=g) * 3
        padded = aligned_states(h)
        assert padded.shape == (aligned_count(n), h.shape[1]) and torch.equal(padded[:n], h)
        assert not padded[n:].any() and (padded is h) == (n < 12)
        with torch.inference_mode():
            plain, wide = torch.mm(weight, h.t()), torch.mm(weight, padded.t())
            assert torch.equal(wide[:, :n], plain)
            assert torch.allclose(column_logsumexp_(wide)[:n], column_logsumexp_(plain), rtol=0, atol=1e-5)


def test_pad_batch_and_softcap():
    from mtqa.models.batching import pad_batch, softcap_

    ids, mask = pad_batch([[7, 8, 9], [4]], pad_id=0)
    assert ids.tolist() == [[7, 8, 9], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long
    x = torch.tensor([-100.0, -1.0, 0.0, 3.0, 100.0])
    want = torch.tanh(x / 30.0) * 30.0
    out = softcap_(x, 30.0)
    assert out is x and torch.equal(x, want)
    assert torch.equal(softcap_(x.clone(), None), x)


def test_fast_tokenizer_load_equals_autotokenizer(default_model):
    """The embedded model's tokenizer built straight from tokenizer.json (``tokenizers`` alone, the
    cold-start path) encodes exactly as AutoTokenizer does: ids, offsets, the special-token ids
    mtqa reads and the vocabulary size."""
    from transformers import AutoTokenizer

    from mtqa.models.lm import load_tokenizer
    from tests.conftest import DATA

    fast = load_tokenizer(default_model.path)
    auto = AutoTokenizer.from_pretrained(default_model.path, local_files_only=True)
    assert fast is not None and fast.is_fast
    texts = [line for f in sorted(DATA.glob("*.txt")) for line in f.read_text(encoding="utf-8").splitlines()]
    texts += TEXTS + ["  two  spaces\tand a tab", "日本語のテキスト。", "Emoji 😀 and <bos> as text", "€ 40 ,and – dashes…"]
    a = auto(texts, add_special_tokens=False, return_offsets_mapping=True)
    b = fast(texts, add_special_tokens=False, return_offsets_mapping=True)
    assert a["input_ids"] == b["input_ids"] and a["offset_mapping"] == b["offset_mapping"]
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(fast, name) == getattr(auto, name), name
    assert len(fast) == len(auto)
    assert fast(texts[0], add_special_tokens=False)["input_ids"] == a["input_ids"][0]  # one text: not nested
    assert fast(texts[:2])["input_ids"] == auto(texts[:2])["input_ids"]  # with the <bos> the post-processor adds
    assert load_tokenizer(str(DATA)) is None  # not a converted model folder: AutoTokenizer is used


def _float64_reference(lm, text):
    """float64 log-probs and entropies of ``text`` from the model body's float32 last states."""
    decoder, head = lm._decoder_and_head()
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        h = decoder(input_ids=torch.tensor([[lm.prefix_id] + ids])).last_hidden_state[0, :-1]
        z = h.double() @ head.weight.double().T
    if lm.softcap:
        z = torch.tanh(z / lm.softcap) * lm.softcap
    logp = torch.log_softmax(z, -1)
    return (logp.gather(1, torch.tensor(ids, dtype=torch.long).reshape(-1, 1)).squeeze(1).numpy(),
            -(logp.exp() * logp).sum(-1).numpy())


def test_vocabulary_major_output_layer_is_float32_exact(lm):
    """On the CPU the base pass computes each chunk's output layer vocabulary-major, in memory
    the pass reuses (``CausalLM._column_head``, ``_head_buffers``; the copy back into rows cost
    a seventh of the output layer's time on a 2-core CPU), in chunks that may span batches
    (``_OutputLayer``): over several chunk and batch sizes and a partial last chunk, log-probs
    and entropies are within float32 rounding of a float64 product. (The row layout's entropy,
    an ``einsum``, was off by up to 2e-3 nats here.)"""
    texts = TEXTS + ["The government has yesterday the new law presented.", "Jens Stoltenberg said so. " * 12]
    head = lm.model.get_output_embeddings()
    assert lm.variant(head_chunk=16)._head_buffers(head, torch.zeros(40, 640), 40) is not None  # the path under test
    assert lm.variant(head_chunk=16, head_buffers=False)._head_buffers(head, torch.zeros(40, 640), 40) is None
    ref = [_float64_reference(lm, t) for t in texts]
    # batches of 2 texts: chunks span batches (_OutputLayer); one batch of all: chunks within it
    for chunk, batch_size in ((8, 64), (16, 64), (64, 64), (256, 64), (16, 2), (64, 2)):
        cols = lm.variant(head_chunk=chunk, batch_size=batch_size).score(texts)
        assert chunk > 16 or sum(len(x.logprobs) for x in cols) > 3 * chunk  # several chunks and a partial one
        for x, (lp64, ent64) in zip(cols, ref):
            assert np.allclose(x.logprobs, lp64, rtol=0, atol=5e-5)
            assert np.allclose(x.entropies, ent64, rtol=0, atol=5e-5)
    rows = lm.variant(head_chunk=16, head_buffers=False).score(texts)  # the row layout: within its einsum's error
    for x, (lp64, ent64) in zip(rows, ref):
        assert np.allclose(x.logprobs, lp64, rtol=0, atol=5e-5) and np.allclose(x.entropies, ent64, rtol=0, atol=1e-2)
    # deterministic: the same chunk gives the same bits
    for x, y in zip(lm.variant(head_chunk=16).score(texts), lm.variant(head_chunk=16).score(texts)):
        assert np.array_equal(x.logprobs, y.logprobs) and np.array_equal(x.entropies, y.entropies, equal_nan=True)


def test_head_logprobs_vocabulary_major_matches_a_float64_product(lm):
    """``head_logprobs`` (the search's exact output layer) computes each chunk vocabulary-major
    into one reused buffer on the CPU: within float32 rounding of a float64 product, over
    several chunks and a partial last one, and independent of the chunk size to rounding."""
    states = torch.from_numpy(np.concatenate([s.hidden for s in lm.variant(keep_hidden=True).score(TEXTS)])).float()
    targets = torch.arange(states.shape[0]) * 7 % 1000
    weight = lm.model.get_output_embeddings().weight.detach()
    want = torch.log_softmax(states.double() @ weight.double().T, -1).gather(1, targets[:, None]).squeeze(1)
    got = lm.head_logprobs(states, targets, chunk=8)
    assert states.shape[0] > 8 and states.shape[0] % 8
    assert torch.allclose(got.double(), want, rtol=0, atol=1e-4)
    assert torch.allclose(got, lm.head_logprobs(states, targets, chunk=512), rtol=0, atol=2e-5)


def test_stacked_keys_and_values_equal_stacking_then_casting():
    """``_stacked_kv`` fills one float16 array layer by layer: the same values as stacking the
    float32 keys and values and casting (what it did before, at three times the memory
    traffic); None where a layer does not hold every position."""
    from types import SimpleNamespace

    from mtqa.models.lm import _stacked_kv

    g = torch.Generator().manual_seed(0)
    layers = [SimpleNamespace(keys=torch.randn(3, 1, 7, 16, generator=g) * 50,
                              values=torch.randn(3, 1, 7, 16, generator=g)) for _ in range(4)]
    out = SimpleNamespace(cache=SimpleNamespace(layers=layers))
    want = torch.stack([torch.stack([x.keys for x in layers]), torch.stack([x.values for x in layers])],
                       dim=1).to(torch.float16).numpy()
    got = _stacked_kv(out, 7)
    assert got.dtype == np.float16 and got.shape == (4, 2, 3, 1, 7, 16) and np.array_equal(got, want)
    layers[2].keys = layers[2].keys[:, :, 1:]  # a sliding layer that dropped its oldest position
    assert _stacked_kv(out, 7) is None
