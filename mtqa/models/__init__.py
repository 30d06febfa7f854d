"""Models: where weights come from (embedded registry) and how they are loaded (``CausalLM``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtqa.errors import ModelError
from mtqa.models.embedded import DEFAULT_MODEL, EMBEDDED, download, is_ready, model_dir, sha256_file, verify_weights


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: its folder and what the signature records about it."""

    name: str
    path: str
    weights_sha256: str
    licence: str = "see the model card"


def _weights_hash(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        return "unknown"
    if len(files) == 1:
        return sha256_file(files[0])
    import hashlib

    return hashlib.sha256("".join(sha256_file(f) for f in files).encode()).hexdigest()


def _from_hub(repo_id: str) -> ResolvedModel:
    """A hub id: its snapshot (from the local hub cache, or downloaded where the network allows),
    hashed like a local folder so the signature names the exact weights."""
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, gated model...
        raise ModelError(
            f"cannot get model {repo_id!r} from the Hugging Face hub or its local cache "
            f"({type(exc).__name__}); download it where there is network and pass its local folder"
        ) from None
    return ResolvedModel(repo_id, folder, _weights_hash(Path(folder)))


def resolve(name: str, *, auto_download: bool = True, log=print) -> ResolvedModel:
    """Turn a model setting into a loadable folder.

    ``name`` is an embedded model name (fetched and converted on first use), a local folder
    with a transformers checkpoint, or a Hugging Face hub id (needs the network or a warm
    hub cache; its hash is taken from the cached files when they are local).

    A folder converted by mtqa (with ``mtqa-model.json``) is checked against the sha256 it
    records (:func:`mtqa.models.embedded.verify_weights`), so the signature's hash always
    describes the weights that will run; other local folders are hashed in full.
    """
    if name in EMBEDDED:
        if not is_ready(name):
            if not auto_download:
                raise ModelError(f"model {name} is not downloaded yet: run `python -m mtqa download {name}`")
            log(f"mtqa: model {name} is not in {model_dir(name).parent} yet; fetching it now "
                f"(run `python -m mtqa download` ahead of time to skip this)")
            download(name, log=log)
        folder = model_dir(name)
        manifest = verify_weights(folder)
        return ResolvedModel(name, str(folder), manifest["weights_sha256"], manifest["licence"])
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelError(f"{folder} is not a transformers model folder (no config.json)")
        manifest = folder / "mtqa-model.json"
        if manifest.is_file():
            info = verify_weights(folder)
            return ResolvedModel(info.get("name", folder.name), str(folder), info["weights_sha256"], info.get("licence", ""))
        return ResolvedModel(str(folder), str(folder), _weights_hash(folder))
    if "/" in name and not name.startswith((".", "/")):
        return _from_hub(name)
    raise ModelError(
        f"model {name!r} is neither an embedded model ({', '.join(EMBEDDED)}), a local folder, nor a hub id"
    )


__all__ = ["DEFAULT_MODEL", "EMBEDDED", "ResolvedModel", "download", "resolve"]
