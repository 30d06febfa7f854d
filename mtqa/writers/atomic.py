"""Writes that a kill or a full disk never leave half done, and the one line a failed write becomes.

Each file or folder is written under a temporary name and renamed into place: after a kill
the old version or the new one is there, never a mix; a failed write removes its temporary
file so it does not keep taking space.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
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


#: the files of a folder that ``datasets.load_from_disk`` reads (as ``save_to_disk`` names them)
DATA_FILE = "data-00000-of-00001.arrow"


def save_arrow_dataset(stream: Path, final: Path, scratch: Path, features: dict, description: str) -> None:
    """The folder ``datasets.load_from_disk`` reads, made from an Arrow stream file without
    importing ``datasets``; swapped in as :func:`save_dataset_atomic` does.

    ``stream`` (an Arrow IPC stream whose schema carries the ``huggingface`` metadata,
    :attr:`mtqa.writers.schema.TableSchema.arrow_schema`) is moved in as the data file, next to
    ``dataset_info.json`` (``features`` and ``description``) and ``state.json``, the three files
    ``save_to_disk`` writes for one shard (``tests/writers/test_schema.py`` loads the folder
    with ``datasets`` and compares it with ``save_to_disk``'s). ``datasets`` would split a
    table over 500 MB into several files; one file of any size loads the same.
    """
    tmp = scratch / f"tmp-{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    size = stream.stat().st_size
    info = {"citation": "", "description": description, "features": features, "homepage": "", "license": ""}
    fingerprint = hashlib.sha256(f"{description}|{size}|{json.dumps(features)}".encode()).hexdigest()[:16]
    state = {"_data_files": [{"filename": DATA_FILE}], "_fingerprint": fingerprint, "_format_columns": None,
             "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": None}
    for name, data in (("dataset_info.json", info), ("state.json", state)):
        (tmp / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(stream, tmp / DATA_FILE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def read_arrow_dataset(folder: Path):
    """A dataset folder's rows as one memory-mapped ``pyarrow.Table``, without ``datasets`` (the
    files ``save_to_disk`` or :func:`save_arrow_dataset` wrote, in their order)."""
    import pyarrow as pa

    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    tables = []
    for entry in state["_data_files"]:  # the map stays open while the table's buffers use it
        tables.append(pa.ipc.open_stream(pa.memory_map(str(folder / entry["filename"]))).read_all())
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]
