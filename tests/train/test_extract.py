"""The feature cache: an extension of the main order holds other rows, and loading keeps each key once."""

from __future__ import annotations

import json

import numpy as np

from mtqa.train.cache import load_features
from mtqa.train.extract import chunk_articles, chunk_prefix, extension_batches, ordered_articles
from tests.conftest import shared_file


def _write_chunk(folder, name, keys, value):
    (folder / f"{name}.jsonl").write_text("".join(json.dumps({"key": k, "text": k}) + "\n" for k in keys))
    n = len(keys)
    np.savez(folder / f"{name}.npz", pooled=np.full((n, 2), value, np.float16), tok_len=np.ones(n, np.int32),
             tok_logprob=np.full(n, value, np.float16), tok_entropy=np.zeros(n, np.float16))


def test_extension_chunks_sort_after_the_main_order_and_duplicates_load_once(tmp_path):
    assert chunk_prefix() == "chunk-"
    assert chunk_prefix(["mlqe-train"], 130) == "chunk-mlqe-train-after130-"
    _write_chunk(tmp_path, "chunk-mlqe-train-after2-00000", ["b", "c"], 2.0)
    _write_chunk(tmp_path, "chunk-00001", ["x"], 3.0)
    _write_chunk(tmp_path, "chunk-00000", ["a", "b"], 1.0)
    meta, arrays = load_features(tmp_path)
    assert [r["key"] for r in meta] == ["a", "b", "x", "c"]  # main chunks first; "b" from the main chunk
    assert arrays["pooled"].shape == (4, 2)
    assert [float(v[0]) for v in arrays["tok_logprob"]] == [1.0, 1.0, 3.0, 2.0]
    assert [float(v) for v in arrays["pooled"][:, 0]] == [1.0, 1.0, 3.0, 2.0]


def test_an_extension_leaves_out_what_the_main_order_cached():
    data = shared_file("da").parent
    main = chunk_articles(ordered_articles(data), 128)
    cached = {it.key for b in main[:40] for a in b for it in a.items}
    ext = extension_batches(data, ["mlqe-train"], 40, 128)
    keys = [it.key for b in ext for a in b for it in a.items]
    assert keys and len(keys) == len(set(keys))
    assert not cached & set(keys)
    assert {k.split("|")[0] for k in keys} == {f"mlqe-{lp}-train" for lp in ("et", "ne", "ro", "ru", "si")}
    # every training item is either cached by the main order's first 40 chunks or in the extension
    train = {it.key for a in ordered_articles(data, ["mlqe-train"]) for it in a.items}
    assert train == set(keys) | (cached & train)
