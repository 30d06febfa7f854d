"""The Arrow/``datasets`` schema of ``OUT/sentences`` and ``OUT/articles``.

One place for the column types, so the shards on disk, the final datasets and the in-memory
results of :mod:`mtqa.api` cast every value the same way (float32, int32).

Written with pyarrow alone: importing ``datasets`` costs about a second of every ``mtqa
score`` (a one-sentence job took 7.7 s). :class:`TableSchema` gives the Arrow schema
(with the ``huggingface`` metadata ``datasets`` puts there) and the ``features`` description
of ``dataset_info.json``; ``tests/writers/test_schema.py`` holds both to what
``datasets.Features`` produces.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from mtqa.signals.base import Column

#: a column type: a value type name, ``[type]`` for a list of it, ``{name: type}`` for a struct
Spec = Any

_ARROW = {"float32": pa.float32(), "int32": pa.int32(), "string": pa.string(), "bool": pa.bool_()}


def _arrow_type(spec: Spec) -> pa.DataType:
    if isinstance(spec, list):
        return pa.list_(_arrow_type(spec[0]))
    if isinstance(spec, dict):
        return pa.struct([pa.field(k, _arrow_type(v)) for k, v in spec.items()])
    return _ARROW[spec]


def _feature_dict(spec: Spec) -> dict:
    """``datasets``' serialised form of a feature (``Features.to_dict``)."""
    if isinstance(spec, list):
        return {"feature": _feature_dict(spec[0]), "_type": "List"}
    if isinstance(spec, dict):
        return {k: _feature_dict(v) for k, v in spec.items()}
    return {"dtype": spec, "_type": "Value"}


class TableSchema(Mapping[str, Spec]):
    """A table's columns and their types (a mapping from column name to type, in order)."""

    def __init__(self, columns: Mapping[str, Spec]):
        self._columns = dict(columns)

    def __getitem__(self, name: str) -> Spec:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def to_dict(self) -> dict:
        """The ``features`` of ``dataset_info.json``."""
        return {k: _feature_dict(v) for k, v in self._columns.items()}

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema, with the metadata ``datasets`` writes (and reads the features from)."""
        meta = json.dumps({"info": {"features": self.to_dict()}})
        return pa.schema([pa.field(k, _arrow_type(v)) for k, v in self._columns.items()]).with_metadata(
            {"huggingface": meta})

    def features(self):
        """The same as ``datasets.Features`` (imports ``datasets``)."""
        import datasets

        return datasets.Features.from_dict(self.to_dict())


SPAN = {"start": "int32", "end": "int32", "label": "string", "score": "float32", "note": "string"}

SENTENCE_BASE = {
    "article_id": "string",
    "sentence_id": "int32",
    "paragraph_id": "int32",
    "start": "int32",
    "end": "int32",
    "text": "string",
    "quality": "float32",
    "mt_probability": "float32",
    "flags": ["string"],
    "spans": [SPAN],
}

ARTICLE_FEATURES = TableSchema({
    "article_id": "string",
    "origin": "string",
    "n_sentences": "int32",
    "quality": "float32",
    "mt_probability": "float32",
    "mt_evidence": "string",
    "language": "string",
    "flagged_share": "float32",
    "worst_sentence_id": "int32",
    "text": "string",
})


def sentence_features(columns: Iterable[Column]) -> TableSchema:
    """The sentence table's schema: the fixed columns, then one per signal column (in signal order)."""
    feats = dict(SENTENCE_BASE)
    for c in columns:
        if c.dtype not in _ARROW:
            raise ValueError(f"column {c.name}: unknown type {c.dtype!r}")
        feats[c.name] = c.dtype
    return TableSchema(feats)
