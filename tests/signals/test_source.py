"""Source-conditioned PMI with the real default model."""

from __future__ import annotations

import math

import numpy as np

from mtqa.models.lm import TokenScores
from mtqa.segment import segment
from mtqa.signals.source import SourceSignal, prompt_pair, suffix_logprobs, target_logprobs
from mtqa.types import Article


def art(text, source=None, unit="segment", aid="a"):
    a = Article(aid, text, "test", source=source)
    a.sentences = segment(a, unit)
    return a


def test_target_logprobs_reads_tokens_from_the_offset():
    ts = TokenScores(np.array([[0, 7], [7, 10], [10, 14], [14, 18]], dtype=np.int32),
                     np.array([-1, -2, -3, -4], dtype=np.float32), np.zeros(4, dtype=np.float32), False)
    assert target_logprobs(ts, 10).tolist() == [-3, -4]
    assert target_logprobs(ts, 9).tolist() == [-2, -3, -4]  # a token straddling the start counts


def test_prompt_pair_offsets():
    cond, c0, unc, u0 = prompt_pair("Le  chat\nnoir.", "The black cat.")
    assert cond[c0:] == unc[u0:] == "The black cat."
    assert "Le chat noir." in cond


def test_suffix_logprobs_match_full_scoring(lm):
    text = "Source: Guten Morgen.\nEnglish translation: Good morning."
    start = text.index("Good")
    full = lm.score([text])[0]
    got = suffix_logprobs(lm, [text], [start])[0]
    np.testing.assert_allclose(got, target_logprobs(full, start), atol=2e-3)


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
