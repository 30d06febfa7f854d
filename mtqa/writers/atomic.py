"""Writes that a kill or a full disk never leave half done, and the one line a failed write becomes.

Each file or folder is written under a temporary name and renamed into place: after a kill
the old version or the new one is there, never a mix; a failed write removes its temporary
file so it does not keep taking space.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from mtqa.errors import OutputError


def write_failure(path: Path | str, exc: OSError, then: str) -> OutputError:
    """One line for a write that failed (disk full, permissions): which path, why, and what now."""
    where = exc.filename or path
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ENOSPC or "No space left" in reason:
        reason = "no space left on device"
    return OutputError(f"cannot write {where}: {reason}. {then}")


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` a temporary file next to ``path``, then rename it into place; on any
    failure the temporary file is removed and the error re-raised."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict) -> None:
    """``data`` as indented JSON at ``path``, synced to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    replace_atomically(path, write)


def save_dataset_atomic(ds, final: Path, scratch: Path) -> None:
    """``save_to_disk`` into a scratch folder, then swap it in (a kill leaves the old or the new).

    An empty dataset is saved as one (empty) shard: ``datasets`` otherwise writes no data file
    at all, and ``load_from_disk`` fails on the folder.
    """
    tmp = scratch / f"tmp-{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    ds.save_to_disk(str(tmp), **({"num_shards": 1} if len(ds) == 0 else {}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
