import json

import pytest

from mtqa.errors import ModelError
from mtqa.models import resolve
from mtqa.models.embedded import MANIFEST, sha256_file
from tests.test_pipeline import tiny_model  # noqa: F401


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ModelError, match="neither an embedded model"):
        resolve("no-such-model")


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        resolve(str(tmp_path))


def test_local_folder_is_hashed(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    r = resolve(str(tmp_path))
    assert r.path == str(tmp_path) and r.weights_sha256 == sha256_file(tmp_path / "model.safetensors")


def test_hub_id_offline_fails_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="cannot get model 'Unbabel/no-such-repo-xyz'"):
        resolve("Unbabel/no-such-repo-xyz")


def test_default_model_manifest_matches_its_weights(default_model):
    from pathlib import Path

    folder = Path(default_model.path)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["weights_sha256"] == sha256_file(folder / "model.safetensors") == default_model.weights_sha256
    assert manifest["gguf_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert "Gemma" in manifest["licence"]


def _fake_embedded(home, weights: bytes = b"\x01" * 4096, name: str = "gemma-3-270m"):
    """An embedded model folder under $MTQA_HOME as `mtqa download` leaves it (tiny stand-in weights)."""
    import hashlib

    folder = home / "models" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(weights)
    (folder / MANIFEST).write_text(json.dumps({"name": name, "licence": "test", "weights_file": "model.safetensors",
                                               "weights_sha256": hashlib.sha256(weights).hexdigest()}))
    return folder


def _corrupt(path, offset: int, data: bytes, keep_mtime: bool = False) -> None:
    import os

    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_embedded_weights_are_checked_at_load(tmp_path, monkeypatch):
    from mtqa.models import embedded

    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    folder = _fake_embedded(tmp_path)
    hashed = []
    real = embedded.sha256_file
    monkeypatch.setattr(embedded, "sha256_file", lambda p, *a: hashed.append(p) or real(p, *a))
    first = resolve("gemma-3-270m")
    assert len(hashed) == 1 and json.loads((folder / MANIFEST).read_text())["weights_stamp"]["size"] == 4096
    assert resolve("gemma-3-270m") == first and len(hashed) == 1  # unchanged file: the stamp suffices
    _corrupt(folder / "model.safetensors", 1000, b"\x00" * 256)
    with pytest.raises(ModelError, match=r"the weights in .*model.safetensors changed since they were converted .*"
                                         r"run `python -m mtqa download gemma-3-270m --force`"):
        resolve("gemma-3-270m")


def test_corruption_that_keeps_size_and_mtime_is_still_caught(tmp_path, monkeypatch):
    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    folder = _fake_embedded(tmp_path)
    resolve("gemma-3-270m")  # stores the stamp
    _corrupt(folder / "model.safetensors", 0, b"\x02", keep_mtime=True)  # the ctime still moves
    with pytest.raises(ModelError, match="changed since they were converted"):
        resolve("gemma-3-270m")


def test_a_touched_but_intact_file_is_rehashed_and_accepted(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    folder = _fake_embedded(tmp_path)
    sha = resolve("gemma-3-270m").weights_sha256
    os.utime(folder / "model.safetensors", ns=(1, 1))
    assert resolve("gemma-3-270m").weights_sha256 == sha
    assert json.loads((folder / MANIFEST).read_text())["weights_stamp"]["mtime_ns"] == 1


def test_missing_weights_and_broken_manifest_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    folder = _fake_embedded(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="weights file .* is missing; run `python -m mtqa download gemma-3-270m --force`"):
        resolve("gemma-3-270m")
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        resolve("gemma-3-270m")


def test_a_copied_model_folder_with_a_manifest_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setenv("MTQA_HOME", str(tmp_path / "home"))
    folder = _fake_embedded(tmp_path / "elsewhere")
    assert resolve(str(folder)).weights_sha256 == sha256_file(folder / "model.safetensors")
    _corrupt(folder / "model.safetensors", 10, b"\x00\x00")
    with pytest.raises(ModelError, match="changed since they were converted.*intact copy"):
        resolve(str(folder))


def test_score_refuses_damaged_embedded_weights(tmp_path, tiny_model):
    """A real `mtqa score` with $MTQA_HOME holding a converted embedded model (the tiny random
    model standing in for smollm2-135m, which ships no detector or quality parameters that
    would expect its real width): fine, then 256 KB of its weights zeroed -> one ModelError
    line, exit 2, no output, no signature naming weights that did not run."""
    import hashlib
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import DATA, ROOT

    home = tmp_path / "home"
    folder = home / "models" / "smollm2-135m"
    shutil.copytree(tiny_model, folder)
    weights = folder / "model.safetensors"
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / MANIFEST).write_text(json.dumps({"name": "smollm2-135m", "licence": "test", "weights_file": weights.name,
                                               "weights_sha256": sha}))
    env = dict(os.environ, MTQA_HOME=str(home))
    cmd = [sys.executable, "-m", "mtqa", "score", str(DATA / "sample-fluent-article.txt"), "--device", "cpu",
           "--dtype", "float32", "--model", "smollm2-135m", "--no-progress", "-o"]
    ok = subprocess.run(cmd + [str(tmp_path / "ok")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "ok" / "run.json").read_text())["model"]["weights_sha256"] == sha
    _corrupt(weights, weights.stat().st_size // 2, b"\x00" * (256 * 1024))
    bad = subprocess.run(cmd + [str(tmp_path / "bad")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert bad.returncode == 2, bad.stderr
    lines = [line for line in bad.stderr.splitlines() if line.startswith("mtqa: ")]
    assert len(lines) == 1 and "changed since they were converted" in lines[0] and "download smollm2-135m --force" in lines[0]
    assert not (tmp_path / "bad").exists()
