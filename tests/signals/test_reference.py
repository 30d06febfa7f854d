"""Reference mode: sacrebleu sentence BLEU/chrF/TER columns."""

from __future__ import annotations

import json
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


def test_metric_signatures_are_kept_on_disk_and_equal_sacrebleus(tmp_path, monkeypatch):
    """Kept in $MTQA_HOME/cache once asked (building the metrics cost 0.25 s of every job); the
    kept ones are what the metrics say; a damaged or foreign file is replaced; a fresh process
    that finds them does not build the metrics."""
    from mtqa.signals.reference import _metrics, _signature_file
    from tests.conftest import fresh_python

    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    truth = {name: str(m.get_signature()) for name, m in _metrics().items()}
    path = _signature_file()
    assert path is not None and path.parent == tmp_path / "cache" and not path.exists()
    assert ReferenceSignal().metric_signatures() == truth
    assert json.loads(path.read_text()) == truth
    probe = ("import os, sys; os.environ['MTQA_HOME'] = {home!r}\n"
             "from mtqa.signals.reference import ReferenceSignal\n"
             "r = ReferenceSignal(); print(r.signature()); print(r._m is None, 'sacrebleu.metrics' in sys.modules)")
    sig, built = fresh_python(probe.format(home=str(tmp_path))).splitlines()
    assert built == "True False" and sig == ReferenceSignal().signature()
    for damaged in ("{not json", json.dumps({k: v.replace("version:", "version:0.") for k, v in truth.items()})):
        path.write_text(damaged)
        assert ReferenceSignal().metric_signatures() == truth
        assert json.loads(path.read_text()) == truth
