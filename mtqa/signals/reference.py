"""Reference mode: sacrebleu sentence-level BLEU, chrF and TER against a human reference.

These are extra columns for users who have references; they do not enter ``quality``
(which stays reference-free). Rows without a reference get NaN.

Unit ``segment``: each row's reference is compared with its segment. Unit ``article``: the
reference is split into sentences with the same segmenter; when it has as many sentences
as the translation they are paired one to one, otherwise every sentence of the article
gets the article-level score (the whole translation against the whole reference).

The sacrebleu signatures (``nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:...``)
enter this signal's signature and are returned by :meth:`ReferenceSignal.metric_signatures`
for ``run.json``.
"""

from __future__ import annotations

from typing import Sequence

from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.types import Article


def _metrics():
    from sacrebleu.metrics import BLEU, CHRF, TER

    metrics = {"bleu": BLEU(effective_order=True), "chrf": CHRF(), "ter": TER()}
    for m in metrics.values():  # sacrebleu's signature knows the reference count only after a use
        m.sentence_score("a b c", ["a b c"])
    return metrics


class ReferenceSignal(Signal):
    name = "reference"
    version = "1"
    columns = (
        Column("ref_bleu", "float32", "sacrebleu sentence BLEU (0-100) against the reference; NaN without one"),
        Column("ref_chrf", "float32", "sacrebleu sentence chrF (0-100) against the reference; NaN without one"),
        Column("ref_ter", "float32", "sacrebleu sentence TER (edits per reference word x 100, lower = better); NaN without one"),
    )
    labels: dict[str, str] = {}

    def __init__(self, unit: str = "segment"):
        self.unit = unit
        self._m = None

    @property
    def metrics(self):
        if self._m is None:
            self._m = _metrics()
        return self._m

    def metric_signatures(self) -> dict[str, str]:
        """sacrebleu's own signature of each metric (for run.json)."""
        return {name: str(m.get_signature()) for name, m in self.metrics.items()}

    def settings(self) -> dict:
        return {name: sig.replace("|", ";") for name, sig in self.metric_signatures().items()}

    def _score(self, hyp: str, ref: str) -> tuple[float, float, float]:
        m = self.metrics
        return (float(m["bleu"].sentence_score(hyp, [ref]).score),
                float(m["chrf"].sentence_score(hyp, [ref]).score),
                float(m["ter"].sentence_score(hyp, [ref]).score))

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        n = len(flatten(articles))
        out = SignalOutput.empty(n)
        nan = float("nan")
        cols = {c.name: [nan] * n for c in self.columns}
        k = 0
        for a in articles:
            ref = a.reference
            sents = a.sentences
            if ref is None or not str(ref).strip():
                k += len(sents)
                continue
            ref = str(ref)
            pairs: list[tuple[str, str]]
            if self.unit == "segment" or len(sents) == 1:
                pairs = [(s.text, ref) for s in sents]
            else:
                from mtqa.segment import segment
                from mtqa.types import Article as _A

                ref_sents = segment(_A(a.article_id, ref, a.origin), "article")
                if len(ref_sents) == len(sents):
                    pairs = [(s.text, r.text) for s, r in zip(sents, ref_sents)]
                else:
                    pairs = [(a.text, ref)] * len(sents)
            cache: dict[tuple[str, str], tuple[float, float, float]] = {}
            for hyp, r in pairs:
                if (hyp, r) not in cache:
                    cache[(hyp, r)] = self._score(hyp, r)
                b, c, t = cache[(hyp, r)]
                cols["ref_bleu"][k], cols["ref_chrf"][k], cols["ref_ter"][k] = b, c, t
                k += 1
        out.columns = cols
        return out
