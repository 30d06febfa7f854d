"""The with-source cache pass computes what the source and xling signals compute at scoring time."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from mtqa.models.encoder import SentenceEncoder
from mtqa.segment import segment
from mtqa.signals.source import SourceSignal
from mtqa.signals.source_reverse import SourceReverseSignal
from mtqa.signals.xling import XlingSignal
from mtqa.train.cache import load_features, load_source_rows, wanted
from mtqa.train.extract_source import (REVERSE_SKIPPED, SourceExtractor, merged_signature, parse_shard, shard_of,
                                       write_pooled)
from mtqa.types import Article

ROWS = [
    {"key": "a|mt|0", "machine": 1, "gold": 0.3, "text": "The prime  minister presented the new law yesterday.",
     "source": "Der Ministerpräsident hat gestern das neue Gesetz vorgestellt."},
    {"key": "a|ref|0", "machine": 0, "gold": None, "text": "The premier unveiled the bill on Monday.",
     "source": "Der Ministerpräsident hat gestern das neue Gesetz vorgestellt."},
    {"key": "b|mt|0", "machine": 1, "gold": -0.5, "text": "She bought apples.", "source": ""},
    {"key": "c|mt|0", "machine": 1, "gold": 0.1, "text": "NATO will add troops in Eastern Europe.",
     "source": "北约将在东欧增加部队。"},
]


def test_only_judged_mt_with_a_source_is_wanted():
    assert [wanted(r) for r in ROWS] == [True, False, False, True]


def test_cache_pass_equals_the_signals(lm):
    texts = [" ".join(r["text"].split()) for r in ROWS]
    bare = [ts.logprobs for ts in lm.score(texts)]
    ex = SourceExtractor(lm, SentenceEncoder(threads=1))
    out = ex.run(ROWS, bare)
    assert [r["key"] for r in out] == ["a|mt|0", "c|mt|0"]
    arts = []
    for r in (ROWS[0], ROWS[3]):
        a = Article(r["key"], " ".join(r["text"].split()), "t", source=r["source"])
        a.sentences = segment(a, "segment")
        arts.append(a)
    computed = SourceSignal(lm).compute(arts)
    src = computed.columns
    xl = XlingSignal(SentenceEncoder(threads=1)).compute(arts).columns
    rev = SourceReverseSignal(lm).compute(arts).columns["src_rev_pmi"]
    for j, row in enumerate(out):
        for name in [c.name for c in SourceSignal.columns]:
            assert row[name] == pytest.approx(src[name][j], rel=1e-5, abs=1e-5), name
        assert row["xling_cosine"] == pytest.approx(xl["xling_cosine"][j], abs=1e-6)
        assert row["src_rev_pmi"] == pytest.approx(rev[j], abs=1e-5)
        # the pooled conditioned states the with-source state head trains on (source-K.npz)
        np.testing.assert_allclose(row["src_pooled"], computed.vectors["src_pooled"][j], rtol=1e-4, atol=1e-4)
    # a pass restricted to some rows (--sets; rows cached already) computes those alone, the same
    kept = ex.run(ROWS, bare, keep=lambda r: r["key"] != "a|mt|0")
    assert [r["key"] for r in kept] == ["c|mt|0"]
    assert kept[0]["src_rev_pmi"] == pytest.approx(out[1]["src_rev_pmi"], abs=1e-5)


def test_forward_only_pass_with_cached_embeddings_equals_the_full_pass_less_the_reverse(lm):
    texts = [" ".join(r["text"].split()) for r in ROWS]
    bare = [ts.logprobs for ts in lm.score(texts)]
    encoder = SentenceEncoder(threads=1)
    full = SourceExtractor(lm, encoder).run(ROWS, bare)
    # the xling pass embedded one of the four texts already (keyed by the text as it embeds it)
    cached = {ROWS[3]["source"]: encoder.embed([ROWS[3]["source"]])[0]}
    fwd = SourceExtractor(lm, encoder, reverse=False, embeddings=cached)
    out = fwd.run(ROWS, bare)
    assert [r["key"] for r in out] == [r["key"] for r in full]
    for a, b in zip(out, full):
        assert a["src_rev_pmi"] is None and b["src_rev_pmi"] is not None
        assert a["xling_cosine"] == b["xling_cosine"]  # the same embeddings, the same bits
        assert {k: v for k, v in a.items() if k not in ("src_rev_pmi", "src_pooled")} == \
            {k: v for k, v in b.items() if k not in ("src_rev_pmi", "src_pooled")}
        np.testing.assert_array_equal(a["src_pooled"], b["src_pooled"])
    assert REVERSE_SKIPPED in fwd.signature() and REVERSE_SKIPPED not in SourceExtractor(lm, encoder).signature()


def test_a_cache_may_mix_passes_with_and_without_the_reverse_direction():
    both = "m|extract-source:3|source:2(x)|source_reverse:1(y)|xling:2(z)"
    fwd = f"m|extract-source:3|source:2(x)|{REVERSE_SKIPPED}|xling:2(z)"
    assert merged_signature(None, fwd) == fwd
    assert merged_signature(both, fwd) == both and merged_signature(fwd, both) == both
    assert merged_signature(fwd, fwd) == fwd
    # any other difference is another cache
    assert merged_signature(both, fwd.replace("source:2(x)", "source:2(w)")) is None
    assert merged_signature(both, "m|extract-source:2|source:2(x)") is None


def test_shards_split_the_pending_chunks_without_overlap_or_gap():
    todo = [f"chunk-{k:05d}.jsonl" for k in range(7)]
    parts = [shard_of(todo, i, 3) for i in range(3)]
    assert sorted(sum(parts, [])) == todo and sum(len(p) for p in parts) == len(todo)
    assert shard_of(todo, 0, 1) == todo
    assert parse_shard("1/2") == (1, 2)
    with pytest.raises(SystemExit):
        shard_of(todo, 2, 2)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_shard("half")


def test_load_features_merges_the_source_rows(tmp_path):
    meta = [{"key": "k0", "set": "s", "text": "A."}, {"key": "k1", "set": "s", "text": "B."}]
    (tmp_path / "chunk-00000.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    np.savez(tmp_path / "chunk-00000.npz", pooled=np.zeros((2, 4), np.float16), tok_len=np.array([1, 1], np.int32),
             tok_logprob=np.zeros(2, np.float16), tok_entropy=np.zeros(2, np.float16))
    (tmp_path / "source-00000.jsonl").write_text(json.dumps({"key": "k1", "src_pmi": 0.5, "xling_cosine": 0.9}) + "\n")
    write_pooled(tmp_path / "source-00000.npz", ["k1"], [np.full((3, 2), 0.5, np.float32)])
    assert load_source_rows(tmp_path) == {"k1": {"src_pmi": 0.5, "xling_cosine": 0.9}}
    rows, arrays = load_features(tmp_path)
    assert list(arrays["src_pooled"]) == ["k1"] and arrays["src_pooled"]["k1"].tolist() == [0.5] * 6
    assert "src_pmi" not in rows[0] and rows[1]["src_pmi"] == 0.5 and rows[1]["xling_cosine"] == 0.9


def test_xling_pass_embeds_each_text_once_resumes_and_gives_the_signals_vectors(tmp_path):
    from mtqa.train.cache import load_embeddings
    from mtqa.train.extract_xling import extract_xling

    (tmp_path / "chunk-00000.jsonl").write_text("".join(json.dumps({**r, "set": "s"}) + "\n" for r in ROWS))
    np.savez(tmp_path / "chunk-00000.npz", pooled=np.zeros((len(ROWS), 4), np.float16),
             tok_len=np.ones(len(ROWS), np.int32), tok_logprob=np.zeros(len(ROWS), np.float16),
             tok_entropy=np.zeros(len(ROWS), np.float16))
    assert load_features(tmp_path)[1]["xling_pair"] == {}  # nothing embedded yet
    assert extract_xling(tmp_path, threads=1, log=lambda m: None) == 4  # two wanted rows: 2 sentences + 2 sources
    assert extract_xling(tmp_path, threads=1, log=lambda m: None) == 0  # resumed: nothing left
    assert len(load_embeddings(tmp_path)) == 4 and len(list(tmp_path.glob("xling-*.npz"))) == 1
    _, arrays = load_features(tmp_path)
    assert sorted(arrays["xling_pair"]) == ["a|mt|0", "c|mt|0"]
    arts = []
    for r in (ROWS[0], ROWS[3]):
        a = Article(r["key"], r["text"], "t", source=r["source"])
        a.sentences = segment(a, "segment")
        arts.append(a)
    scored = XlingSignal(SentenceEncoder(threads=1)).compute(arts).vectors["xling_pair"]
    for key, v in zip(["a|mt|0", "c|mt|0"], scored):
        np.testing.assert_array_equal(arrays["xling_pair"][key], v)
