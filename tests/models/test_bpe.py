"""The compiled BPE (mtqa.models.bpe) encodes exactly as ``tokenizers`` does, and FastTokenizer switches between them unseen."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mtqa.models import bpe
from mtqa.models.tokenizer import SWITCH_S, FastTokenizer, load_tokenizer
from tests.conftest import DATA, SHARED

#: texts that reach every branch: added tokens (HTML tags, newlines, <unused>, <bos> as text,
#: "▁" runs, overlapping candidates), byte fallback (emoji, rare CJK, control characters),
#: spaces in runs and at the ends, many scripts, a long word
EDGE = ["", " ", "  two  spaces ", "\t tab\n", "<td>x</td>\n\n\n<start_of_turn>user", "<bos> as text <eos>",
        "<unused5><unused55>< unused5>", "<tabl <table>", "▁▁▁▁ lit ▁", "Emoji 😀🤖🫠 ok", "𠀀𪚥 rare", "\x00\x07\x1b",
        "中文测试，你好。", "日本語のテキスト。", "සිංහල භාෂාව", "नेपाली भाषा", "Русский текст", "Eesti keel õüäö",
        "Română: ș ț ă", "a\u00a0b\u2009c", "x" * 300, "€ 40 ,and – dashes…", "e\u0301 combining", "\r\n\r\n",
        "<b>bold> </b> tag> </ x", ">  </", "a▁b ▁▁the  the   the"]  # ">▁</" is a token across a word cut


@pytest.fixture(scope="module")
def both(default_model):
    from tokenizers import Tokenizer

    path = Path(default_model.path) / "tokenizer.json"
    arrays = bpe.compile_tokenizer(json.loads(path.read_text(encoding="utf-8")))
    assert arrays is not None, "the embedded model's tokenizer is one the compiled form reproduces"
    return bpe.CompiledBPE(arrays), Tokenizer.from_file(str(path))


def _texts() -> list[str]:
    texts = [line for f in sorted(DATA.glob("*.txt")) for line in f.read_text(encoding="utf-8").splitlines()]
    return texts + EDGE


def _assert_same(compiled, rust, texts: list[str]) -> int:
    tokens = 0
    for special in (True, False):
        for text, enc in zip(texts, rust.encode_batch(texts, add_special_tokens=special)):
            ids, offs = compiled.encode(text, special)
            assert (ids, offs) == (enc.ids, [tuple(o) for o in enc.offsets]), repr(text[:80])
            tokens += len(ids)
    return tokens


def test_compiled_bpe_equals_tokenizers(both):
    compiled, rust = both
    assert _assert_same(compiled, rust, _texts()) > 1000
    assert _assert_same(compiled, rust, _texts()) > 1000  # again, from the units' cache
    assert ">" in compiled._joiners  # the one vocabulary token across a "▁" cut
    assert compiled.size == rust.get_vocab_size(with_added_tokens=True)
    for t in ("<bos>", "<eos>", "<pad>", "<unk>", "<start_of_turn>"):
        assert compiled.token_to_id(t) == rust.token_to_id(t)
    assert compiled.token_to_id("the") is None  # only added tokens are looked up


def test_compiled_bpe_equals_tokenizers_on_the_shared_data(both):
    """Every line of the shared corpora that exist here (sources in Sinhala, Nepali, Russian,
    Estonian, Romanian and Chinese, English MT and news), ids and offsets: 0 differences on
    71,245 texts / 7.6M tokens when written."""
    import tarfile

    if not SHARED.is_dir():
        pytest.skip(f"needs {SHARED} (the project's ../shared data folder), which is absent here")
    texts: list[str] = []
    for path in sorted((SHARED / "da").glob("*-dev.tar.gz")):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.isfile():
                    texts += tar.extractfile(m).read().decode("utf-8", "replace").splitlines()[:400]
    for path in sorted((SHARED / "mqm").glob("*")):
        texts += path.read_text(encoding="utf-8", errors="replace").splitlines()[:3000]
    news = SHARED / "news-en" / "genuine-news-en.jsonl"
    if news.is_file():
        texts += [json.loads(line).get("text", "") for line in news.read_text(encoding="utf-8").splitlines()]
    assert _assert_same(*both, texts) > 100_000


def test_unsupported_pipelines_are_left_to_tokenizers(default_model):
    spec = json.loads((Path(default_model.path) / "tokenizer.json").read_text(encoding="utf-8"))
    assert bpe.compile_tokenizer(spec) is not None
    changes = [("normalizer", {"type": "NFC"}),
               ("pre_tokenizer", {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                  "use_regex": True}),
               ("model", {**spec["model"], "byte_fallback": False}),
               ("model", {**spec["model"], "dropout": 0.1}),
               ("model", {**spec["model"], "vocab": {k: v for k, v in spec["model"]["vocab"].items() if k != "<0x41>"}}),
               ("added_tokens", [{**spec["added_tokens"][0], "lstrip": True}]),
               ("post_processor", {"type": "ByteLevel"}),
               ("truncation", {"max_length": 8}),
               ("model", {**spec["model"], "merges": spec["model"]["merges"][:5] + [["no-such", "piece"]]}),
               ("model", {**spec["model"], "vocab": {**spec["model"]["vocab"], "<0x41>▁": 262144},
                          "merges": spec["model"]["merges"][:5] + [["<0x41>", "▁"]]})]
    for key, value in changes:
        assert bpe.compile_tokenizer({**spec, key: value}) is None, key


def test_fast_tokenizer_switches_to_tokenizers_with_the_same_output(default_model, monkeypatch, tmp_path):
    """Compiled first (cached on disk, read back), ``tokenizers`` once encoding has cost
    ``switch_s`` (never, for a model on the CPU); a damaged cache file is compiled again."""
    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    texts = _texts()
    first = load_tokenizer(default_model.path)
    assert first.backend == "compiled"
    cached = bpe.compiled_file(Path(default_model.path) / "tokenizer.json")
    assert cached is not None and cached.is_file() and cached.parent.parent == tmp_path
    tok = load_tokenizer(default_model.path)  # from the cache
    assert tok.backend == "compiled"
    before = tok(texts, return_offsets_mapping=True)
    assert tok.switch_s == SWITCH_S  # the default: a GPU model's tokenizer switches after SWITCH_S
    tok(texts)
    assert tok.backend == "compiled"  # under SWITCH_S of encoding
    tok.switch_s = 0.0
    after = tok(texts, return_offsets_mapping=True)
    assert tok.backend == "tokenizers" and after == before
    assert tok(texts[0], add_special_tokens=False) == first(texts[0], add_special_tokens=False)
    assert len(tok) == len(first) and tok.bos_token_id == first.bos_token_id == 2
    broken = load_tokenizer(default_model.path)
    broken._json_path = tmp_path / "gone" / "tokenizer.json"  # the JSON vanished mid-job: it keeps encoding
    broken.switch_s = 0.0
    for _ in range(2):  # the second call tries to switch and cannot
        assert broken(texts, return_offsets_mapping=True) == before and broken.backend == "compiled"
    rust_only = load_tokenizer(default_model.path, compiled=False)
    assert rust_only.backend == "tokenizers" and rust_only(texts)["input_ids"] == before["input_ids"]
    cached.write_bytes(b"not a numpy file")
    again = load_tokenizer(default_model.path)
    assert again.backend == "compiled" and again(texts)["input_ids"] == before["input_ids"]
    assert np.load(cached)["format"][0] == bpe.FORMAT  # rewritten whole
    assert not [p for p in os.listdir(cached.parent) if p.startswith(".")]  # no temporary files left
    assert isinstance(first, FastTokenizer)


def test_a_cpu_model_keeps_the_compiled_encoder(lm):
    """On the CPU the compiled BPE costs under 1% of a job: the model's tokenizer never switches."""
    assert lm.tokenizer.backend == "compiled" and lm.tokenizer.switch_s is None
