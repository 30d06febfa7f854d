"""Start-up cost: the CLI must not import torch or datasets before a command runs.

Why: importing torch, transformers and datasets takes seconds (10+ on a busy 2-core machine),
and ``mtqa --version``, ``mtqa score --help`` or a mistyped flag are answered by argparse
before any work starts. Each check runs in a fresh interpreter, since this test process has
long imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets", "pyarrow", "pandas", "scipy")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return its exit code and which HEAVY modules it imported."""
    probe = (
        "import atexit, json, sys\n"
        f"HEAVY = {HEAVY!r}\n"
        "atexit.register(lambda: sys.__stderr__.write('\\nIMPORTED=' + json.dumps("
        "[m for m in HEAVY if m in sys.modules]) + '\\n'))\n"
        + code
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("IMPORTED="))
    return {"rc": proc.returncode, "stdout": proc.stdout, "imported": json.loads(line[len("IMPORTED="):])}


def _cli(*argv: str) -> dict:
    return _modules_after(f"from mtqa.cli import main\nsys.exit(main({list(argv)!r}))")


def test_version_imports_no_heavy_library():
    out = _cli("--version")
    assert out["rc"] == 0 and out["stdout"].startswith("mtqa ")
    assert out["imported"] == []


@pytest.mark.parametrize("argv", [
    ("score", "--help"),
    ("score", "in.txt", "--overwite"),  # a typo: argparse answers before anything runs
    ("scor", "in.txt"),
    ("merge", "--help"),
    ("download", "--help"),
    ("report", "--help"),
    ("train", "--help"),
    ("--help",),
])
def test_help_and_usage_errors_import_neither_torch_nor_datasets(argv):
    out = _cli(*argv)
    assert out["rc"] in (0, 2)
    assert "torch" not in out["imported"] and "datasets" not in out["imported"], out["imported"]


def test_building_the_whole_parser_imports_neither_torch_nor_datasets():
    out = _modules_after("from mtqa.cli import build_parser\nbuild_parser()")
    assert out["rc"] == 0
    assert "torch" not in out["imported"] and "datasets" not in out["imported"], out["imported"]


def test_python_m_mtqa_version_in_a_subprocess():
    """The real entry point, as a user runs it (``-X importtime`` lists every module imported)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mtqa", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().startswith("mtqa ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "mtqa.cli" in imported  # the probe sees mtqa's own imports, so an absent torch means something
    assert not imported & {"torch", "datasets", "transformers"}


def test_a_command_still_gets_its_arguments_when_only_it_is_built():
    """``main`` fills in only the named command's arguments; the full parser and that one agree."""
    from mtqa.cli import build_parser

    def help_of(parser, name):
        import argparse

        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return sub.choices[name].format_help()

    full = build_parser()
    for name in ("score", "merge", "download", "report", "train"):
        assert help_of(build_parser(only={name}), name) == help_of(full, name)


@pytest.mark.model
def test_scoring_with_the_embedded_model_imports_neither_transformers_nor_datasets(default_model, tmp_path):
    """The cold-start path (session 12): the embedded Gemma runs on mtqa's own decoder and
    tokenizer, the datasets are written and summarised with pyarrow alone. transformers and
    datasets took 3-4 s of the 11 s a one-sentence job took; a change that brings either back
    onto this path fails here (it still scores and writes what ``datasets`` loads). Session 13:
    nor ``tokenizers`` (the compiled BPE encodes a short job; reading tokenizer.json was 1.1 s)
    nor pandas (pyarrow imports it for any ``pa.array``; 0.25 s)."""
    (tmp_path / "one.txt").write_text("The minister said that the new bridge will be opened next spring.\n")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mtqa", "score", str(tmp_path / "one.txt"),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MTQA_SERVER": str(tmp_path / "no-server.sock")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"torch", "mtqa.models.gemma3", "mtqa.models.bpe"} <= imported
    avoided = {"datasets", "transformers", "tokenizers", "pandas", "torch._decomp"}  # lazy_torch: the latter
    assert not imported & avoided, sorted(imported & avoided)
    import datasets

    assert len(datasets.load_from_disk(str(tmp_path / "out" / "sentences"))) == 1
