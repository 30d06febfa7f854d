"""Readers: input paths -> Article records with stable, unique ids.

Supported inputs: ``.txt`` (one article per file), ``.jsonl`` (JSON lines), ``.json`` (an
array of objects), ``.csv``, ``.tsv``, ``.parquet`` (one article per row), a folder saved by
``datasets.save_to_disk``, and folders of any of these (read whole, in sorted order; mtqa
output folders and the job's own output folder are left out). Problems with one file or row
are reported through ``on_error`` and skipped; everything else is still read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from mtqa.config import Columns
from mtqa.errors import InputError
from mtqa.readers.tables import TABLE_SUFFIXES, iter_dataset_dir, iter_table, is_dataset_dir
from mtqa.readers.text import not_regular, open_input, read_text_file
from mtqa.types import Article

TEXT_SUFFIXES = {".txt", ".text", ".md"}
ErrorSink = Callable[[InputError], None]


@dataclass
class InputFile:
    """What run.json records about one input."""

    path: str
    kind: str
    size: int
    sha256: str
    articles: int = 0
    note: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _tree_digest(folder: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(_file_digest(f).encode())
        size += f.stat().st_size
    return size, h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open_input(path) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def is_mtqa_output(folder: Path) -> bool:
    """Is ``folder`` an mtqa output (finished, or a job in progress)?

    A job in progress holds ``.mtqa/``; a finished one ``run.json`` next to ``sentences/`` or
    ``articles/``. Read as input, its datasets and manifest would become "articles".
    """
    if (folder / ".mtqa").is_dir():
        return True
    if not (folder / "run.json").is_file():
        return False
    if (folder / "sentences").is_dir() or (folder / "articles").is_dir():
        return True
    try:
        with open(folder / "run.json", "rb") as fh:
            return b'"mtqa_version"' in fh.read(4096)
    except OSError:
        return False


class _Excluded:
    """The job's own output folder (and anything under it), compared by resolved path."""

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [Path(p).resolve() for p in paths]

    def __call__(self, path: Path) -> bool:
        if not self.paths:
            return False
        resolved = path.resolve()
        return any(resolved == p or p in resolved.parents for p in self.paths)


def _walk(top: Path, raw: str, on_error: ErrorSink, excluded: _Excluded) -> list[tuple[Path, str]]:
    """The inputs inside folder ``top``: files with an input suffix and dataset folders, sorted.

    Left out: hidden files, the job's output folder, other mtqa outputs (with a warning),
    and anything that is not a regular file (with an error line: reading a FIFO would hang).
    Symlinked folders are not descended (as ``Path.rglob`` does not).
    """
    members: list[Path] = []
    subsets: list[Path] = []
    unreadable = False

    def walk_error(exc: OSError) -> None:
        nonlocal unreadable
        unreadable = True
        on_error(InputError(str(exc.filename or top), f"cannot read folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(top, onerror=walk_error):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            sub = here / name
            if excluded(sub):
                continue  # the job's own output
            if is_mtqa_output(sub):
                on_error(InputError(str(sub), "an mtqa output folder inside an input folder; not read as input",
                                    warning=True))
                continue
            if is_dataset_dir(sub):
                subsets.append(sub)
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            f = here / name
            if name.startswith(".") or f.suffix.lower() not in TEXT_SUFFIXES | TABLE_SUFFIXES:
                continue
            try:
                mode = f.stat().st_mode
            except OSError as exc:
                on_error(InputError(str(f), f"cannot read: {exc.strerror or exc} (a broken link?)"))
                continue
            if not stat.S_ISREG(mode):
                on_error(not_regular(str(f), mode))
                continue
            members.append(f)
    if not members and not subsets and not unreadable:
        on_error(InputError(raw, "folder holds no readable inputs (.txt, .jsonl, .json, .csv, .tsv, .parquet, datasets folders)"))
    subsets.sort()
    found = [(f, str(f.relative_to(top).with_suffix(""))) for f in sorted(members)
             if not any(d in f.parents for d in subsets)]
    found.extend((d, str(d.relative_to(top))) for d in subsets)
    return found


def expand(paths: list[str], on_error: ErrorSink, exclude: Sequence[str | Path] = ()) -> list[tuple[Path, str]]:
    """Expand input arguments into (file or dataset folder, id prefix) pairs.

    ``exclude``: folders never read as input (the job's output folder, which may sit inside
    an input folder). mtqa output folders are never read as input either.
    """
    found: list[tuple[Path, str]] = []
    excluded = _Excluded(exclude)
    for raw in paths:
        p = Path(raw)
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            on_error(InputError(raw, "no such file or folder"))
            continue
        except OSError as exc:
            on_error(InputError(raw, f"cannot read: {exc.strerror or exc}"))
            continue
        if excluded(p):
            on_error(InputError(raw, "is (inside) this job's output folder; not read as input"))
        elif stat.S_ISDIR(mode) and is_mtqa_output(p):
            on_error(InputError(raw, "is an mtqa output folder, not an input; to rescore its articles pass "
                                     f"{Path(raw) / 'articles'}"))
        elif stat.S_ISDIR(mode) and is_dataset_dir(p):
            found.append((p, p.name))
        elif stat.S_ISDIR(mode):
            found.extend(_walk(p, raw, on_error, excluded))
        elif p.suffix.lower() not in TEXT_SUFFIXES | TABLE_SUFFIXES:
            on_error(InputError(raw, f"unsupported file type {p.suffix or '(none)'!r}; use .txt, .jsonl, .json, .csv, .tsv or .parquet"))
        elif not stat.S_ISREG(mode):
            on_error(not_regular(raw, mode))
        else:
            found.append((p, p.stem))
    return found


def read_inputs(
    paths: list[str], columns: Columns, on_error: ErrorSink, inventory: list[InputFile] | None = None,
    exclude: Sequence[str | Path] = (),
) -> Iterator[Article]:
    """Yield the articles of all inputs; ids are unique (a duplicate is reported and skipped).

    A file that cannot be read (permissions, vanished, not a regular file) is one error line
    and skipped, whether that shows while hashing it for the inventory or while reading it.
    ``exclude``: folders left out of folder expansion (pass the job's output folder).
    """
    seen: dict[str, str] = {}
    for path, prefix in expand(paths, on_error, exclude):
        record = None
        if inventory is not None:
            try:
                size, digest = _tree_digest(path) if path.is_dir() else (path.stat().st_size, _file_digest(path))
            except InputError as exc:
                on_error(exc)
                continue
            except OSError as exc:
                on_error(InputError(str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            record = InputFile(str(path), "datasets" if path.is_dir() else path.suffix.lower().lstrip("."), size, digest)
            inventory.append(record)
        for article in _read_one(path, prefix, columns, on_error, record):
            if article.article_id in seen:
                on_error(InputError(article.origin, f"duplicate id {article.article_id!r} (first seen in {seen[article.article_id]}); row skipped"))
                continue
            seen[article.article_id] = article.origin
            if record is not None:
                record.articles += 1
            yield article


def _read_one(path: Path, prefix: str, columns: Columns, on_error: ErrorSink, record: InputFile | None) -> Iterator[Article]:
    if path.is_dir():
        yield from iter_dataset_dir(path, prefix, columns, on_error)
    elif path.suffix.lower() in TEXT_SUFFIXES:
        try:
            text, note = read_text_file(path)
        except InputError as exc:
            on_error(exc)
            return
        if note:
            on_error(InputError(str(path), note + " (scored)").as_warning())
            if record is not None:
                record.note = note
        yield Article(article_id=prefix, text=text, origin=str(path))
    else:
        yield from iter_table(path, prefix, columns, on_error)
