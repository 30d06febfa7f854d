"""Source-conditioned PMI with the real default model."""

from __future__ import annotations

import math

import numpy as np

from mtqa.models.lm import TokenScores
from mtqa.segment import segment
from mtqa.signals.source import SourceSignal, conditional_prompt, token_pmi
from mtqa.types import Article


def art(text, source=None, unit="segment", aid="a"):
    a = Article(aid, text, "test", source=source)
    a.sentences = segment(a, unit)
    return a


def target_logprobs(ts: TokenScores, target_start: int) -> np.ndarray:
    """The reference for suffix_logprobs: log-probs of the tokens that overlap the text from
    ``target_start`` on (a token straddling the start counts), read from a full scoring."""
    return ts.logprobs[ts.offsets[:, 1] > target_start] if len(ts.logprobs) else ts.logprobs


def test_target_logprobs_reads_tokens_from_the_offset():
    ts = TokenScores(np.array([[0, 7], [7, 10], [10, 14], [14, 18]], dtype=np.int32),
                     np.array([-1, -2, -3, -4], dtype=np.float32), np.zeros(4, dtype=np.float32), False)
    assert target_logprobs(ts, 10).tolist() == [-3, -4]
    assert target_logprobs(ts, 9).tolist() == [-2, -3, -4]  # a token straddling the start counts


def test_conditional_prompt_offsets():
    cond, c0 = conditional_prompt("Le  chat\nnoir.", "The black cat.")
    assert cond[c0:] == "The black cat."
    assert cond == "Source: Le chat noir.\nEnglish translation: The black cat."  # one line break: the template's


def test_suffix_logprobs_match_full_scoring(lm):
    text = "Source: Guten Morgen.\nEnglish translation: Good morning."
    start = text.index("Good")
    full = lm.score([text])[0]
    got = lm.suffix_logprobs([text], [start])[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, target_logprobs(full, start), atol=2e-3)


def test_suffix_logprobs_keeps_the_tail_of_a_long_text(lm):
    """Over max_tokens the *head* is cut (the target survives a long source); a start past the
    end gives no tokens; results come back in the caller's order whatever the batching."""
    short = lm.variant(batch_size=2, max_tokens=12)  # the shared model keeps its settings
    prompt = "Source: " + "Der Rat tagte am Montag in Wien und beriet lange. " * 4 + "\nEnglish translation: "
    texts = [prompt + "The council met.", "Good morning.", prompt + "It rained."]
    starts = [len(prompt), len("Good morning."), len(prompt)]
    got = short.suffix_logprobs(texts, starts)
    assert got[1].size == 0
    for text, start, lp in zip(texts[::2], starts[::2], got[::2]):
        n_target = len(target_logprobs(lm.score([text])[0], start))
        assert lp.size == n_target and 0 < n_target < 12
    np.testing.assert_allclose(got[0], short.suffix_logprobs([texts[0]], [starts[0]])[0], atol=1e-4)
    assert lm.max_tokens == 512


def test_pmi_prefers_the_right_source(lm):
    sig = SourceSignal(lm)
    target = "The cat is sleeping on the sofa."
    out = sig.compute([art(target, "Le chat dort sur le canapé."),
                       art(target, "La bourse a chuté de trois pour cent hier.", aid="b"),
                       art(target, None, aid="c")])
    pmi = out.columns["src_pmi"]
    assert pmi[0] > pmi[1]
    assert pmi[0] > 0
    assert math.isnan(pmi[2]) and math.isnan(out.columns["src_logprob"][2])
    assert out.columns["src_len_ratio"][0] == math.log(len(target) / len("Le chat dort sur le canapé."))


def test_article_unit_long_source_falls_back(lm):
    sig = SourceSignal(lm, unit="article", max_source_chars=20)
    a = art("The cat sleeps. The dog barks.", "Le chat dort. Le chien aboie.", unit="article")
    assert len(a.sentences) == 2
    out = sig.compute([a])
    assert all(math.isnan(v) for v in out.columns["src_pmi"])
    sig2 = SourceSignal(lm, unit="article", max_source_chars=1000)
    out2 = sig2.compute([a])
    assert all(math.isfinite(v) for v in out2.columns["src_pmi"])


def test_token_pmi_aligns_from_the_end_and_leaves_out_the_first_token():
    cond = np.array([-5.0, -1.0, -2.0, -0.5], dtype=np.float32)  # one token more: the prompt's space
    bare = np.array([-3.0, -2.5, -1.0], dtype=np.float32)
    np.testing.assert_allclose(token_pmi(cond, bare), [0.5, 0.5])  # (-2 - -2.5, -0.5 - -1)
    assert token_pmi(np.array([-1.0], np.float32), np.array([-3.0], np.float32)).tolist() == [2.0]


def test_a_wrong_word_shows_in_the_token_profile(lm):
    """One mistranslated word barely moves the mean PMI of a long sentence; the per-token
    profile points at it: its PMI is the lowest, its surprisal given the source the highest."""
    src = "Le chat noir de ma voisine dort tous les après-midi sur le canapé du salon."
    right = "My neighbour's black cat sleeps on the living-room sofa every afternoon."
    wrong = "My neighbour's black cat sleeps on the living-room bank every afternoon."
    out = SourceSignal(lm).compute([art(right, src), art(wrong, src, aid="b")]).columns
    assert out["src_pmi_min"][1] < out["src_pmi_min"][0]
    assert out["src_pmi_p10"][1] <= out["src_pmi_p10"][0]
    assert out["src_surprisal_max"][1] > out["src_surprisal_max"][0]
    for name in ("src_pmi_min", "src_pmi_p10", "src_pmi_low", "src_surprisal_max", "src_surprisal_p90"):
        assert math.isfinite(out[name][0]), name
    assert 0.0 <= out["src_pmi_low"][0] <= 1.0


def test_pooled_states_are_the_mean_states_of_the_sentence_tokens(lm):
    """``suffix_logprobs(..., pooled_layers)``: per text, the mean over the tail's tokens of the
    chosen layers' states, as a body pass over the same tokens gives them (the last layer's
    normalised state); the log-probs are the same as without pooling."""
    text = "Source: Guten Morgen, liebe Freunde.\nEnglish translation: Good morning, dear friends."
    start = text.index("Good")
    lps, pooled = lm.suffix_logprobs([text], [start], pooled_layers=(6, 18))
    np.testing.assert_allclose(lps[0], lm.suffix_logprobs([text], [start])[0], atol=1e-5)
    assert pooled[0].shape == (2, 640)
    enc = lm.tokenizer([text], add_special_tokens=False, return_offsets_mapping=True)
    ids, offs = enc["input_ids"][0], enc["offset_mapping"][0]
    k = next(j for j, (_a, b) in enumerate(offs) if b > start)
    states = lm.hidden_states([ids])[0]  # [start token + ids, hidden], the last layer
    np.testing.assert_allclose(pooled[0][1], states[1 + k:].mean(0).numpy(), rtol=1e-3, atol=1e-3)
    sig = SourceSignal(lm)
    assert sig.pooled_layers == (6, 12, 18) and "pooled_layers=6/12/18" in sig.signature()
    out = sig.compute([art("Good morning.", "Guten Morgen."), art("Good night.", None, aid="b")])
    v = out.vectors["src_pooled"]
    assert v[0].shape == (3, 640) and np.isfinite(v[0]).all() and v[1] is None
