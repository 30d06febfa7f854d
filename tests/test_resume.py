"""Never lose work: a ``score`` process killed with SIGKILL (repeatedly, at random moments)
and started again with the same command ends with exactly the output of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.test_pipeline import assert_same_rows, load_tables, tiny_model, write_corpus  # noqa: F401


def _cmd(corpus, out, model):
    return [sys.executable, "-m", "mtqa", "score", str(corpus), "-o", str(out), "--model", model, "--device", "cpu",
            "--dtype", "float32", "--batch-size", "8", "--articles-per-chunk", "1", "--no-progress"]


def _done_chunks(out) -> int:
    try:
        return len(json.loads((out / ".mtqa" / "manifest.json").read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_9_and_resume_gives_the_uninterrupted_output(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "in", n_files=4, rows_per_file=12, seed=1)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    whole = tmp_path / "whole"
    ref = subprocess.run(_cmd(corpus, whole, tiny_model), capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert ref.returncode == 1, ref.stderr  # one broken row in the corpus

    out = tmp_path / "out"
    rng = random.Random(7)
    kills, resumed = 0, False
    for attempt in range(12):
        before = _done_chunks(out)
        proc = subprocess.Popen(_cmd(corpus, out, tiny_model), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env=env)
        # wait until this attempt has written a few more chunks, then kill it mid-flight
        target = before + rng.randint(2, 25)
        deadline = time.time() + 300
        while proc.poll() is None and _done_chunks(out) < target and time.time() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            time.sleep(rng.random() * 0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        stdout, stderr = proc.communicate()
        assert proc.returncode == 1, stderr
        resumed = "resuming the unfinished job" in stderr
        break
    else:
        pytest.fail("the job never finished")
    assert kills >= 2 and resumed
    assert not (out / ".mtqa").exists()
    assert_same_rows(load_tables(whole), load_tables(out))
    info, ref_info = json.loads((out / "run.json").read_text()), json.loads((whole / "run.json").read_text())
    assert info["counts"] == ref_info["counts"] and info["errors"] == ref_info["errors"]


def test_kill_9_then_edit_an_input_never_keeps_stale_rows(tmp_path, tiny_model):
    """Kill a real job once its first chunk is in the manifest, edit a row of that chunk, rerun:
    the edited chunk is scored again (the README's policy), the output equals a fresh run on
    the edited inputs, and the old text is nowhere."""
    corpus = write_corpus(tmp_path / "in", n_files=4, rows_per_file=15, seed=3)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    out = tmp_path / "out"
    proc = subprocess.Popen(_cmd(corpus, out, tiny_model), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)
    deadline = time.time() + 300
    while proc.poll() is None and _done_chunks(out) < 1 and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the job finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    manifest = json.loads((out / ".mtqa" / "manifest.json").read_text())
    assert "0" in manifest["chunks"] and len(manifest["chunks"]) < 60
    rows = (corpus / "part-00.jsonl").read_text(encoding="utf-8").splitlines()
    old = json.loads(rows[0])["text"]
    rows[0] = json.dumps({"id": "a0-0", "text": "The edited first article. Nothing of the old text is left."})
    (corpus / "part-00.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")

    again = subprocess.run(_cmd(corpus, out, tiny_model), capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert again.returncode == 1, again.stderr  # the corpus's one broken row
    assert "resuming the unfinished job" in again.stderr and "inputs changed since the interrupted run" in again.stderr
    fresh = tmp_path / "fresh"
    ref = subprocess.run(_cmd(corpus, fresh, tiny_model), capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert ref.returncode == 1, ref.stderr
    tables = load_tables(out)
    assert_same_rows(load_tables(fresh), tables)
    texts = {r["article_id"]: r["text"] for r in tables["articles"]}
    assert texts["a0-0"].startswith("The edited first article") and old not in texts.values()
    a00 = [r["text"] for r in tables["sentences"] if r["article_id"] == "a0-0"]
    assert a00 and all(t in texts["a0-0"] and t not in old for t in a00)
