"""What identifies an unfinished job and its chunks, so that resuming never keeps stale rows.

``OUT/.mtqa/manifest.json`` records the job's settings (:func:`job_key`), the run signature,
and each chunk written with a hash of its input content (:func:`chunk_digest`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from mtqa.writers.layout import STATE

# 2: chunks record a hash of their input content ("content"), not only their ids
MANIFEST_VERSION = 2


def job_key(config_dump: dict) -> str:
    """What must match for an unfinished OUT to be resumed: the config minus where/how it is shown
    and how many processes score it (``workers`` changes no number)."""
    keep = {k: v for k, v in config_dump.items()
            if k not in ("output", "overwrite", "progress", "summary_worst", "report", "workers")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def chunk_digest(articles: Iterable[Any]) -> str:
    """A hash of everything a chunk's rows are computed from: each article's id, origin, text, source, reference.

    Resuming compares it with the manifest, so a chunk whose input was edited after the
    interrupted run is scored again instead of keeping stale rows.
    """
    h = hashlib.sha256()
    for a in articles:
        for value in (a.article_id, a.origin, a.text, a.source, a.reference):
            data = b"\xff" if value is None else value.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()[:32]


def read_manifest(out: Path) -> dict | None:
    """The manifest of an unfinished job in ``out``; None when there is none (or it is unreadable)."""
    path = out / STATE / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("chunks"), dict) else None
