"""``workers: 2``: chunks scored in two worker processes give the local engine's output, row for row."""

from __future__ import annotations

import json

import pytest

from mtqa.engines import build_engine
from mtqa.engines.processes import worker_threads
from mtqa.errors import MtqaError
from mtqa.pipeline import run_job
from mtqa.writers import job_key
from tests.test_pipeline import assert_same_rows, config, load_tables, tiny_model, write_corpus  # noqa: F401


def test_workers_match_the_local_engine_and_resume(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "in", n_files=3, rows_per_file=6, seed=5)
    local = tmp_path / "local"
    run_job(config([corpus], local, tiny_model))
    two = tmp_path / "two"
    result = run_job(config([corpus], two, tiny_model, workers=2))
    assert result.run_info["counts"]["articles"] == 18 and result.failed_inputs == 1
    assert result.run_info["config"]["workers"] == 2
    assert set(result.run_info["timings"]["steps_s"]) >= {"lm", "word_order"}  # summed over the workers
    assert_same_rows(load_tables(local), load_tables(two))
    # the number of workers is not a setting of the scores: a job can resume with another
    assert job_key(config([corpus], two, tiny_model, workers=2).model_dump(mode="json")) == \
        job_key(config([corpus], two, tiny_model).model_dump(mode="json"))


def test_a_worker_that_cannot_load_the_model_stops_the_job_in_one_line(tmp_path):
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "nonsense"}))
    cfg = config([tmp_path], tmp_path / "out", str(broken), workers=2)
    with pytest.raises((MtqaError, RuntimeError)) as err:
        build_engine(cfg, log=lambda m: None)
    assert "\n" not in str(err.value) and str(err.value)


def test_threads_are_shared_out():
    assert worker_threads(2, 3) == 3  # configured: kept
    assert worker_threads(64, None) == 1  # never below one


def test_a_dead_worker_stops_the_job_in_one_line_and_what_was_written_resumes(tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "in", n_files=2, rows_per_file=4, seed=9)
    cfg = config([corpus], tmp_path / "out", tiny_model, workers=2)
    engine = build_engine(cfg, log=lambda m: None)
    try:
        for p in engine.procs:  # killed as the kernel kills a process out of memory
            p.kill()
            p.join()
        with pytest.raises(MtqaError, match="died .*exit code -9.*rerun the same command to resume") as err:
            run_job(cfg, log=lambda m: None, engine=engine)
        assert "\n" not in str(err.value)
    finally:
        engine.close()
    local = tmp_path / "local"
    run_job(config([corpus], local, tiny_model))
    run_job(cfg)  # the same command again: a fresh set of workers finishes the job
    assert_same_rows(load_tables(local), load_tables(tmp_path / "out"))
