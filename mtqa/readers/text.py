"""Decoding text files: UTF-8, or clearly Latin-1/cp1252 (said so), else refused."""

from __future__ import annotations

from pathlib import Path

from mtqa.errors import InputError

# Non-ASCII characters a cp1252 English text plausibly holds: Latin-1 letters and the
# typographic punctuation cp1252 adds. Anything else after a cp1252 decode means the
# bytes were some other encoding (GBK, Shift-JIS, ...), and we refuse rather than guess.
_CP1252_OK = set("‘’‚“”„†‡•…‰‹›€™–—˜ˆŠšŒœŽžŸ¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×÷\u00a0") | {
    chr(c) for c in range(0xC0, 0x100)
}


def looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls > max(2, len(sample) // 100)


def decode(data: bytes, where: str) -> tuple[str, str | None]:
    """Return (text, note); note says how a non-UTF-8 file was decoded."""
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
    if text is not None:
        non_ascii = [ch for ch in text if ord(ch) > 127]
        if non_ascii and len(non_ascii) <= 0.2 * len(text) and all(ch in _CP1252_OK for ch in non_ascii):
            return text, "not UTF-8; decoded as cp1252 (Windows Latin-1)"
    raise InputError(
        where, f"not UTF-8 (invalid byte at offset {utf8_error.start}) and not clearly Latin-1/cp1252; re-encode it as UTF-8"
    )


def read_text_file(path: Path) -> tuple[str, str | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    if not data.strip():
        raise InputError(str(path), "empty file (skipped)")
    return decode(data, str(path))
