"""Flags generated from the config model (mtqa.commands.flags): help, type, choices and defaults
come from the pydantic fields, so they cannot drift from what a YAML job accepts."""

from __future__ import annotations

import argparse
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from mtqa.cli import build_parser
from mtqa.commands import score
from mtqa.commands.flags import Flag, add_config_flags, argument_options, config_field, config_overrides
from mtqa.config import JobConfig, load_config


class _Section(BaseModel):
    size: int | None = Field(None, description="how big")
    rate: float = Field(0.25, description="a rate of 50%")


class _Toy(BaseModel):
    mode: Literal["fast", "slow"] = Field("fast", description="how to run")
    kinds: list[Literal["a", "b"]] = Field(default_factory=list, description="which kinds")
    quiet: bool = Field(False, description="say less")
    name: str = Field("x", description="a name; default: x")
    section: _Section = Field(default_factory=_Section)


def _toy_parser(*flags: Flag) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_config_flags(p, flags, _Toy, {"section": "the section"})
    return p


def test_type_choices_and_default_come_from_the_field():
    p = _toy_parser(Flag("--mode", "mode"), Flag("--kind", "kinds"), Flag("--quiet", "quiet"),
                    Flag("--loud", "quiet", const=False), Flag("--size", "section.size"), Flag("--rate", "section.rate"),
                    Flag("--name", "name"))
    args = p.parse_args(["--mode", "slow", "--kind", "a", "b", "--kind", "a", "--size", "3", "--rate", "0.5", "--quiet"])
    assert config_overrides(args, [Flag("--mode", "mode"), Flag("--size", "section.size"), Flag("--rate", "section.rate"),
                                   Flag("--kind", "kinds"), Flag("--quiet", "quiet"), Flag("--name", "name")]) == {
        "mode": "slow", "section.size": 3, "section.rate": 0.5, "kinds": ["a", "b", "a"], "quiet": True, "name": None}
    assert p.parse_args(["--loud"]).loud is False and p.parse_args([]).quiet is None  # None: not given
    with pytest.raises(SystemExit):
        p.parse_args(["--mode", "medium"])  # choices from the Literal
    with pytest.raises(SystemExit):
        p.parse_args(["--size", "big"])  # int from `int | None`
    help_text = p.format_help()
    assert "how to run (default: fast)" in help_text and "a rate of 50% (default: 0.25)" in help_text
    assert "default: x (default" not in help_text  # a description that names its default is left alone
    assert "how big" in help_text and "how big (default" not in help_text  # None is not shown as a default
    assert "the section:" in help_text  # the section's flags under their heading


def test_the_shown_default_follows_the_model():
    """Change the default in the model and the help changes with it: nothing to keep in sync."""
    class Moved(_Toy):
        mode: Literal["fast", "slow"] = Field("slow", description="how to run")

    opts = argument_options(Flag("--mode", "mode"), config_field(Moved, "mode"))
    assert opts["help"] == "how to run (default: slow)" and opts["choices"] == ["fast", "slow"]


def test_a_flag_for_a_key_that_does_not_exist_fails_at_build_time():
    with pytest.raises(KeyError, match="section.sise"):
        _toy_parser(Flag("--sise", "section.sise"))
    with pytest.raises(KeyError, match="not a section"):
        config_field(_Toy, "mode.x")


def _score_action(flag: Flag) -> argparse.Action:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["score"]
    return next(a for a in sub._actions if flag.name in a.option_strings)


@pytest.mark.parametrize("flag", score.FLAGS, ids=lambda f: f.name)
def test_every_score_flag_matches_its_config_field(flag):
    info = config_field(JobConfig, flag.key)
    assert info.description, f"{flag.key} needs a description= in mtqa/config.py"
    action = _score_action(flag)
    if "help" not in flag.options:
        assert action.help.startswith(info.description.replace("%", "%%"))
    default = info.get_default(call_default_factory=True)
    if isinstance(default, (int, float)) and not isinstance(default, bool) and "default" not in info.description:
        assert f"(default: {default})" in action.help
    choices = getattr(info.annotation, "__args__", None)
    if action.choices is not None:
        assert list(action.choices) == list(choices)
    assert action.default is None  # unset flags never override the config file


@pytest.mark.parametrize("argv, key, value", [
    (["--batch-size", "8"], "model.batch_size", 8),
    (["--batch-tokens", "512"], "model.batch_tokens", 512),
    (["--threads", "2"], "model.threads", 2),
    (["--model", "smollm2-135m"], "model.name", "smollm2-135m"),
    (["--device", "cpu"], "model.device", "cpu"),
    (["--dtype", "float32"], "model.dtype", "float32"),
    (["--quantize", "int8"], "model.quantize", "int8"),
    (["--word-order-threshold", "6"], "scoring.word_order_threshold", 6.0),
    (["--flag-quality", "0.3"], "scoring.flag_quality", 0.3),
    (["--mt-prior", "0.1"], "scoring.mt_prior", 0.1),
    (["--text-column", "body"], "columns.text", "body"),
    (["--id-column", "key"], "columns.id", "key"),
    (["--engine", "ray", "--ray-actors", "3"], "ray.num_actors", 3),
    (["--ray-address", "auto"], "ray.address", "auto"),
    (["--num-shards", "4", "--shard-index", "3"], "shard_index", 3),
    (["--articles-per-chunk", "4"], "articles_per_chunk", 4),
    (["--unit", "segment"], "unit", "segment"),
    (["-o", "out"], "output", "out"),
    (["--overwrite"], "overwrite", True),
    (["--report"], "report", True),
    (["--no-progress"], "progress", False),
    (["--format", "csv,jsonl"], "formats", ["csv", "jsonl"]),
])
def test_each_flag_lands_on_its_config_key(argv, key, value):
    config = load_config(None, score.overrides(build_parser().parse_args(["score", "in.txt", *argv])))
    node = config
    for part in key.split("."):
        node = getattr(node, part)
    assert node == value and config.inputs == ["in.txt"]


def test_no_flags_leave_every_default():
    o = score.overrides(build_parser().parse_args(["score", "in.txt"]))
    assert {k: v for k, v in o.items() if v is not None} == {"inputs": ["in.txt"]}
    assert load_config(None, o) == JobConfig(inputs=["in.txt"])
