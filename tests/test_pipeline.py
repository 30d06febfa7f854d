"""The pipeline's job mechanics on a tiny random-weight model: determinism, shards + merge, refusals.

The tiny model (2 layers, hidden 32, the default model's tokenizer and vocabulary) scores in
milliseconds, so these tests check the machinery, not the scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtqa.config import JobConfig
from mtqa.errors import OutputError
from mtqa.pipeline import run_job

WORDS = ("the council met on monday and approved a budget for schools roads and the new hospital in the north "
         "minister said prices rose sharply in march while exports fell according to figures released").split()


def build_tiny_model(folder: Path, tokenizer_path: str) -> Path:
    """A 2-layer random-weight Gemma 3 with the given tokenizer, saved as a local model folder."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    if (folder / "config.json").is_file():
        return folder
    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=64,
                           max_position_embeddings=1024, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id)
    model = Gemma3ForCausalLM(cfg).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def write_corpus(folder: Path, n_files: int = 6, rows_per_file: int = 10, seed: int = 0) -> Path:
    """Several small jsonl files of pseudo-random English-like articles (2-4 sentences each)."""
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        lines = []
        for r in range(rows_per_file):
            sents = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
                     for _ in range(rng.randint(2, 4))]
            lines.append(json.dumps({"id": f"a{f}-{r}", "text": " ".join(sents)}))
        if f == 1:
            lines.append('{"id": "broken')  # a bad row: reported, skipped, and must not break resuming
        (folder / f"part-{f:02d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, default_model) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", default_model.path))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "in")


def config(inputs, out, model, **kw) -> JobConfig:
    data = {"inputs": [str(i) for i in inputs], "output": str(out), "model": {"name": model, "device": "cpu",
            "dtype": "float32", "batch_size": 8}, "articles_per_chunk": 4, "progress": False}
    data.update(kw)
    return JobConfig.model_validate(data)


def load_tables(out: Path) -> dict[str, list[dict]]:
    import datasets

    return {kind: datasets.load_from_disk(str(out / kind)).to_list() for kind in ("sentences", "articles")}


