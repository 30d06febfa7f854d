"""The reverse direction of the source PMI (opt-in signal ``source_reverse``) with the real default model."""

from __future__ import annotations

import math

from mtqa.segment import segment
from mtqa.signals.source_reverse import SourceReverseSignal, reverse_prompt
from mtqa.types import Article


def art(text, source=None, unit="segment", aid="a"):
    a = Article(aid, text, "test", source=source)
    a.sentences = segment(a, unit)
    return a


def test_reverse_prompt_offsets():
    cond, c0 = reverse_prompt("Le  chat\nnoir.", "The black\ncat.")
    assert cond == "English: The black cat.\nTranslation: Le chat noir." and cond[c0:] == "Le chat noir."


def test_reverse_pmi_finds_the_translation_that_leaves_half_out(lm):
    """The reverse direction: a translation that omits half of the source explains it less
    (the forward PMI of the short, faithful-as-far-as-it-goes sentence need not drop); a
    sentence of a several-sentence article gets NaN, a one-sentence article a value."""
    src = "Le conseil a adopté le budget lundi, et le maire a annoncé de nouvelles pistes cyclables."
    full = "The council adopted the budget on Monday, and the mayor announced new cycle lanes."
    half = "The council adopted the budget on Monday."
    other = "The football team lost its third match in a row."
    rev = SourceReverseSignal(lm).compute([art(full, src), art(half, src, aid="b"), art(other, src, aid="c"),
                                           art(full, None, aid="d")]).columns["src_rev_pmi"]
    assert rev[0] > rev[1] > rev[2]
    assert rev[0] > 0 and math.isnan(rev[3])
    two = art("The cat sleeps. The dog barks.", "Le chat dort. Le chien aboie.", unit="article")
    one = art("The cat sleeps.", "Le chat dort.", unit="article", aid="e")
    got = SourceReverseSignal(lm, unit="article").compute([two, one]).columns["src_rev_pmi"]
    assert math.isnan(got[0]) and math.isnan(got[1]) and math.isfinite(got[2])
