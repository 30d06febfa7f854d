"""Reference mode: sacrebleu sentence BLEU/chrF/TER columns."""

from __future__ import annotations

import math

import sacrebleu

from mtqa.segment import segment
from mtqa.signals.reference import ReferenceSignal
from mtqa.types import Article


def art(text, ref=None, unit="segment", aid="a"):
    a = Article(aid, text, "test", reference=ref)
    a.sentences = segment(a, unit)
    return a


def test_segment_scores_match_sacrebleu():
    sig = ReferenceSignal("segment")
    hyp, ref = "The cat sat on the mat.", "The cat sat on a mat."
    out = sig.compute([art(hyp, ref), art("No reference here.", None, aid="b")])
    assert math.isclose(out.columns["ref_bleu"][0], sacrebleu.sentence_bleu(hyp, [ref]).score, rel_tol=1e-9)
    assert math.isclose(out.columns["ref_chrf"][0], sacrebleu.sentence_chrf(hyp, [ref]).score, rel_tol=1e-9)
    assert math.isclose(out.columns["ref_ter"][0], sacrebleu.sentence_ter(hyp, [ref]).score, rel_tol=1e-9)
    assert all(math.isnan(out.columns[c][1]) for c in ("ref_bleu", "ref_chrf", "ref_ter"))
    perfect = sig.compute([art(ref, ref)])
    assert math.isclose(perfect.columns["ref_bleu"][0], 100.0) and perfect.columns["ref_ter"][0] == 0.0


def test_article_unit_pairs_sentences_when_counts_match():
    sig = ReferenceSignal("article")
    a = art("The cat sat. The dog ran away quickly.", "The cat sat. A dog ran off fast.", unit="article")
    assert len(a.sentences) == 2
    out = sig.compute([a])
    assert math.isclose(out.columns["ref_bleu"][0], 100.0) and out.columns["ref_bleu"][1] < 100.0
    b = art("The cat sat. The dog ran.", "The cat sat and the dog ran.", unit="article")
    out = sig.compute([b])
    assert out.columns["ref_chrf"][0] == out.columns["ref_chrf"][1]  # article-level score on each


def test_signature_carries_sacrebleu_signatures():
    sig = ReferenceSignal()
    sigs = sig.metric_signatures()
    assert set(sigs) == {"bleu", "chrf", "ter"}
    assert all("version:" in s for s in sigs.values())
    assert sacrebleu.__version__ in sig.signature()
