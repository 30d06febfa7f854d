"""The Arrow/``datasets`` schema of ``OUT/sentences`` and ``OUT/articles``.

One place for the column types, so the shards on disk, the final datasets and the in-memory
results of :mod:`mtqa.api` cast every value the same way (float32, int32).

Written with pyarrow alone: importing ``datasets`` costs about a second of every ``mtqa
score`` (a one-sentence job took 7.7 s). :class:`TableSchema` gives the Arrow schema
(with the ``huggingface`` metadata ``datasets`` puts there) and the ``features`` description
of ``dataset_info.json``; ``tests/writers/test_schema.py`` holds both to what
``datasets.Features`` produces.

Rows become a table through :meth:`TableSchema.table`, which lays the Arrow buffers out from
numpy (``pa.Array.from_buffers``) instead of ``pa.Table.from_pylist``: every ``pa.array``
call makes pyarrow import pandas (0.25 s of a one-sentence job) to ask whether its input is
a pandas object. Same values, nulls and types (the test compares with ``from_pylist``).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
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

    def table(self, rows: list[Mapping[str, Any]]) -> pa.Table:
        """The rows as a table of this schema (a missing key or None is a null), as
        ``pa.Table.from_pylist(rows, schema=self.arrow_schema)`` gives it, without importing pandas."""
        schema = self.arrow_schema
        return pa.Table.from_arrays([_array([r.get(f.name) for r in rows], f.type) for f in schema], schema=schema)

    def features(self):
        """The same as ``datasets.Features`` (imports ``datasets``)."""
        import datasets

        return datasets.Features.from_dict(self.to_dict())


_NUMPY = {pa.float32(): np.float32, pa.int32(): np.int32}
_FIXED_WIDTH = {**_NUMPY, pa.float64(): np.float64, pa.int64(): np.int64, pa.float16(): np.float16}


def _offsets(lengths: list[int]) -> pa.Buffer:
    out = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=out[1:])
    return pa.py_buffer(out)


def _array(values: list, typ: pa.DataType) -> pa.Array:
    """One column (values of ``typ`` or None) as an Arrow array, laid out from its buffers."""
    n = len(values)
    valid = [v is not None for v in values]
    validity = None if all(valid) else pa.py_buffer(np.packbits(np.array(valid, bool), bitorder="little"))
    if pa.types.is_struct(typ):
        children = [_array([None if v is None else v.get(f.name) for v in values], f.type) for f in typ]
        return pa.Array.from_buffers(typ, n, [validity], children=children)
    if pa.types.is_list(typ):
        flat = [x for v in values if v is not None for x in v]
        return pa.Array.from_buffers(typ, n, [validity, _offsets([0 if v is None else len(v) for v in values])],
                                     children=[_array(flat, typ.value_type)])
    if pa.types.is_string(typ):
        data = [b"" if v is None else v.encode("utf-8") for v in values]
        return pa.Array.from_buffers(typ, n, [validity, _offsets([len(b) for b in data]), pa.py_buffer(b"".join(data))])
    if pa.types.is_boolean(typ):
        bits = np.packbits(np.array([bool(v) for v in values], bool), bitorder="little")
        return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(bits)])
    data = np.array([0 if v is None else v for v in values], dtype=_NUMPY[typ])
    return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(data)])


def float_column(col: "pa.ChunkedArray | pa.Array") -> np.ndarray:
    """A numeric column as float64, NaN for nulls; float and int columns read from their buffers
    (``to_numpy`` and ``pyarrow.compute`` import pandas too)."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    out = [np.empty(0)]
    for c in chunks:
        n, at = len(c), c.offset
        if not n:
            continue
        kind = _FIXED_WIDTH.get(c.type)
        if kind is None:  # another type: pyarrow's own conversion
            out.append(np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64))
            continue
        validity, data = c.buffers()[:2]
        values = np.frombuffer(data, dtype=kind, count=at + n)[at:].astype(np.float64)
        if validity is not None and c.null_count:
            bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little", count=at + n)[at:]
            values[bits == 0] = np.nan
        out.append(values)
    return np.concatenate(out)


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
