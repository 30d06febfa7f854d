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


def test_mt_prior_must_be_a_probability_strictly_inside_0_1():
    assert load_config(None, {"scoring.mt_prior": 0.2}).scoring.mt_prior == 0.2
    for bad in (0, 1, 1.5):
        with pytest.raises(ConfigError, match=r"'scoring\.mt_prior'"):
            load_config(None, {"scoring.mt_prior": bad})


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


# --- issue 10, item 12 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, where", [
    ("inputs: [a.txt\noutput: out\n", "line 2, column 7: expected ',' or ']', but got ':'"),  # unclosed [
    ("inputs: [a.txt]\nmodel:\n  name: x\n   batch_size: 8\n", "line 4, column 14: mapping values are not allowed"),
    ("output: out\nunit:\tarticle\n", "line 2, column 6: found character '\\t' that cannot start any token"),
])
def test_yaml_error_keeps_line_and_column(tmp_path, text, where):
    f = tmp_path / "job.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(f))
    assert f"{f}: not valid YAML at {where}" in str(info.value) and "\n" not in str(info.value)


def test_unclosed_bracket_names_where_it_opened(tmp_path):
    f = tmp_path / "job.yaml"
    f.write_text("output: out\ninputs: [a.txt,\n  b.txt\n")
    with pytest.raises(ConfigError, match=r"at line 4, column 1: .*\(while parsing a flow sequence opened at line 2, column 9\)"):
        load_config(str(f))


def test_error_lines_from_the_cli_are_escaped(tmp_path, capsys):
    from mtqa.cli import main

    forged = tmp_path / "job\r\nmtqa: error: forged\x1b[2J.yaml"
    assert main(["score", "-c", str(forged)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err and "\x1b" not in err
    assert err.startswith("mtqa: error: ") and "job\\r\\nmtqa: error: forged\\x1b[2J.yaml: config file not found" in err
