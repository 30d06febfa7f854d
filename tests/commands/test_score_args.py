"""``mtqa score`` flags (no model): several export formats, the new column and threshold flags."""

from __future__ import annotations

import pytest

from mtqa.cli import build_parser
from mtqa.commands.score import overrides
from mtqa.errors import ConfigError


def _o(*argv: str) -> dict:
    return overrides(build_parser().parse_args(["score", *argv]))


@pytest.mark.parametrize("argv", [
    ("in.txt", "--format", "parquet", "csv", "jsonl"),
    ("in.txt", "--format", "parquet,csv,jsonl"),
    ("--format", "parquet", "in.txt", "--format", "csv", "--format", "jsonl"),
])
def test_several_formats_in_every_spelling(argv):
    o = _o(*argv)
    assert o["formats"] == ["parquet", "csv", "jsonl"] and o["inputs"] == ["in.txt"]


def test_a_path_after_format_is_still_an_input(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    o = _o("--format", "csv", str(folder))
    assert o["formats"] == ["csv"] and o["inputs"] == [str(folder)]


def test_an_unknown_format_is_one_clear_error():
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        _o("in.txt", "--format", "xml")


def test_column_and_threshold_flags_reach_the_config():
    o = _o("in.jsonl", "--source-column", "src", "--reference-column", "ref",
           "--word-order-threshold", "6.5", "--flag-quality", "0.4")
    assert (o["columns.source"], o["columns.reference"]) == ("src", "ref")
    assert (o["scoring.word_order_threshold"], o["scoring.flag_quality"]) == (6.5, 0.4)
