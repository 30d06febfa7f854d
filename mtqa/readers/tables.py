"""Table inputs: one article per row (jsonl, json, csv, tsv, parquet, ``datasets`` folders).

Every decision is made per row, so one problem costs only its row: a row that is not JSON,
lacks the text field, has more fields than the header, or holds bytes that are neither UTF-8
nor plausible cp1252 is reported by file and row and skipped; the other rows are scored.

* **JSON lines** (``.jsonl``) are streamed line by line. A row without the text field is
  one error line; if *no* row of the file has it, that is one line for the file (the
  column name is probably wrong) instead of one per row.
* **JSON** (``.json``) is read whole: an array of objects, or an object holding one such
  array (``{"data": [...]}``), or a single object with the text field. A ``.json`` file
  that is really JSON lines is read as JSON lines. Anything else is refused in one line.
* **CSV** is parsed strictly (``csv.reader(strict=True)``): a quote in the middle of an
  unquoted field (``"We will win," he said.``) or a quoted field that never closes is an
  error naming the lines involved, never a silently merged or unquoted row.
* **TSV** fields are literal: a row is one line, fields are split on tabs, and quotes are
  text (``QUOTE_NONE`` semantics), so a ``"`` at the start of a field cannot swallow the
  rows after it.

Rows are streamed, never loaded whole (except ``.json``, which is one JSON document).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from mtqa.config import Columns
from mtqa.errors import InputError
from mtqa.readers.text import LineDecoder, decode, looks_binary, open_input, physical_lines
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
    """Turn (row number, row) pairs into Articles; row numbers are 1-based data rows.

    Rows that lack the text field are held back (as row numbers) until a row that has it
    shows the field exists: then each is reported as its own row error. If no row has it,
    the file gets one line saying so, not one line per row.
    """
    held: list[int] = []  # rows without the text field, while no row has had it
    held_keys: list[str] = []
    field_seen = False
    for n, row in rows:
        where = f"{path}: row {n}"
        if columns.text not in row:
            if field_seen:
                on_error(InputError(where, f"'{columns.text}' is missing; row skipped"))
            else:
                if not held:
                    held_keys = [str(k) for k in row]
                held.append(n)
            continue
        if not field_seen:
            field_seen = True
            for m in held:
                on_error(InputError(f"{path}: row {m}", f"'{columns.text}' is missing; row skipped"))
            held = []
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
    if held:
        on_error(InputError(path, f"no row has a '{columns.text}' field ({len(held)} row(s) skipped; row {held[0]} has: "
                                  f"{', '.join(held_keys) or 'no fields'}); set columns.text in the config"))


def _require_text_column(names: Iterable[str], path: str, columns: Columns) -> bool:
    names = list(names)
    if columns.text in names:
        return True
    raise InputError(path, f"no '{columns.text}' column (columns: {', '.join(map(str, names)) or 'none'}); set columns.text in the config")


def _check_not_binary(fh: BinaryIO, path: Path, kind: str) -> None:
    if looks_binary(fh.read(8192)):
        raise InputError(str(path), f"binary file, not {kind} (skipped)")
    fh.seek(0)


def _jsonl_rows(fh: BinaryIO, path: Path, on_error: ErrorSink) -> Iterator[tuple[int, dict]]:
    """JSON lines; the row number is the line number. Each line is decoded on its own."""
    decoder = LineDecoder(str(path))
    for n, raw in enumerate(physical_lines(fh, universal=False), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(decoder.decode(raw, n, "row"))
        except InputError as exc:
            on_error(InputError(exc.where, exc.message + "; row skipped"))
            continue
        except json.JSONDecodeError as exc:
            on_error(InputError(f"{path}: row {n}", f"not valid JSON ({exc.msg} at column {exc.colno}); row skipped"))
            continue
        if not isinstance(row, dict):
            on_error(InputError(f"{path}: row {n}", f"not a JSON object (a {_json_type(row)}); row skipped"))
            continue
        yield n, row
    if (warning := decoder.warning()) is not None:
        on_error(warning)


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _json_rows(fh: BinaryIO, path: Path, columns: Columns, on_error: ErrorSink) -> Iterator[tuple[int, dict]]:
    """A ``.json`` document: an array of objects, an object holding one, or one object with the text field."""
    text, note = decode(fh.read(), str(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):  # JSON lines in a .json file
            fh.seek(0)
            yield from _jsonl_rows(fh, path, on_error)
            return
        raise InputError(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if note:
        on_error(InputError(str(path), note + " (scored)", warning=True))
    if isinstance(doc, dict):
        arrays = [k for k, v in doc.items() if isinstance(v, list) and any(isinstance(x, dict) for x in v)]
        if columns.text in doc and not isinstance(doc[columns.text], (list, dict)):
            doc = [doc]  # one object, one article
        elif len(arrays) == 1:
            doc = doc[arrays[0]]
        else:
            which = f"{len(arrays)} arrays of objects ({', '.join(map(str, arrays))})" if arrays else "no array of objects"
            raise InputError(str(path), f"a JSON object with {which}; expected an array of objects (one per article), "
                                        "an object holding exactly one such array, or JSON lines (skipped)")
    if not isinstance(doc, list):
        raise InputError(str(path), f"holds a JSON {_json_type(doc)}; expected an array of objects, one per article (skipped)")
    for n, row in enumerate(doc, start=1):
        if not isinstance(row, dict):
            on_error(InputError(f"{path}: row {n}", f"not a JSON object (a {_json_type(row)}); row skipped"))
            continue
        yield n, row


def _fields_to_row(fields: list[str], header: list[str], where: str, what: str, on_error: ErrorSink) -> dict | None:
    """Fields -> {column: value}; a row with more non-empty fields than the header is refused, not cut."""
    if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
        on_error(InputError(where, f"{len(fields)} fields but the header has {len(header)} ({what}); row skipped"))
        return None
    return dict(zip(header, fields))


def _csv_rows(fh: BinaryIO, path: Path, columns: Columns, on_error: ErrorSink) -> Iterator[tuple[int, dict]]:
    """Strict CSV, decoded line by line; a record spanning a bad line is reported, not scored."""
    csv.field_size_limit(sys.maxsize)
    decoder = LineDecoder(str(path))
    bad_lines: dict[int, InputError] = {}

    def lines() -> Iterator[str]:
        for lineno, raw in enumerate(physical_lines(fh, universal=True), start=1):
            try:
                yield decoder.decode(raw, lineno)
            except InputError as exc:
                bad_lines[lineno] = exc
                yield raw.decode("cp1252", errors="replace")  # keeps the record structure; the record is skipped

    reader = csv.reader(lines(), strict=True)
    header: list[str] | None = None
    n, last_line = 0, 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            first, last_line = last_line + 1, reader.line_num
            lines_ = f"line {first}" if first == last_line else f"lines {first}-{last_line}"
            if header is None:
                raise InputError(str(path), f"malformed CSV header ({exc}) in {lines_}") from None
            n += 1
            on_error(InputError(f"{path}: row {n}", f"malformed CSV in {lines_} ({exc}: a stray or unclosed quote?); "
                                                    "row skipped"))
            continue
        first, last_line = last_line + 1, reader.line_num
        if not fields:
            continue  # a blank line
        if header is None:
            if any(line in bad_lines for line in range(first, last_line + 1)):
                raise bad_lines[min(line for line in range(first, last_line + 1) if line in bad_lines)]
            header = fields
            _require_text_column(header, str(path), columns)
            continue
        n += 1
        where = f"{path}: row {n}"
        bad = [line for line in range(first, last_line + 1) if line in bad_lines] if bad_lines else []
        if bad:
            on_error(InputError(where, f"line {bad[0]}: {bad_lines[bad[0]].message}; row skipped"))
            continue
        row = _fields_to_row(fields, header, where, "an unquoted ',' inside a field?", on_error)
        if row is not None:
            yield n, row
    if (warning := decoder.warning()) is not None:
        on_error(warning)


def _tsv_rows(fh: BinaryIO, path: Path, columns: Columns, on_error: ErrorSink) -> Iterator[tuple[int, dict]]:
    """Tab-separated values with literal fields: one line per row, no quoting, no escapes."""
    decoder = LineDecoder(str(path))
    header: list[str] | None = None
    n = 0
    for lineno, raw in enumerate(physical_lines(fh, universal=False), start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if not raw:
            continue  # a blank line
        if header is None:
            header = decoder.decode(raw, lineno).split("\t")
            _require_text_column(header, str(path), columns)
            continue
        n += 1
        where = f"{path}: row {n}"
        try:
            line = decoder.decode(raw, lineno)
        except InputError as exc:
            on_error(InputError(where, f"line {lineno}: {exc.message}; row skipped"))
            continue
        row = _fields_to_row(line.split("\t"), header, where, "a tab inside a field?", on_error)
        if row is not None:
            yield n, row
    if (warning := decoder.warning()) is not None:
        on_error(warning)


def _parquet_rows(fh: BinaryIO, path: Path, columns: Columns) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(fh)
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
    reported = 0

    def report(err: InputError) -> None:
        nonlocal reported
        reported += 1
        on_error(err)

    try:
        with open_input(path) as fh:
            if path.stat().st_size == 0:
                raise InputError(str(path), "empty file (skipped)")
            if suffix == ".jsonl":
                _check_not_binary(fh, path, "JSON lines")
                rows = _jsonl_rows(fh, path, report)
            elif suffix == ".json":
                rows = _json_rows(fh, path, columns, report)
            elif suffix == ".csv":
                _check_not_binary(fh, path, "CSV")
                rows = _csv_rows(fh, path, columns, report)
            elif suffix == ".tsv":
                _check_not_binary(fh, path, "TSV")
                rows = _tsv_rows(fh, path, columns, report)
            else:
                rows = _parquet_rows(fh, path, columns)
            counted = _Counted(rows)
            yield from rows_to_articles(counted, str(path), prefix, columns, report)
            if counted.n == 0 and not reported:
                raise InputError(str(path), "no rows (skipped)")
    except InputError as exc:
        on_error(exc)
    except OSError as exc:
        on_error(InputError(str(path), f"cannot read: {exc.strerror or exc}"))


class _Counted:
    """Counts the rows a row iterator yields (to tell "no rows" from "every row was bad")."""

    def __init__(self, rows: Iterator[tuple[int, dict]]):
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        for item in self.rows:
            self.n += 1
            yield item


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
