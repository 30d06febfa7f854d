"""Spacing artefacts: spaces inside numbers and currency amounts, spaces before punctuation.

MT systems (and the tokenise/detokenise steps around them) leave ``$ 40``, ``40 %``,
``1, 000`` and ``word ,``; fluent English typesets none of them.
"""

from __future__ import annotations

import re

from mtqa.signals.artefacts._text import ArtefactSettings, Hit, quote

NUMBER = r"\d[\d.,]*\d|\d"

_NUMBER_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    # "$ 40", "€ 5", "US $ 40" (the symbol directly before a space and a number)
    (re.compile(rf"(?<![\w$€£¥₹₽])[$€£¥₹₽][ \u00a0]+(?:{NUMBER})"), "space inside a currency amount"),
    # "40 %"
    (re.compile(rf"(?<![\w.,])(?:{NUMBER})[ \u00a0]+%"), "space before a percent sign"),
    # "1, 000" / "12, 500, 000": a thousands group split after its comma
    (re.compile(r"(?<![\d.,])\d{1,3}(?:, \d{3})+(?![\d.,]\d)(?!\d)(?! ?[-–])"),
     "space after a thousands separator"),
)


def number_spacing(text: str, cfg: ArtefactSettings) -> list[Hit]:
    hits = []
    for pattern, why in _NUMBER_PATTERNS:
        for m in pattern.finditer(text):
            if why.startswith("space after a thousands") and _is_number_list(text, m):
                continue
            hits.append(Hit(m.start(), m.end(), "number_spacing", f"{why}: {quote(m.group())}"))
    return hits


_MONTH = re.compile(r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
                    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.? $")


def _is_number_list(text: str, m: re.Match) -> bool:
    """``5, 120, 300 and 400`` (a list) or ``July 25, 135 cases`` (a date, then a count):
    not one number with a split thousands group."""
    if _MONTH.search(text, 0, m.start()):
        return True
    before = text[max(0, m.start() - 6):m.start()]
    after = text[m.end():]
    if re.search(r"\d, $", before) or re.match(r", \d", after):
        return True
    last = re.match(r",? (?:and|or) \d+(, \d{3})?", after)  # "101, 102 and 103", not "... and 2, 000"
    return bool(last and not last.group(1))


# A space (or several) before , ; : ! ? . that is itself followed by a space, a closing quote or
# the end. Excluded: ellipses (" ...", ". . ."), decimals/abbreviations (" .45", " .NET"),
# times and ratios ("10 : 30", "3 : 1"), dashes and emoticons.
_BEFORE_PUNCT = re.compile(r"(?<=[^\W_]|[)\]”’\"%])[ \u00a0]+([,;:!?]|\.(?!\.))(?=$|[ \u00a0\"”’])")
_OPEN_BRACKET = re.compile(r"[(\[][ \u00a0]+(?=[^\W_])")
_CLOSE_BRACKET = re.compile(r"(?<=[^\W_])[ \u00a0]+[)\]]")


def punct_spacing(text: str, cfg: ArtefactSettings) -> list[Hit]:
    hits = []
    for m in _BEFORE_PUNCT.finditer(text):
        mark = m.group(1)
        if mark == "." and (text[m.end():m.end() + 2] == " ." or text[max(0, m.start() - 2):m.start()] == ". "):
            continue  # ". . ." spaced ellipsis
        if mark == ":" and re.match(r" ?\d", text[m.end():]) and text[m.start() - 1:m.start()].isdigit():
            continue  # "10 : 30", "3 : 1"
        start = _word_start(text, m.start())
        hits.append(Hit(start, m.end(), "punct_spacing", f"space before {quote(mark)}: {quote(text[start:m.end()])}"))
    for pattern, side in ((_OPEN_BRACKET, "after an opening"), (_CLOSE_BRACKET, "before a closing")):
        for m in pattern.finditer(text):
            hits.append(Hit(m.start(), m.end(), "punct_spacing", f"space {side} bracket: {quote(m.group())}"))
    return hits


def _word_start(text: str, i: int) -> int:
    """Start of the word ending at ``i`` (so the span shows ``word ,`` rather than `` ,``)."""
    j = i
    while j > 0 and not text[j - 1].isspace():
        j -= 1
    return j
