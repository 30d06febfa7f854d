"""Reference mode: sacrebleu sentence-level BLEU, chrF and TER against a human reference.

These are extra columns for users who have references; they do not enter ``quality``
(which stays reference-free). Rows without a reference get NaN.

Unit ``segment``: each row's reference is compared with its segment. Unit ``article``: the
reference is split into sentences with the same segmenter; when it has as many sentences
as the translation they are paired one to one, otherwise every sentence of the article
gets the article-level score (the whole translation against the whole reference).

The sacrebleu signatures (``nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:...``)
enter this signal's signature and are returned by :meth:`ReferenceSignal.metric_signatures`
for ``run.json``. Every job needs them, with references or without, and building the
metrics to ask them took 0.25 s of a 4.8 s one-sentence job: they are kept on disk, keyed by
sacrebleu's version and the metrics' settings (:func:`_signature_file`), and the metrics are
built only when a row has a reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.types import Article


#: how :func:`_metrics` builds the metrics (part of the key of their signatures kept on disk)
_SETTINGS = "bleu(effective_order=True)|chrf()|ter()|after one sentence_score"


def _metrics():
    from sacrebleu.metrics import BLEU, CHRF, TER

    metrics = {"bleu": BLEU(effective_order=True), "chrf": CHRF(), "ter": TER()}
    for m in metrics.values():  # sacrebleu's signature knows the reference count only after a use
        m.sentence_score("a b c", ["a b c"])
    return metrics


def _signature_file() -> Path | None:
    """``$MTQA_HOME/cache/sacrebleu-KEY.json``, KEY from sacrebleu's version and :data:`_SETTINGS`
    (None when sacrebleu's version cannot be read)."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from mtqa.models.embedded import mtqa_home

    try:
        key = f"sacrebleu-{version('sacrebleu')}|{_SETTINGS}"
    except PackageNotFoundError:
        return None
    return mtqa_home() / "cache" / f"sacrebleu-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _read_signatures(path: Path) -> dict[str, str] | None:
    """The kept signatures, or None when the file is missing, damaged or not of this sacrebleu."""
    from importlib.metadata import version

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and set(data) == {"bleu", "chrf", "ter"} and all(
        isinstance(v, str) and v.endswith(f"version:{version('sacrebleu')}") for v in data.values())
    return data if ok else None


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
        self._signatures: dict[str, str] | None = None

    @property
    def metrics(self):
        if self._m is None:
            self._m = _metrics()
        return self._m

    def metric_signatures(self) -> dict[str, str]:
        """sacrebleu's own signature of each metric (for run.json), kept on disk once asked."""
        if self._signatures is None:
            path = _signature_file()
            self._signatures = _read_signatures(path) if path is not None else None
            if self._signatures is None:
                self._signatures = {name: str(m.get_signature()) for name, m in self.metrics.items()}
                if path is not None:
                    from mtqa.models.embedded import write_cache_file

                    write_cache_file(path, json.dumps(self._signatures, indent=1).encode())
        return dict(self._signatures)

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
