"""Shared fixtures. The real default model is loaded once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "data"

# A model server the developer runs (`mtqa serve`) must not take the `mtqa score` jobs the
# tests start: they would run with its environment. tests/test_serve.py starts its own.
os.environ["MTQA_SERVER"] = str(ROOT / ".no-mtqa-server-in-tests.sock")


@pytest.fixture(scope="session")
def default_model():
    """The embedded default model, fetched and converted on first use (a minute, once)."""
    from mtqa.models import DEFAULT_MODEL, resolve

    return resolve(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def lm(default_model):
    from mtqa.models.lm import CausalLM

    return CausalLM(default_model.path, device="cpu", dtype="float32")


def run_mtqa(*args: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``python -m mtqa ...`` as a user would; returns the finished process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "mtqa", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


def fresh_python(code: str, timeout: int = 120) -> str:
    """Run ``code`` in a fresh interpreter in the project root (what a new process imports is
    the question, so it must not be this one); its stdout, after checking that it succeeded."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared data folder), which is absent here")
    return path
