"""Never lose or silently corrupt a user's data: ``mtqa score`` / ``mtqa merge`` as a user runs
them, on real folders (and real processes for the lock), with the tiny random-weight model.

Refusals must happen before the model loads: the ``no_model`` fixture makes loading one fail
the test.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtqa.cli import main
from tests.conftest import DATA, ROOT, run_mtqa
from tests.test_pipeline import assert_same_rows, config, load_tables, tiny_model, write_corpus  # noqa: F401


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mtqa: ")]


@pytest.fixture
def no_model(monkeypatch):
    from mtqa import pipeline

    def refuse(*a, **kw):
        pytest.fail("the model was loaded although the job had to be refused before that")

    monkeypatch.setattr(pipeline.Scorer, "build", classmethod(lambda cls, *a, **kw: refuse()))


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def article(folder: Path, name: str = "good.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("The council met on Monday. It approved the budget for the new hospital.\n", encoding="utf-8")
    return path


def score_args(model: str, *rest: str) -> list[str]:
    return ["score", *rest, "--model", model, "--device", "cpu", "--dtype", "float32", "--no-progress"]


# -- 1. --overwrite never deletes what mtqa did not write ----------------------------------------
def test_overwrite_refuses_a_user_folder(tmp_path, capsys, no_model):
    good = article(tmp_path / "in")
    user = tmp_path / "userdir"
    (user / "sub").mkdir(parents=True)
    (user / "thesis.docx").write_bytes(b"PK\x03\x04 years of work")
    (user / "sub" / "notes.md").write_text("notes")
    before = tree(user)
    code, _, err = cli(capsys, "score", str(good), "-o", str(user), "--overwrite", "--no-progress")
    assert code == 2 and len(error_lines(err)) == 1, err
    assert "files mtqa did not write" in err and "thesis.docx" in err
    assert tree(user) == before


@pytest.mark.parametrize("where", [".", ".."])
def test_the_working_directory_is_never_the_output(tmp_path, capsys, no_model, monkeypatch, where):
    work = tmp_path / "work"
    good = article(work)
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    before = tree(tmp_path)
    code, _, err = cli(capsys, "score", "good.txt", "-o", where, "--overwrite", "--no-progress")
    assert code == 2 and len(error_lines(err)) == 1 and "working directory" in err, err
    assert tree(tmp_path) == before and good.is_file()


def test_an_output_holding_the_inputs_is_refused(tmp_path, capsys, no_model):
    good = article(tmp_path / "proj" / "in")
    before = tree(tmp_path)
    for extra in ([], ["--overwrite"]):
        code, _, err = cli(capsys, "score", str(good), "-o", str(tmp_path / "proj"), *extra, "--no-progress")
        assert code == 2 and len(error_lines(err)) == 1 and "contains the input" in err, err
    code, _, err = cli(capsys, "score", str(good.parent), "-o", str(good.parent), "--overwrite", "--no-progress")
    assert code == 2 and "is the input" in err
    assert tree(tmp_path) == before


def test_overwrite_replaces_a_previous_output_and_only_its_files(tmp_path, capsys, tiny_model):
    good = article(tmp_path / "in")
    out = tmp_path / "out"
    args = score_args(tiny_model, str(good), "-o", str(out), "--format", "csv", "--format", "jsonl", "--report")
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    first = load_tables(out)
    code, _, err = cli(capsys, *args)
    assert code == 2 and "output folder exists" in err and "--overwrite" in err
    code, _, err = cli(capsys, *args, "--overwrite")
    assert code == 0, err
    assert_same_rows(first, load_tables(out))
    # a file the user put there: --overwrite now refuses and deletes nothing
    (out / "my-notes.txt").write_text("mine")
    (out / "sentences" / "extra.parquet").write_text("mine too")
    before = tree(out)
    code, _, err = cli(capsys, *args, "--overwrite")
    assert code == 2 and "files mtqa did not write" in err and "my-notes.txt" in err, err
    assert tree(out) == before


def test_merge_never_writes_over_a_shard(tmp_path, capsys, tiny_model):
    from mtqa.pipeline import run_job

    corpus = write_corpus(tmp_path / "in", n_files=2, rows_per_file=6)
    shards = []
    for i in range(2):
        shards.append(tmp_path / f"sh{i}")
        run_job(config([corpus], shards[-1], tiny_model, num_shards=2, shard_index=i))
    before = [tree(s) for s in shards]
    for target in (shards[0], tmp_path):
        code, _, err = cli(capsys, "merge", str(shards[0]), str(shards[1]), "-o", str(target), "--overwrite")
        assert code == 2 and len(error_lines(err)) == 1 and "input" in err, err
    assert [tree(s) for s in shards] == before
    code, _, err = cli(capsys, "merge", str(shards[0]), str(shards[1]), "-o", str(tmp_path / "merged"))
    assert code == 0, err


# -- 4. one job per output -----------------------------------------------------------------------
def _manifest_chunks(out: Path) -> int:
    try:
        return len(json.loads((out / ".mtqa" / "manifest.json").read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_second_job_on_the_same_output_is_refused(tmp_path, tiny_model):
    """Job A is frozen (SIGSTOP) mid-way while holding its output; job B on the same folder,
    with the same or other settings, with or without --overwrite, gets one line and exit 2 and
    touches nothing; A then finishes with exactly the output of an undisturbed run."""
    corpus = write_corpus(tmp_path / "in", n_files=3, rows_per_file=8, seed=5)
    out = tmp_path / "out"
    base = [sys.executable, "-m", "mtqa", *score_args(tiny_model, str(corpus), "-o", str(out), "--articles-per-chunk", "1",
                                                       "--batch-size", "8")]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    a = subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        deadline = time.time() + 300
        while a.poll() is None and _manifest_chunks(out) < 1 and time.time() < deadline:
            time.sleep(0.005)
        assert a.poll() is None, "job A finished before it could be frozen"
        os.kill(a.pid, signal.SIGSTOP)
        state = tree(out)
        for extra in ([], ["--overwrite"], ["--dtype", "bfloat16"]):
            b = subprocess.run(base + extra, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
            assert b.returncode == 2, b.stderr
            assert error_lines(b.stderr) == [f"mtqa: error: {out}: another mtqa job (pid {a.pid}) is writing this "
                                             f"output folder; wait for it to finish, or choose another -o"], b.stderr
            assert tree(out) == state
    finally:
        os.kill(a.pid, signal.SIGCONT)
    _, err = a.communicate(timeout=600)
    assert a.returncode == 1, err  # the corpus's one broken row
    assert not (out / ".mtqa").exists()
    ref = tmp_path / "ref"
    proc = subprocess.run(base[:base.index("-o") + 1] + [str(ref)] + base[base.index("-o") + 2:], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert_same_rows(load_tables(ref), load_tables(out))


# -- 7. nothing to score -------------------------------------------------------------------------
def test_missing_inputs_only_stop_before_the_model_and_leave_nothing(tmp_path, capsys, no_model):
    out = tmp_path / "out"
    code, _, err = cli(capsys, "score", str(tmp_path / "nosuch.txt"), "-o", str(out), "--no-progress")
    assert code == 1, err
    assert error_lines(err) == [f"mtqa: error: {tmp_path / 'nosuch.txt'}: no such file or folder",
                                "mtqa: error: nothing to score: none of the inputs exists (see above); no output written"]
    assert not out.exists()


def test_missing_inputs_are_reported_before_the_model_loads(tmp_path, monkeypatch):
    from mtqa import pipeline

    class Loaded(Exception):
        pass

    seen = []

    def build(cls, *a, **kw):
        raise Loaded(list(seen))

    monkeypatch.setattr(pipeline.Scorer, "build", classmethod(build))
    good = article(tmp_path / "in")
    with pytest.raises(Loaded) as info:
        pipeline.run_job(config([good, tmp_path / "gone.txt"], tmp_path / "out", "unused"), on_error=seen.append)
    assert [(e.where, e.message) for e in info.value.args[0]] == [(str(tmp_path / "gone.txt"), "no such file or folder")]
    assert not (tmp_path / "out").exists()  # the job that failed to load left no stub


def test_a_job_with_no_text_writes_valid_empty_datasets(tmp_path, tiny_model):
    """Only an empty file: one error line, exit 1, loadable empty datasets with the full schema,
    no resumable stub; the same command again is an ordinary 'output exists', not a crash."""
    import datasets

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    args = score_args(tiny_model, str(empty), "-o", str(out), "--format", "parquet", "--format", "csv", "--format", "jsonl")
    proc = run_mtqa(*args)
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert [line for line in error_lines(proc.stderr) if "empty.txt" in line], proc.stderr
    assert not (out / ".mtqa").exists()
    sents, arts = (datasets.load_from_disk(str(out / k)) for k in ("sentences", "articles"))
    assert len(sents) == 0 and len(arts) == 0
    assert {"article_id", "quality", "flags", "spans", "slor", "surprisal_mean"} <= set(sents.features)
    assert {"article_id", "origin", "n_sentences", "quality", "flagged_share", "worst_sentence_id", "text"} <= set(arts.features)
    from mtqa.writers import ARTICLE_FEATURES

    assert arts.features == ARTICLE_FEATURES.features()
    assert json.loads((out / "run.json").read_text())["counts"]["articles"] == 0
    again = run_mtqa(*args)
    assert again.returncode == 2 and "output folder exists" in again.stderr, again.stderr


# -- 10. disk full ---------------------------------------------------------------------------------
def test_disk_full_mid_job_is_one_line_and_the_rerun_resumes(tmp_path, capsys, tiny_model, monkeypatch):
    from mtqa.writers import shards

    corpus = write_corpus(tmp_path / "in", n_files=2, rows_per_file=6, seed=2)
    out = tmp_path / "out"
    args = score_args(tiny_model, str(corpus), "-o", str(out), "--articles-per-chunk", "2")
    real = shards.ipc.new_stream
    calls = {"n": 0}

    def filling(*a, **kw):
        calls["n"] += 1
        if calls["n"] > 4:  # two chunks (two shards each) fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **kw)

    monkeypatch.setattr(shards.ipc, "new_stream", filling)
    code, _, err = cli(capsys, *args)
    assert code == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and "internal error" not in err, err
    assert f"cannot write {out}/.mtqa/shards/sentences-00000002.arrow: no space left on device" in lines[0]
    assert "Nothing already scored is lost" in lines[0] and "run the same command again to resume" in lines[0]
    monkeypatch.setattr(shards.ipc, "new_stream", real)
    code, _, err = cli(capsys, *args)
    assert code == 1 and "resuming the unfinished job in" in err and "(2 chunk(s) already done)" in err, err
    whole = tmp_path / "whole"
    code, _, err = cli(capsys, *score_args(tiny_model, str(corpus), "-o", str(whole), "--articles-per-chunk", "2"))
    assert_same_rows(load_tables(whole), load_tables(out))


def test_disk_full_while_finishing_keeps_every_chunk(tmp_path, capsys, tiny_model, monkeypatch):
    from mtqa.writers import shards

    good = article(tmp_path / "in")
    out = tmp_path / "out"
    args = score_args(tiny_model, str(good), "-o", str(out))
    real = shards.save_arrow_dataset

    def full(stream, final, scratch, features, description):
        raise OSError(errno.ENOSPC, "No space left on device", str(scratch / f"tmp-{final.name}"))

    monkeypatch.setattr(shards, "save_arrow_dataset", full)
    code, _, err = cli(capsys, *args)
    assert code == 2 and len(error_lines(err)) == 1, err
    assert "tmp-sentences: no space left on device" in err and "all 1 chunk(s) are kept" in err
    assert "run the same command again to finish the output" in err
    monkeypatch.setattr(shards, "save_arrow_dataset", real)
    code, _, err = cli(capsys, *args)
    assert code == 0 and "resuming" in err, err
    assert len(load_tables(out)["sentences"]) == 2


def test_the_readme_sample_command_is_still_fine(tmp_path, capsys, tiny_model):
    """`-o out/sample --overwrite` on a fresh clone (no out/ yet) and again (replacing its own output)."""
    out = tmp_path / "out" / "sample"
    for _ in range(2):
        code, _, err = cli(capsys, *score_args(tiny_model, str(DATA / "sample-mt-article.txt"), "-o", str(out), "--overwrite"))
        assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["articles", "run.json", "sentences"]