def assert_same_rows(a: dict, b: dict) -> None:
    """Row by row, column by column; floats compared bit for bit (NaN equals NaN)."""
    import struct

    def norm(v):
        if isinstance(v, float):
            return struct.pack("<d", v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    for kind in ("sentences", "articles"):
        assert len(a[kind]) == len(b[kind]), kind
        for i, (ra, rb) in enumerate(zip(a[kind], b[kind])):
            assert norm(ra) == norm(rb), (kind, i, ra, rb)


@pytest.fixture(scope="module")
def whole(tmp_path_factory, corpus, tiny_model):
    out = tmp_path_factory.mktemp("whole") / "out"
    result = run_job(config([corpus], out, tiny_model))
    return out, result


def test_output_is_complete_and_manifest_gone(whole):
    out, result = whole
    tables = load_tables(out)
    assert len(tables["articles"]) == 60 and result.run_info["counts"]["articles"] == 60
    assert len(tables["sentences"]) == result.run_info["counts"]["sentences"] > 60
    ids = [(r["article_id"], r["sentence_id"]) for r in tables["sentences"]]
    assert len(ids) == len(set(ids))
    assert [r["article_id"] for r in tables["articles"]] == [f"a{f}-{r}" for f in range(6) for r in range(10)]
    assert not (out / ".mtqa").exists() and (out / "run.json").is_file()
    assert result.failed_inputs == 1


def test_same_input_same_bits_with_and_without_prefetch(whole, corpus, tiny_model, tmp_path):
    out, _ = whole
    again = tmp_path / "again"
    run_job(config([corpus], again, tiny_model, prefetch=0))
    assert_same_rows(load_tables(out), load_tables(again))


def test_shards_then_merge_equal_the_whole_run(whole, corpus, tiny_model, tmp_path):
    from mtqa.commands.merge import merge

    out, result = whole
    parts = []
    for i in range(3):
        part = tmp_path / f"shard{i}"
        r = run_job(config([corpus], part, tiny_model, num_shards=3, shard_index=i))
        assert r.run_info["shard"]["index"] == i
        parts.append(part)
    sizes = [len(load_tables(p)["articles"]) for p in parts]
    assert sum(sizes) == 60 and all(s > 0 for s in sizes)
    merged = merge(list(reversed(parts)), tmp_path / "merged")
    assert_same_rows(load_tables(out), load_tables(tmp_path / "merged"))
    assert merged["run_info"]["counts"]["sentences"] == result.run_info["counts"]["sentences"]
    assert merged["run_info"]["counts"]["input_errors"] == 1
    with pytest.raises(OutputError, match="shard outputs 0..2"):
        merge(parts[:2], tmp_path / "incomplete")


def test_merge_cli(whole, corpus, tiny_model, tmp_path):
    from tests.conftest import run_mtqa

    parts = []
    for i in range(2):
        part = tmp_path / f"s{i}"
        proc = run_mtqa("score", str(corpus), "-o", str(part), "--model", tiny_model, "--device", "cpu", "--dtype", "float32",
                        "--batch-size", "8", "--articles-per-chunk", "4", "--num-shards", "2", "--shard-index", str(i),
                        "--no-progress")
        assert proc.returncode == 1, proc.stderr  # the corpus has one broken row
        parts.append(str(part))
    proc = run_mtqa("merge", *parts, "-o", str(tmp_path / "m"), "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert_same_rows(load_tables(whole[0]), load_tables(tmp_path / "m"))
    assert (tmp_path / "m" / "sentences.jsonl").is_file()


def test_shard_index_is_validated():
    from mtqa.config import load_config
    from mtqa.errors import ConfigError

    with pytest.raises(ConfigError, match="shard_index"):
        load_config(None, {"num_shards": 2, "shard_index": 2})


def test_finished_output_needs_overwrite(whole, corpus, tiny_model):
    out, _ = whole
    with pytest.raises(OutputError, match="output folder exists"):
        run_job(config([corpus], out, tiny_model))


class _Boom(Exception):
    pass


def test_interrupted_job_resumes_in_process(whole, corpus, tiny_model, tmp_path, monkeypatch):
    """A job that dies after some chunks resumes from its manifest and ends identical."""
    from mtqa import writers

    out = tmp_path / "out"
    real = writers.ShardWriter.write_chunk
    calls = {"n": 0}

    def dying(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Boom()
        return real(self, *a, **kw)

    monkeypatch.setattr(writers.ShardWriter, "write_chunk", dying)
    with pytest.raises(_Boom):
        run_job(config([corpus], out, tiny_model))
    monkeypatch.setattr(writers.ShardWriter, "write_chunk", real)
    manifest = json.loads((out / ".mtqa" / "manifest.json").read_text())
    assert len(manifest["chunks"]) == 4
    # other settings: refused, nothing touched
    with pytest.raises(OutputError, match="unfinished job with other settings"):
        run_job(config([corpus], out, tiny_model, unit="segment"))
    logs = []
    result = run_job(config([corpus], out, tiny_model), log=logs.append)
    assert any("resuming" in m for m in logs)
    assert result.run_info["timings"]["resumed"] is True
    assert result.run_info["counts"] == whole[1].run_info["counts"]
    assert_same_rows(load_tables(whole[0]), load_tables(out))


def test_changed_inputs_are_rescored_on_resume(corpus, tiny_model, tmp_path, monkeypatch):
    """A resumed job never keeps rows of an input that was edited after the interruption: the
    chunks whose content changed are scored again, chunks that no longer exist are dropped,
    and the result is exactly a fresh run on the edited inputs."""
    import shutil

    from mtqa import writers

    src = tmp_path / "in"
    shutil.copytree(corpus, src)
    out = tmp_path / "out"
    real = writers.ShardWriter.write_chunk
    calls = {"n": 0}

    def dying(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 15:  # 14 of the 15 chunks written
            raise _Boom()
        return real(self, *a, **kw)

    monkeypatch.setattr(writers.ShardWriter, "write_chunk", dying)
    with pytest.raises(_Boom):
        run_job(config([src], out, tiny_model))
    monkeypatch.setattr(writers.ShardWriter, "write_chunk", real)
    assert len(json.loads((out / ".mtqa" / "manifest.json").read_text())["chunks"]) == 14
    # edit a row of a finished chunk, and drop a whole file (the job now has 13 chunks, not 15)
    first = (src / "part-00.jsonl").read_text(encoding="utf-8").splitlines()
    first[0] = json.dumps({"id": "a0-0", "text": "An edited article. It has new text."})
    (src / "part-00.jsonl").write_text("\n".join(first) + "\n", encoding="utf-8")
    (src / "part-05.jsonl").unlink()
    logs = []
    result = run_job(config([src], out, tiny_model), log=logs.append)
    assert any("inputs changed since the interrupted run" in m for m in logs), logs
    assert result.run_info["timings"]["rescored_chunks"] >= 1
    fresh = tmp_path / "fresh"
    run_job(config([src], fresh, tiny_model))
    assert_same_rows(load_tables(fresh), load_tables(out))
    articles = {r["article_id"]: r["text"] for r in load_tables(out)["articles"]}
    assert articles["a0-0"] == "An edited article. It has new text." and len(articles) == 50
