"""The output schema and dataset folders written with pyarrow alone, held to what ``datasets`` makes."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from mtqa.signals.base import Column
from mtqa.writers import ARTICLE_FEATURES, read_arrow_dataset, save_arrow_dataset, sentence_features
from mtqa.writers.schema import SENTENCE_BASE

COLUMNS = [Column("lm_tokens", "int32", ""), Column("slor", "float32", ""), Column("word_order_suggestion", "string", ""),
           Column("is_fused", "bool", "")]


def _datasets_features():
    """The same schema built with ``datasets`` types (what mtqa's schema was until it dropped the import)."""
    from datasets import Features, List, Value

    span = {"start": Value("int32"), "end": Value("int32"), "label": Value("string"), "score": Value("float32"),
            "note": Value("string")}
    base = {k: (List(Value("string")) if k == "flags" else List(span) if k == "spans" else Value(v))
            for k, v in SENTENCE_BASE.items()}
    return Features({**base, **{c.name: Value(c.dtype) for c in COLUMNS}})


def test_schema_equals_datasets_features_with_metadata():
    ours = sentence_features(COLUMNS)
    theirs = _datasets_features()
    assert ours.arrow_schema.equals(theirs.arrow_schema, check_metadata=True)
    assert ours.to_dict() == theirs.to_dict() and ours.features() == theirs
    assert list(ours) == list(theirs) and "slor" in ours
    assert ARTICLE_FEATURES.features().arrow_schema.equals(ARTICLE_FEATURES.arrow_schema, check_metadata=True)
    with pytest.raises(ValueError, match="unknown type"):
        sentence_features([Column("x", "float64", "")])


def _rows(n: int) -> list[dict]:
    return [{"article_id": f"a{i}", "sentence_id": i, "paragraph_id": 0, "start": 0, "end": 5, "text": f"Text {i}.",
             "quality": 0.5 + i / 100, "mt_probability": None, "flags": ["word_order"] if i % 2 else [],
             "spans": [{"start": 0, "end": 4, "label": "lm_spike", "score": 7.5, "note": "é"}],
             "lm_tokens": 3, "slor": None, "word_order_suggestion": "", "is_fused": bool(i % 3)} for i in range(n)]


def test_table_equals_from_pylist_without_importing_pandas():
    """Rows laid out from buffers give what ``pa.Table.from_pylist`` gives: values, nulls (None,
    a missing key, a null struct or list, nulls inside lists), NaN kept as a value, float32
    rounding, non-ASCII text; zero rows too. pandas is not imported (a fresh process)."""
    import math
    import subprocess
    import sys

    schema = sentence_features(COLUMNS)
    rows = _rows(9)
    rows[1]["spans"] = None
    rows[2]["flags"] = None
    rows[3]["spans"] = [None, {"start": 1, "end": None, "label": None, "score": float("nan"), "note": "日本"}]
    rows[4]["flags"] = [None, "x"]
    del rows[5]["slor"], rows[5]["text"]
    rows[6].update(is_fused=None, lm_tokens=None, quality=1 / 3, text="")
    for n in (0, 1, len(rows)):
        ours = schema.table(rows[:n])
        theirs = pa.Table.from_pylist(rows[:n], schema=schema.arrow_schema)
        ours.validate(full=True)
        assert ours.schema.equals(theirs.schema, check_metadata=True)
        assert repr(ours.to_pylist()) == repr(theirs.to_pylist())  # NaN as a value: Arrow's equals says NaN != NaN
        assert ours.drop_columns(["spans"]).equals(theirs.drop_columns(["spans"]))
    got = schema.table(rows).to_pylist()
    assert math.isnan(got[3]["spans"][1]["score"]) and got[3]["spans"][0] is None and got[5]["slor"] is None
    code = ("import sys; from mtqa.writers import ARTICLE_FEATURES as A; "
            "A.table([{'article_id': 'a', 'quality': 0.5}]).validate(full=True); print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("n", [0, 7])
def test_folder_loads_as_save_to_disk_s(tmp_path, n):
    schema = sentence_features(COLUMNS)
    stream = tmp_path / "joined.arrow"
    with ipc.new_stream(str(stream), schema.arrow_schema) as w:
        if n:
            w.write_table(pa.Table.from_pylist(_rows(n), schema=schema.arrow_schema))
    (tmp_path / "scratch").mkdir()
    save_arrow_dataset(stream, tmp_path / "ours", tmp_path / "scratch", schema.to_dict(), "sig|x")
    assert not stream.exists() and not (tmp_path / "scratch" / "tmp-ours").exists()
    ours = datasets.load_from_disk(str(tmp_path / "ours"))
    reference = datasets.Dataset(pa.Table.from_pylist(_rows(n), schema=schema.arrow_schema),
                                 info=datasets.DatasetInfo(features=schema.features(), description="sig|x"))
    reference.save_to_disk(str(tmp_path / "theirs"), num_shards=1)
    theirs = datasets.load_from_disk(str(tmp_path / "theirs"))
    assert ours.features == theirs.features and ours.info.description == theirs.info.description == "sig|x"
    assert ours.to_list() == theirs.to_list() and len(ours) == n
    for name in ("dataset_info.json", "state.json"):  # the same keys and values but the fingerprint
        a, b = (json.loads((tmp_path / d / name).read_text()) for d in ("ours", "theirs"))
        a.pop("_fingerprint", None), b.pop("_fingerprint", None)
        assert a == b, name
    assert read_arrow_dataset(tmp_path / "ours").to_pylist() == theirs.to_list()
    assert read_arrow_dataset(tmp_path / "theirs").equals(read_arrow_dataset(tmp_path / "ours"))


def test_writing_again_replaces_the_folder(tmp_path):
    schema = ARTICLE_FEATURES
    (tmp_path / "scratch").mkdir()
    for k in (1, 2):
        stream = tmp_path / "joined.arrow"
        rows = [{"article_id": f"a{i}", "n_sentences": k} for i in range(k)]
        with ipc.new_stream(str(stream), schema.arrow_schema) as w:
            w.write_table(pa.Table.from_pylist(rows, schema=schema.arrow_schema))
        save_arrow_dataset(stream, tmp_path / "articles", tmp_path / "scratch", schema.to_dict(), f"run {k}")
    ds = datasets.load_from_disk(str(tmp_path / "articles"))
    assert len(ds) == 2 and ds.info.description == "run 2" and sorted(p.name for p in (tmp_path / "articles").iterdir()) \
        == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]


def test_float_column_reads_nulls_offsets_and_other_types():
    """Numeric columns as float64 with NaN for nulls, through sliced chunks (an offset into the
    buffers) and chunked arrays, as ``to_numpy`` gives them; other types go through pyarrow."""
    import numpy as np

    from mtqa.writers.schema import float_column

    for typ in (pa.float32(), pa.int32(), pa.float64(), pa.int64(), pa.bool_()):
        arr = pa.array([1, None, 3, 4, None, 6], type=typ) if typ != pa.bool_() else pa.array([True, None, False])
        col = pa.chunked_array([arr.slice(1, 4), arr, arr.slice(0, 0)])
        want = np.concatenate([np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64) for c in col.chunks])
        np.testing.assert_array_equal(float_column(col), want)
    assert float_column(pa.chunked_array([], type=pa.float32())).shape == (0,)
