"""Text that mtqa prints: input-derived strings made safe for a terminal or a log.

Ids, file names and sentences come from the user's data. Printed raw, a ``\\r\\n`` inside an
id can forge a line (``mtqa: error: ...``) and an escape sequence (``\\x1b[2J``) can rewrite
the terminal. :func:`printable` escapes such characters repr-style and leaves every other
character (accents, CJK, emoji) as it is.
"""

from __future__ import annotations

import unicodedata

# Unicode categories escaped: controls (Cc: \r, \n, \t, ESC, DEL, C1), format characters
# (Cf: bidi overrides such as U+202E that reorder what the reader sees, zero-width
# characters), lone surrogates (Cs: undecodable bytes in file names, which would make
# ``print`` raise), and the line/paragraph separators U+2028/U+2029 (Zl, Zp).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``str(value)`` with control, format and separator characters escaped (``\\r``, ``\\x1b``, ``\\u202e``).

    A backslash is doubled only when the string needs escaping at all, so ordinary Windows
    paths print unchanged while an escaped string stays unambiguous.
    """
    text = str(value)
    if text.isprintable() or not any(unicodedata.category(ch) in _ESCAPED_CATEGORIES for ch in text):
        return text
    return "".join(_escape(ch) if ch == "\\" or unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in text)
