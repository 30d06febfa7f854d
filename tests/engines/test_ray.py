"""``engine: ray`` on a local Ray instance: same output as the local engine (skipped without Ray)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from mtqa.pipeline import run_job  # noqa: E402
from tests.test_pipeline import assert_same_rows, config, load_tables, tiny_model, write_corpus  # noqa: E402,F401


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def test_ray_engine_matches_local(local_ray, tmp_path, tiny_model):
    corpus = write_corpus(tmp_path / "in", n_files=3, rows_per_file=6, seed=3)
    local = tmp_path / "local"
    run_job(config([corpus], local, tiny_model))
    on_ray = tmp_path / "ray"
    result = run_job(config([corpus], on_ray, tiny_model, engine="ray", ray={"num_actors": 2}))
    assert result.run_info["counts"]["articles"] == 18 and result.failed_inputs == 1
    assert_same_rows(load_tables(local), load_tables(on_ray))
