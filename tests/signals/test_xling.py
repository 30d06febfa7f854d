"""The xling signal: source/MT cosine with the real encoder; nothing loaded without a source."""

from __future__ import annotations

import math

from mtqa.models.encoder import SentenceEncoder
from mtqa.segment import segment
from mtqa.signals.xling import XlingSignal
from mtqa.types import Article


def art(text, source=None, unit="segment", aid="a"):
    a = Article(aid, text, "test", source=source)
    a.sentences = segment(a, unit)
    return a


def test_no_source_gives_nan_and_loads_nothing():
    sig = XlingSignal(SentenceEncoder())
    out = sig.compute([art("The cat sat on the mat."), art("Nothing here.", source="   ")])
    assert all(math.isnan(v) for v in out.columns["xling_cosine"])
    assert sig.encoder._model is None, "a target-only batch must not load the encoder"


def test_cosine_rewards_the_right_translation():
    sig = XlingSignal(SentenceEncoder(threads=1))
    src = "Der Ministerpräsident hat gestern das neue Gesetz vorgestellt."
    arts = [art("The prime minister presented the new law yesterday.", source=src, aid="good"),
            art("She bought three apples at the market.", source=src, aid="bad"),
            art("No source for this one.", aid="none")]
    good, bad, none = sig.compute(arts).columns["xling_cosine"]
    assert good > bad + 0.1 and -1 <= bad <= good <= 1
    assert math.isnan(none)


def test_article_unit_uses_the_source_only_when_short():
    sig = XlingSignal(SentenceEncoder(threads=1), unit="article", max_source_chars=40)
    long_src = "Erster Satz über Politik. " * 5
    out = sig.compute([art("First sentence. Second sentence.", source=long_src, unit="article")])
    assert all(math.isnan(v) for v in out.columns["xling_cosine"])
    assert "multilingual-e5-small" in sig.signature() and "max_source_chars=40" in sig.signature()


def test_source_language_is_reported_per_sentence():
    sig = XlingSignal(SentenceEncoder(threads=1))
    arts = [art("The prime minister presented the new law yesterday.",
                source="Der Ministerpräsident hat gestern das neue Gesetz vorgestellt.", aid="de"),
            art("NATO will add troops in Eastern Europe.", source="Североатлантический альянс увеличит войска в Восточной Европе.", aid="ru"),
            art("No source.", aid="none")]
    assert sig.compute(arts).columns["src_lang"] == ["de", "ru", None]


def test_pair_vector_holds_both_embeddings_and_the_cosine_agrees():
    import numpy as np

    enc = SentenceEncoder(threads=1)
    sig = XlingSignal(enc, unit="article")
    src = "Der Ministerpräsident hat gestern das neue Gesetz vorgestellt."
    out = sig.compute([art("The prime minister presented the law. He spoke for an hour.", source=src, unit="article"),
                       art("No source here.", aid="none")])
    pairs, cos = out.vectors["xling_pair"], out.columns["xling_cosine"]
    assert len(pairs) == 3 and pairs[2] is None and math.isnan(cos[2])
    s = enc.embed([src])[0]
    for i, sentence in enumerate(["The prime minister presented the law.", "He spoke for an hour."]):
        t = enc.embed([sentence])[0]
        v = pairs[i]
        assert v.shape == (4 * 384,) and v.dtype == np.float32
        np.testing.assert_array_equal(v[:384], s)  # the shared source, embedded once
        np.testing.assert_array_equal(v[384:768], t)
        np.testing.assert_allclose(v[768:1152], s * t)
        np.testing.assert_allclose(v[1152:], np.abs(s - t))
        assert cos[i] == float((s * t).sum())
        assert cos[i] == float(enc.cosines([src], [sentence])[0])
