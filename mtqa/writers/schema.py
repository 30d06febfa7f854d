"""The Arrow/``datasets`` schema of ``OUT/sentences`` and ``OUT/articles``.

One place for the column types, so the shards on disk, the final datasets and the in-memory
results of :mod:`mtqa.api` cast every value the same way (float32, int32).
"""

from __future__ import annotations

from typing import Iterable

from datasets import Features, List, Value

from mtqa.signals.base import Column

_DTYPES = {"float32": Value("float32"), "int32": Value("int32"), "string": Value("string"), "bool": Value("bool")}

SPAN = {"start": Value("int32"), "end": Value("int32"), "label": Value("string"), "score": Value("float32"), "note": Value("string")}

SENTENCE_BASE = {
    "article_id": Value("string"),
    "sentence_id": Value("int32"),
    "paragraph_id": Value("int32"),
    "start": Value("int32"),
    "end": Value("int32"),
    "text": Value("string"),
    "quality": Value("float32"),
    "mt_probability": Value("float32"),
    "flags": List(Value("string")),
    "spans": List(SPAN),
}

ARTICLE_FEATURES = Features({
    "article_id": Value("string"),
    "origin": Value("string"),
    "n_sentences": Value("int32"),
    "quality": Value("float32"),
    "mt_probability": Value("float32"),
    "mt_evidence": Value("string"),
    "language": Value("string"),
    "flagged_share": Value("float32"),
    "worst_sentence_id": Value("int32"),
    "text": Value("string"),
})


def sentence_features(columns: Iterable[Column]) -> Features:
    """The sentence table's schema: the fixed columns, then one per signal column (in signal order)."""
    feats = dict(SENTENCE_BASE)
    for c in columns:
        feats[c.name] = _DTYPES[c.dtype]
    return Features(feats)
