"""Opening and decoding input files: UTF-8, or clearly Latin-1/cp1252 (said so), else refused.

Two rules keep one problem from costing more than its own file or row:

* :func:`open_input` opens only regular files. A FIFO would block ``open`` forever and a
  device can be endless, so they are refused before any byte is read (the file is opened
  non-blocking and checked with ``fstat``, so a path swapped for a FIFO after the folder
  was listed is caught too).
* Line-oriented tables (JSON lines, CSV, TSV) are decoded line by line
  (:class:`LineDecoder`): a line that is valid UTF-8 is UTF-8, a line that is not is
  cp1252 when that is plausible, and only a line that is neither is an error. A Latin-1
  byte deep in a file therefore neither loses the rest of the file nor turns the UTF-8
  lines around it into mojibake; how many lines were decoded as cp1252 is reported.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

from mtqa.errors import InputError

# Non-ASCII characters a cp1252 English text plausibly holds: Latin-1 letters and the
# typographic punctuation cp1252 adds. Anything else after a cp1252 decode means the
# bytes were some other encoding (GBK, Shift-JIS, ...), and we refuse rather than guess.
_CP1252_OK = set("‘’‚“”„†‡•…‰‹›€™–—˜ˆŠšŒœŽžŸ¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×÷\u00a0") | {
    chr(c) for c in range(0xC0, 0x100)
}
_CP1252_NOTE = "decoded as cp1252 (Windows Latin-1)"


def looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls > max(2, len(sample) // 100)


def file_kind(mode: int) -> str:
    """A word for a non-regular file type, for the one-line error."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def not_regular(where: str, mode: int) -> InputError:
    return InputError(where, f"not a regular file ({file_kind(mode)}); skipped")


def open_input(path: Path) -> BinaryIO:
    """Open a regular file for binary reading; InputError for anything else, OSError as raised.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer; it
    has no effect on regular files, which are all we then read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(str(path), mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _plausible_cp1252(text: str) -> bool:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    return bool(non_ascii) and len(non_ascii) <= 0.2 * len(text) and all(ch in _CP1252_OK for ch in non_ascii)


def decode(data: bytes, where: str) -> tuple[str, str | None]:
    """Decode a whole file; return (text, note), the note saying how a non-UTF-8 file was decoded."""
    if looks_binary(data):
        raise InputError(where, "binary file, not text (skipped)")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and _plausible_cp1252(text):
        return text, f"not UTF-8; {_CP1252_NOTE}"
    raise InputError(
        where, f"not UTF-8 (invalid byte at offset {utf8_error.start}) and not clearly Latin-1/cp1252; re-encode it as UTF-8"
    )


class LineDecoder:
    """Decodes one file line by line (see the module docstring); reports cp1252 use once, at the end."""

    def __init__(self, where: str):
        self.where = where
        self.cp1252_lines = 0
        self.first_cp1252: int | None = None

    def decode(self, raw: bytes, lineno: int, label: str = "line") -> str:
        """Decode physical line ``lineno`` (1-based); InputError naming ``label lineno`` when it cannot be."""
        try:
            return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            utf8_error = exc
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = None
        if text is None or not _plausible_cp1252(text):
            raise InputError(f"{self.where}: {label} {lineno}",
                             f"not UTF-8 (invalid byte at column {utf8_error.start + 1}) and not clearly Latin-1/cp1252")
        self.cp1252_lines += 1
        if self.first_cp1252 is None:
            self.first_cp1252 = lineno
        return text

    def warning(self) -> InputError | None:
        if not self.cp1252_lines:
            return None
        return InputError(self.where, f"not UTF-8 on {self.cp1252_lines} line(s) (first: line {self.first_cp1252}); "
                                      f"those lines {_CP1252_NOTE} (scored)", warning=True)


def physical_lines(fh: BinaryIO, universal: bool) -> Iterator[bytes]:
    """Lines with their endings: split at ``\\n`` only, or (``universal``) also at a lone ``\\r`` as CSV does."""
    for raw in fh:
        if universal and b"\r" in raw:  # CRLF lines come back whole; a lone CR splits
            yield from raw.splitlines(keepends=True)
        else:
            yield raw


def read_text_file(path: Path) -> tuple[str, str | None]:
    try:
        with open_input(path) as fh:
            data = fh.read()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise InputError(str(path), "empty file (skipped)")
    return decode(data, str(path))
