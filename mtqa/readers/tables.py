"""Table inputs: one article per row (jsonl, csv/tsv, parquet, ``datasets`` folders).

Rows are streamed, never loaded whole. A broken row is reported by file and row number
and skipped; a file without the text column is reported once and skipped.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from mtqa.config import Columns
from mtqa.errors import InputError
from mtqa.readers.text import decode, looks_binary
from mtqa.types import Article

TABLE_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv", ".parquet"}
ErrorSink = Callable[[InputError], None]


def is_dataset_dir(path: Path) -> bool:
    return (path / "dataset_info.json").is_file() or (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _optional(row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = str(value)
    return value if value.strip() else None


def rows_to_articles(
    rows: Iterable[tuple[int, dict[str, Any]]], path: str, prefix: str, columns: Columns, on_error: ErrorSink
) -> Iterator[Article]:
    """Turn (row number, row) pairs into Articles; row numbers are 1-based data rows."""
    for n, row in rows:
        where = f"{path}: row {n}"
        text = row.get(columns.text)
        if not isinstance(text, str) or not text.strip():
            kind = "missing" if text is None else ("empty" if isinstance(text, str) else f"not a string ({type(text).__name__})")
            on_error(InputError(where, f"'{columns.text}' is {kind}; row skipped"))
            continue
        raw_id = row.get(columns.id)
        article_id = str(raw_id) if raw_id not in (None, "") else f"{prefix}:{n}"
        yield Article(
            article_id=article_id,
            text=text,
            origin=where,
            source=_optional(row, columns.source),
            reference=_optional(row, columns.reference),
        )


def _require_text_column(names: Iterable[str], path: str, columns: Columns) -> bool:
    names = list(names)
    if columns.text in names:
        return True
    raise InputError(path, f"no '{columns.text}' column (columns: {', '.join(map(str, names)) or 'none'}); set columns.text in the config")


def _jsonl_rows(path: Path, on_error: ErrorSink) -> Iterator[tuple[int, dict]]:
    with open(path, "rb") as fh:
        head = fh.read(8192)
        if looks_binary(head):
            raise InputError(str(path), "binary file, not JSON lines (skipped)")
        fh.seek(0)
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                line, _ = decode(raw, f"{path}: row {n}")
                row = json.loads(line)
            except InputError as exc:
                on_error(exc)
                continue
            except json.JSONDecodeError as exc:
                on_error(InputError(f"{path}: row {n}", f"not valid JSON ({exc.msg} at column {exc.colno}); row skipped"))
                continue
            if not isinstance(row, dict):
                on_error(InputError(f"{path}: row {n}", "not a JSON object; row skipped"))
                continue
            yield n, row


def _csv_rows(path: Path, columns: Columns, delimiter: str, on_error: ErrorSink) -> Iterator[tuple[int, dict]]:
    """Stream CSV rows; a file that is not UTF-8 is decoded whole by ``decode`` (cp1252 or refused)."""
    csv.field_size_limit(sys.maxsize)
    with open(path, "rb") as fh:
        if looks_binary(fh.read(8192)):
            raise InputError(str(path), "binary file, not CSV (skipped)")
    n = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            _require_text_column(reader.fieldnames or [], str(path), columns)
            for n, row in enumerate(reader, start=1):
                yield n, row
        return
    except UnicodeDecodeError:
        if n:  # rows already yielded were valid UTF-8; a later bad byte is an error for the rest
            raise InputError(f"{path}: row {n + 1}", "not UTF-8 from here on; the rest of the file skipped") from None
    text, note = decode(path.read_bytes(), str(path))
    if note:
        on_error(InputError(str(path), note + " (scored)", warning=True))
    reader = csv.DictReader(text.splitlines(keepends=True), delimiter=delimiter)
    _require_text_column(reader.fieldnames or [], str(path), columns)
    yield from enumerate(reader, start=1)


def _parquet_rows(path: Path, columns: Columns) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for broken files
        raise InputError(str(path), f"not a readable parquet file ({type(exc).__name__})") from None
    _require_text_column(pf.schema_arrow.names, str(path), columns)
    n = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            yield n, row


def iter_table(path: Path, prefix: str, columns: Columns, on_error: ErrorSink) -> Iterator[Article]:
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size == 0:
            raise InputError(str(path), "empty file (skipped)")
        if suffix in (".jsonl", ".json"):
            rows = _jsonl_rows(path, on_error)
        elif suffix in (".csv", ".tsv"):
            rows = _csv_rows(path, columns, "\t" if suffix == ".tsv" else ",", on_error)
        else:
            rows = _parquet_rows(path, columns)
        # a JSON-lines file without the text column anywhere is one error, not one per row
        first = next(rows, None)
        if first is None:
            raise InputError(str(path), "no rows (skipped)")
        if suffix in (".jsonl", ".json") and columns.text not in first[1]:
            _require_text_column(first[1].keys(), str(path), columns)
        yield from rows_to_articles(_chain(first, rows), str(path), prefix, columns, on_error)
    except InputError as exc:
        on_error(exc)
    except OSError as exc:
        on_error(InputError(str(path), f"cannot read: {exc.strerror or exc}"))


def _chain(first, rest):
    yield first
    yield from rest


def iter_dataset_dir(path: Path, prefix: str, columns: Columns, on_error: ErrorSink) -> Iterator[Article]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a broken folder
        on_error(InputError(str(path), f"not a readable datasets folder ({type(exc).__name__})"))
        return
    if isinstance(ds, datasets.DatasetDict):
        on_error(InputError(str(path), f"holds several splits ({', '.join(ds)}); pass one split's folder"))
        return
    try:
        _require_text_column(ds.column_names, str(path), columns)
    except InputError as exc:
        on_error(exc)
        return
    rows = ((i + 1, row) for i, row in enumerate(ds))
    yield from rows_to_articles(rows, str(path), prefix, columns, on_error)
