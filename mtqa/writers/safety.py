"""Which output folders mtqa may write into, and what ``--overwrite`` may delete.

All checks here run before any model is loaded (and again under the output lock):

* ``OUT`` must not be the working directory or a folder above it, nor hold or be an input;
* ``--overwrite`` only replaces a folder that is recognisably an mtqa output (its
  ``.mtqa/manifest.json``, or a ``run.json`` written by mtqa next to ``sentences/`` or
  ``articles/``) holding nothing but mtqa's own files (:mod:`mtqa.writers.layout`), and
  deletes only those files, never through a symlink.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from pathlib import Path
from typing import Sequence

from mtqa.errors import OutputError
from mtqa.writers.layout import DATASET_PATTERNS, LOCK, OWN_FILES, OWN_PATTERNS, STATE, TABLES
from mtqa.writers.manifest import MANIFEST_VERSION, read_manifest


def _plain(p: Path, kind: str) -> bool:
    """A real file or folder (a symlink is never mtqa's: deleting through it could reach anything)."""
    return not p.is_symlink() and (p.is_dir() if kind == "dir" else p.is_file())


def _read_run_json(out: Path) -> dict | None:
    try:
        data = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def foreign_entries(out: Path) -> list[str]:
    """Entries of ``out`` that mtqa does not write (relative names, sorted); [] for a pure mtqa output."""
    found = []
    for p in sorted(out.iterdir()):
        name = p.name
        if name == STATE and _plain(p, "dir"):
            continue  # mtqa's own state folder: its name is mtqa's
        if name in TABLES and _plain(p, "dir"):
            found.extend(f"{name}/{q.name}" for q in sorted(p.iterdir())
                         if not (_plain(q, "file") and any(fnmatch.fnmatchcase(q.name, pat) for pat in DATASET_PATTERNS)))
            continue
        if _plain(p, "file") and (name in OWN_FILES or any(fnmatch.fnmatchcase(name, pat) for pat in OWN_PATTERNS)):
            continue
        found.append(name + ("/" if p.is_dir() else ""))
    return found


def is_mtqa_output(out: Path) -> bool:
    """Recognisably written by mtqa: an unfinished job (``.mtqa/``) or a finished one (mtqa's run.json + datasets)."""
    if read_manifest(out) is not None or _plain(out / STATE, "dir"):
        return True
    info = _read_run_json(out)
    return (info is not None and "mtqa_version" in info and "signature" in info
            and any(_plain(out / t, "dir") for t in TABLES))


def check_target(out: Path, inputs: Sequence[str | os.PathLike] = (), overwrite: bool = False) -> None:
    """Refuse an output folder that would put the user's files at risk. Reads only; runs before the model loads.

    Refused: the working directory or a folder above it; a folder that is or contains an
    input; a file; an existing folder that is not an mtqa output or holds anything mtqa did
    not write (with or without ``--overwrite``: overwrite only ever replaces mtqa's own output).
    """
    where = out.resolve()
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working directory was removed: nothing there to protect
        cwd = None
    if cwd is not None and (where == cwd or where in cwd.parents):
        above = "" if where == cwd else " (or a folder above it)"
        raise OutputError(f"{out}: is the working directory{above}; write the output to a new folder, e.g. -o out/NAME")
    for raw in inputs:
        p = Path(raw).resolve()
        if p == where or where in p.parents:
            raise OutputError(f"{out}: {'is' if p == where else 'contains'} the input {raw}; "
                              f"write the output to a folder outside the inputs")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    foreign = foreign_entries(out)
    if foreign or not is_mtqa_output(out):
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            what = f"holds files mtqa did not write ({shown})"
        else:
            what = "is not an mtqa output (no run.json or .mtqa/manifest.json written by mtqa)"
        if overwrite:
            raise OutputError(f"{out}: {what}; --overwrite only replaces a previous mtqa output and its own files: "
                              f"choose another -o")
        raise OutputError(f"{out}: output folder exists and {what}; choose another -o (mtqa writes into a new or "
                          f"empty folder, or replaces its own previous output with --overwrite)")


def check_output(out: Path, overwrite: bool, key: str | None = None,
                 inputs: Sequence[str | os.PathLike] = ()) -> bool:
    """Fail early (before loading a model) if ``out`` cannot be used; see :func:`check_target`.

    Returns True when ``out`` holds an unfinished job with the same settings (``key``), which
    the caller then resumes. An unfinished job with other settings, or a finished one, is
    refused unless ``overwrite``. Call it again once :class:`~mtqa.writers.lock.OutputLock`
    is held: only then is the answer safe from a job running next door.
    """
    check_target(out, inputs, overwrite)
    resume = False
    if out.exists() and not overwrite:
        manifest = read_manifest(out)
        if manifest is not None:
            if manifest.get("version") != MANIFEST_VERSION:
                raise OutputError(f"{out}: holds an unfinished job from another mtqa version; pass --overwrite to "
                                  f"start it again, or choose another -o")
            if manifest.get("key") != key:
                raise OutputError(f"{out}: holds an unfinished job with other settings; rerun it with the same settings to "
                                  f"resume it, pass --overwrite to replace it, or choose another -o")
            resume = True
        elif any(p.name != STATE for p in out.iterdir()):
            raise OutputError(f"{out}: output folder exists (a finished mtqa output); pass --overwrite to replace it "
                              f"(or choose another -o)")
    probe_dir = out if out.exists() else out.parent
    try:
        probe_dir.mkdir(parents=True, exist_ok=True)
        probe = probe_dir / f".mtqa-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({exc.strerror or exc})") from None
    return resume


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def clear_output(out: Path) -> None:
    """``--overwrite``: delete a previous mtqa output's own files in ``out``; never the folder, never the live lock.

    Checks again that nothing foreign is there (the caller checked before loading the model;
    this runs under the lock, just before deleting).
    """
    foreign = foreign_entries(out)
    if foreign:
        raise OutputError(f"{out}: holds files mtqa did not write ({', '.join(foreign[:3])}); --overwrite only replaces "
                          f"a previous mtqa output: choose another -o")
    for p in out.iterdir():
        if p.name == STATE:
            clear_state(p)
        else:
            _remove(p)


def clear_state(state: Path) -> None:
    """Empty ``OUT/.mtqa`` except the lock file of the job running now."""
    if not state.is_dir():
        return
    for q in state.iterdir():
        if q.name != LOCK:
            _remove(q)
