"""Training data specs: seeded subsamples and document splits that never overlap."""

from __future__ import annotations

import json

from mtqa.train.data import DataSpec, doc_split, load_examples


def gold_file(tmp_path, n_docs=10, per_doc=6):
    path = tmp_path / "gold.jsonl"
    with open(path, "w") as f:
        for d in range(n_docs):
            for s in range(per_doc):
                f.write(json.dumps({"id": f"d{d}:{s}", "text": f"Sentence {s} of document {d}.", "source": f"源 {d} {s}",
                                    "score": float(d + s), "doc": f"doc{d}"}) + "\n")
    return str(path)


def test_doc_split_is_seeded_and_sized():
    docs = [f"d{i}" for i in range(20)]
    a, b = doc_split(docs, 0, 0.8), doc_split(list(reversed(docs)), 0, 0.8)
    assert a == b and len(a) == 16
    assert doc_split(docs, 1, 0.8) != a


def test_train_and_heldout_share_no_document(tmp_path):
    path = gold_file(tmp_path)
    ids = lambda split: {e.id for e in load_examples(DataSpec("x", path, split=split, seed=3))}  # noqa: E731
    tr, ho = ids("train"), ids("heldout")
    assert tr and ho and not tr & ho
    assert len(tr) + len(ho) == 60
    assert {i.split(":")[0] for i in tr}.isdisjoint({i.split(":")[0] for i in ho})


def test_subsample_is_reproducible(tmp_path):
    path = gold_file(tmp_path)
    a = [e.id for e in load_examples(DataSpec("x", path, n=10, seed=5))]
    b = [e.id for e in load_examples(DataSpec("x", path, n=10, seed=5))]
    c = [e.id for e in load_examples(DataSpec("x", path, n=10, seed=6))]
    assert a == b and len(a) == 10 and a != c
    ex = load_examples(DataSpec("x", path, n=3, with_source=False))
    assert all(e.source is None for e in ex)
