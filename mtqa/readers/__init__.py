"""Readers: input paths -> Article records with stable, unique ids.

Supported inputs: ``.txt`` (one article per file), ``.jsonl``/``.json`` lines, ``.csv``,
``.tsv``, ``.parquet`` (one article per row), a folder saved by ``datasets.save_to_disk``, and
folders of any of these (read whole, in sorted order). Problems with one file or row are
reported through ``on_error`` and skipped; everything else is still read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from mtqa.config import Columns
from mtqa.errors import InputError
from mtqa.readers.tables import TABLE_SUFFIXES, iter_dataset_dir, iter_table, is_dataset_dir
from mtqa.readers.text import read_text_file
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
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def expand(paths: list[str], on_error: ErrorSink) -> list[tuple[Path, str]]:
    """Expand input arguments into (file or dataset folder, id prefix) pairs."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            on_error(InputError(raw, "no such file or folder"))
        elif p.is_dir() and is_dataset_dir(p):
            found.append((p, p.name))
        elif p.is_dir():
            members = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES | TABLE_SUFFIXES and not f.name.startswith(".")
            )
            subsets = sorted(d for d in p.rglob("*") if d.is_dir() and is_dataset_dir(d))
            if not members and not subsets:
                on_error(InputError(raw, "folder holds no readable inputs (.txt, .jsonl, .csv, .tsv, .parquet, datasets folders)"))
            for f in members:
                if not any(d in f.parents for d in subsets):
                    found.append((f, str(f.relative_to(p).with_suffix(""))))
            found.extend((d, str(d.relative_to(p))) for d in subsets)
        else:
            if p.suffix.lower() not in TEXT_SUFFIXES | TABLE_SUFFIXES:
                on_error(InputError(raw, f"unsupported file type {p.suffix or '(none)'!r}; use .txt, .jsonl, .csv, .tsv or .parquet"))
                continue
            found.append((p, p.stem))
    return found


def read_inputs(
    paths: list[str], columns: Columns, on_error: ErrorSink, inventory: list[InputFile] | None = None
) -> Iterator[Article]:
    """Yield the articles of all inputs; ids are unique (a duplicate is reported and skipped)."""
    seen: dict[str, str] = {}
    for path, prefix in expand(paths, on_error):
        record = None
        if inventory is not None:
            size, digest = _tree_digest(path) if path.is_dir() else (path.stat().st_size, _file_digest(path))
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
