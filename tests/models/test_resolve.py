import json

import pytest

from mtqa.errors import ModelError
from mtqa.models import resolve
from mtqa.models.embedded import MANIFEST, sha256_file


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
