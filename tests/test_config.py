import pytest

from mtqa.config import JobConfig, load_config
from mtqa.errors import ConfigError


def test_defaults_are_sensible():
    cfg = JobConfig()
    assert cfg.unit == "article" and cfg.model.name == "gemma-3-270m" and cfg.model.device == "auto"


def test_yaml_and_cli_overrides(tmp_path):
    f = tmp_path / "job.yaml"
    f.write_text("inputs: [a.txt]\noutput: out\nmodel:\n  name: smollm2-135m\n  batch_size: 8\nformats: parquet\n")
    cfg = load_config(str(f), {"model.batch_size": 4, "output": "elsewhere", "unit": None})
    assert cfg.inputs == ["a.txt"] and cfg.output == "elsewhere"
    assert cfg.model.name == "smollm2-135m" and cfg.model.batch_size == 4 and cfg.formats == ["parquet"]


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "job.yaml"
    f.write_text("inputs: [a.txt]\nmodel:\n  nmae: x\n")
    with pytest.raises(ConfigError, match=r"unknown key 'model\.nmae'"):
        load_config(str(f))


def test_wrong_type_is_named(tmp_path):
    f = tmp_path / "job.yaml"
    f.write_text("model:\n  batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"'model\.batch_size'"):
        load_config(str(f))


def test_bad_yaml_and_missing_file(tmp_path):
    f = tmp_path / "job.yaml"
    f.write_text("inputs: [a.txt\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(f))
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "missing.yaml"))


def test_shipped_example_configs_validate():
    from pathlib import Path

    from mtqa.train.config import load_train_config

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert configs, "configs/ should hold at least one example job"
    for c in configs:
        # training configs (configs/train*.yaml) have their own schema; every other file is a job
        (load_train_config if c.name.startswith("train") else load_config)(str(c))
