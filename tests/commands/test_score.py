"""End-to-end: ``python -m mtqa score`` as a user runs it, on the real default model."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA, run_mtqa
from tests.test_pipeline import tiny_model  # noqa: F401

BROKEN = ("Discuss the financial attitude", "Agriculture ministers discuss, according to", "Decisions related to (if any)")


def _write_bad_inputs(folder):
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "gbk.txt").write_bytes("这是一篇中文文章，不是英文。".encode("gbk") * 3)
    (folder / "latin1.txt").write_bytes("The caf\u00e9 reopened on Monday \u2013 to everyone's relief.".encode("cp1252"))
    (folder / "rows.jsonl").write_text(
        '{"id": "r1", "text": "The council met on Monday and approved the budget."}\n'
        '{"id": "r2", "text": "broken row\n'
        '{"id": "r1", "text": "A duplicate id."}\n', encoding="utf-8")
    (folder / "nocol.csv").write_text("id,body\n1,Some text.\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def job(tmp_path_factory, default_model):
    tmp = tmp_path_factory.mktemp("job")
    bad = _write_bad_inputs(tmp / "bad")
    out = tmp / "out"
    proc = run_mtqa("score", str(DATA / "sample-mt-article.txt"), str(DATA / "sample-fluent-article.txt"), str(bad),
                    "-o", str(out), "--format", "parquet", "--no-progress", "--report")
    return proc, out


def test_exit_code_and_one_line_per_bad_input(job):
    proc, _ = job
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mtqa: error:")]
    expect = {"empty.txt": "empty file", "binary.txt": "binary", "gbk.txt": "not UTF-8",
              "rows.jsonl: row 2": "not valid JSON", "rows.jsonl: row 3": "duplicate id 'r1'", "nocol.csv": "no 'text' column"}
    for where, what in expect.items():
        hits = [e for e in errors if where in e and what in e]
        assert len(hits) == 1, (where, what, errors)
    assert len(errors) == len(expect)
    assert any("latin1.txt" in line and "cp1252" in line for line in proc.stderr.splitlines() if "warning" in line)


def test_datasets_load_with_the_contract(job):
    import datasets

    _, out = job
    sents = datasets.load_from_disk(str(out / "sentences"))
    arts = datasets.load_from_disk(str(out / "articles"))
    assert {"article_id", "sentence_id", "paragraph_id", "start", "end", "text", "quality", "flags", "spans",
            "surprisal_mean", "surprisal_max", "surprisal_p90", "slor"} <= set(sents.column_names)
    assert sorted(arts["article_id"]) == ["latin1", "r1", "sample-fluent-article", "sample-mt-article"]
    texts = dict(zip(arts["article_id"], arts["text"]))
    for row in sents:
        article_text = texts[row["article_id"]]
        assert article_text[row["start"]:row["end"]] == row["text"]
        assert 0.0 <= row["quality"] <= 1.0
        for span in row["spans"]:
            assert row["start"] <= span["start"] < span["end"] <= row["end"]
    ids = [(r["article_id"], r["sentence_id"]) for r in sents]
    assert len(ids) == len(set(ids))
    a = arts.to_pandas().set_index("article_id")
    assert a.loc["sample-mt-article", "n_sentences"] == sum(1 for r in sents if r["article_id"] == "sample-mt-article")
    assert (out / "sentences.parquet").is_file() and (out / "articles.parquet").is_file()


def test_broken_sample_sentences_score_below_fluent_ones(job):
    import datasets

    _, out = job
    sents = datasets.load_from_disk(str(out / "sentences"))
    broken = [r["quality"] for r in sents if r["text"].startswith(BROKEN)]
    fluent = [r["quality"] for r in sents if r["article_id"] == "sample-fluent-article" and r["sentence_id"] > 0]
    assert len(broken) == 3 and len(fluent) >= 5
    assert max(broken) < min(fluent), (broken, fluent)
    arts = datasets.load_from_disk(str(out / "articles")).to_pandas().set_index("article_id")
    assert arts.loc["sample-mt-article", "quality"] < arts.loc["sample-fluent-article", "quality"]


def test_run_json_provenance(job):
    _, out = job
    info = json.loads((out / "run.json").read_text())
    assert info["model"]["name"] == "gemma-3-270m" and len(info["model"]["weights_sha256"]) == 64
    assert info["signature"].startswith("mtqa:") and info["model"]["weights_sha256"][:12] in info["signature"]
    assert "seg:pysbd-" in info["signature"] and "unit:article" in info["signature"]
    paths = {i["path"].rsplit("/", 1)[-1]: i for i in info["inputs"]}
    assert len(paths["sample-mt-article.txt"]["sha256"]) == 64 and paths["sample-mt-article.txt"]["size"] > 0
    assert info["counts"]["articles"] == 4 and info["counts"]["input_errors"] == 6
    assert info["timings"]["sentences_per_s"] > 0 and info["config"]["unit"] == "article"
    # where the scoring time went: every default signal that ran, then combiner and detector
    steps = info["timings"]["steps_s"]
    assert {"lm", "word_order", "artefacts", "combine+detector"} <= set(steps)
    assert all(v >= 0 for v in steps.values()) and steps["lm"] > steps["artefacts"]
    assert sum(steps.values()) <= info["timings"]["score_s"] + 0.01


def test_summary_on_stdout(job):
    proc, _ = job
    assert "Scored 4 article(s)" in proc.stdout and "Worst" in proc.stdout


def test_score_report_flag_writes_the_html_report(job):
    proc, out = job
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Report:" in proc.stdout and "sample-mt-article" in page and "bare_verb_start" in page


def test_existing_output_is_refused_without_overwrite(job):
    _, out = job
    proc = run_mtqa("score", str(DATA / "sample-fluent-article.txt"), "-o", str(out))
    assert proc.returncode == 2 and "output folder exists" in proc.stderr and "--overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr and (out / "run.json").is_file()


def test_unknown_config_key_fails_before_scoring(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text(f"inputs: [{DATA / 'sample-fluent-article.txt'}]\noutput: {tmp_path / 'out'}\nscoring:\n  spike: 3\n")
    proc = run_mtqa("score", "--config", str(cfg))
    assert proc.returncode == 2 and "unknown key 'scoring.spike'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_wrong_type_on_command_line(tmp_path):
    proc = run_mtqa("score", str(DATA / "sample-fluent-article.txt"), "-o", str(tmp_path / "o"), "--batch-size", "0")
    assert proc.returncode == 2 and "'model.batch_size'" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_mtqa("score", str(DATA / "sample-fluent-article.txt"), "-o", str(blocker / "out"))
    assert proc.returncode == 2 and "cannot write" in proc.stderr and "Traceback" not in proc.stderr


def test_segment_unit_with_config_and_cli_override(tmp_path, default_model):
    rows = tmp_path / "segs.jsonl"
    rows.write_text('{"id": "s1", "text": "The minister arrived. She spoke briefly."}\n'
                    '{"id": "s2", "text": "Prices rose sharply in March."}\n', encoding="utf-8")
    cfg = tmp_path / "job.yaml"
    cfg.write_text(f"inputs: [{rows}]\noutput: {tmp_path / 'unused'}\nunit: segment\nprogress: false\n")
    out = tmp_path / "out"
    proc = run_mtqa("score", "--config", str(cfg), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    import datasets

    sents = datasets.load_from_disk(str(out / "sentences"))
    assert sents["article_id"] == ["s1", "s2"] and sents["text"][0] == "The minister arrived. She spoke briefly."
    assert not (tmp_path / "unused").exists()


def test_any_local_causal_lm_folder_works(tmp_path, default_model):
    """`--model FOLDER` takes any transformers causal LM; here a tiny random Llama with Gemma's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from mtqa.models.embedded import sha256_file

    tok = AutoTokenizer.from_pretrained(default_model.path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    folder = tmp_path / "tiny-llama"
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    out = tmp_path / "out"
    proc = run_mtqa("score", str(DATA / "sample-fluent-article.txt"), "-o", str(out), "--model", str(folder), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["model"]["path"] == str(folder)
    assert info["model"]["weights_sha256"] == sha256_file(folder / "model.safetensors")
    assert f"@{info['model']['weights_sha256'][:12]}" in info["signature"]


def test_source_and_reference_modes(tmp_path, default_model):
    rows = tmp_path / "segs.jsonl"
    rows.write_text(
        json.dumps({"id": "a", "text": "The council approved the budget on Monday.",
                    "source": "Der Rat hat den Haushalt am Montag gebilligt.",
                    "reference": "The council approved the budget on Monday."}) + "\n"
        + json.dumps({"id": "b", "text": "Prices rose sharply in March."}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_mtqa("score", str(rows), "--unit", "segment", "-o", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    import math

    import datasets

    s = {r["article_id"]: r for r in datasets.load_from_disk(str(out / "sentences"))}
    assert s["a"]["ref_bleu"] == 100.0 and s["a"]["ref_ter"] == 0.0 and math.isnan(s["b"]["ref_bleu"])
    assert math.isfinite(s["a"]["src_pmi"]) and math.isnan(s["b"]["src_pmi"])  # row b falls back to target-only
    assert s["a"]["xling_cosine"] > 0.7 and math.isnan(s["b"]["xling_cosine"])  # a faithful translation
    assert all(0.0 <= r["quality"] <= 1.0 for r in s.values())
    info = json.loads((out / "run.json").read_text())
    assert set(info["sacrebleu"]) == {"bleu", "chrf", "ter"} and "tok:13a" in info["sacrebleu"]["bleu"]
    assert "multilingual-e5-small" in info["signature"] and "weights_sha256=1571fc982750" in info["signature"]


@pytest.mark.model
def test_mt_probability_columns_and_article_evidence(job):
    """The detector's columns (issue 12): probabilities in [0, 1], evidence in words that
    names as many sentences as the article has, English articles marked "en", the detector
    in the signature. (How far the MT sample scores above the fluent one is a benchmark
    figure, not a contract; see the README.)"""
    import math

    import datasets

    _, out = job
    sents = datasets.load_from_disk(str(out / "sentences"))
    arts = {r["article_id"]: r for r in datasets.load_from_disk(str(out / "articles"))}
    ps = [p for p in sents["mt_probability"] if p is not None and not math.isnan(p)]
    assert ps and all(0.0 <= p <= 1.0 for p in ps)
    mt, fluent = arts["sample-mt-article"], arts["sample-fluent-article"]
    assert mt["language"] == fluent["language"] == "en"
    for art in (mt, fluent):
        assert 0.0 <= art["mt_probability"] <= 1.0
        assert f"of {art['n_sentences']} English sentences look machine-made" in art["mt_evidence"]
    run = json.loads((out / "run.json").read_text())
    assert "|detector:mt-detector:2(params=detector-gemma-3-270m.json,sha256=" in run["signature"]
    assert ",prior=0.5)|" in run["signature"]  # the default prior, said


@pytest.mark.model
def test_non_english_is_kept_out_of_the_mt_score(tmp_path, default_model):
    """A German article is not "machine-translated English": NaN and language not-en."""
    import math

    import datasets

    (tmp_path / "de.txt").write_text(
        "Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien beschlossen.\n"
        "Der Bundestag soll noch vor der Sommerpause darüber abstimmen, teilte ein Sprecher in Berlin mit.\n"
        "Kritiker bemängeln, dass die Pläne für die Industrie zu teuer seien.\n", encoding="utf-8")
    proc = run_mtqa("score", str(tmp_path / "de.txt"), "-o", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    art = datasets.load_from_disk(str(tmp_path / "out" / "articles"))[0]
    assert art["language"] == "not-en" and (art["mt_probability"] is None or math.isnan(art["mt_probability"]))
    sents = datasets.load_from_disk(str(tmp_path / "out" / "sentences"))
    for r in sents:
        if "not_english" in r["flags"]:
            assert r["mt_probability"] is None or math.isnan(r["mt_probability"])
            assert r["quality"] <= 0.02


def test_score_loads_through_the_api_after_the_checks_and_shows_progress(tmp_path, tiny_model, monkeypatch, capsys):
    """``mtqa score`` (engine local) gets its scorer from mtqa.api, only once the job was checked;
    it announces the model, and with stderr not a terminal prints one final line instead of a bar."""
    from mtqa import api
    from mtqa.cli import main

    loaded = []
    real = api.from_config

    def spy(config, **kw):
        loaded.append(config.output)
        return real(config, **kw)

    monkeypatch.setattr(api, "from_config", spy)
    text = tmp_path / "a.txt"
    text.write_text("The council met on Monday. It approved the budget.\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["score", str(text), "-o", str(out), "--model", tiny_model, "--device", "cpu", "--dtype", "float32"]
    assert main(args) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mtqa: ")]
    assert loaded == [str(out)]
    assert lines[0].startswith("mtqa: loading ") and "(float32, cpu, " in lines[0], err
    assert lines[1].startswith("mtqa: model loaded in "), err
    assert lines[-1].startswith("mtqa: scored 1 article(s), 2 sentence(s) in "), err
    assert "\r" not in err and "|" not in err  # no bar redraws in a log
    assert main(args) == 2 and loaded == [str(out)]  # refused (output exists): no model loaded
    assert main([*args, "--overwrite", "--no-progress"]) == 0 and len(loaded) == 2
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith(("mtqa: loading", "mtqa: scored"))] == []


def test_the_ray_engine_does_not_load_a_model_in_the_driver(tmp_path, monkeypatch, capsys):
    """``engine: ray`` keeps building its actors (run_job's default engine); the API's in-process
    scorer is not loaded in the driver. (Ray itself is faked: it may not be installed.)"""
    from mtqa import api
    from mtqa.cli import main

    monkeypatch.setattr(api, "from_config", lambda *a, **kw: pytest.fail("engine: ray loaded the API scorer"))

    class RayStarted(Exception):
        pass

    def fake_ray(config, log):
        assert config.engine == "ray"
        raise RayStarted()

    monkeypatch.setattr("mtqa.pipeline.build_engine", fake_ray)
    text = tmp_path / "a.txt"
    text.write_text("The council met on Monday.\n", encoding="utf-8")
    assert main(["score", str(text), "-o", str(tmp_path / "out"), "--engine", "ray", "--no-progress"]) == 3
    assert "RayStarted" in capsys.readouterr().err
