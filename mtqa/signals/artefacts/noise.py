"""Noise carried over from the page or the MT step: site boilerplate, untranslated script,
doubled words."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from mtqa.signals.artefacts._text import FUNCTION_WORDS, ArtefactSettings, Hit, quote

# Site furniture that scrapers keep: each pattern must match at the start of a short line.
_BOILERPLATE = re.compile(
    r"""^(?:
        back\ to\ top(?:\ button)?
      | skip\ to\ (?:main\ )?content
      | share\ (?:this|on\ (?:facebook|twitter|whatsapp|linkedin|telegram)|via\b)
      | related\ (?:posts|articles|stories|news|content|topics|items)\b
      | you\ (?:may|might)\ also\ like
      | recommended\ for\ you
      | click\ here\b
      | follow\ us\b
      | (?:read|see)\ (?:more|also)\b | also\ read\b | continue\ reading\b
      | subscribe\ (?:to|now|for)\b | sign\ up\ for\ (?:our|the)\ newsletter
      | leave\ a\ (?:comment|reply)\b | \d+\ comments?$ | no\ comments?$
      | all\ rights\ reserved | copyright\ *(?:©|\(c\)|\d{4}) | ©
      | tags?\ *: | filed\ under\b | posted\ (?:in|on|by)\b
      | advertisement$ | sponsored(?:\ content)?$ | loading\ ?\.\.\.$
      | (?:previous|next)\ (?:post|article|story)\b
      | print\ this\ (?:article|page)\b | please\ enable\ javascript
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_RESERVED = re.compile(r"all rights reserved\.?$", re.IGNORECASE)


def boilerplate(text: str, cfg: ArtefactSettings) -> list[Hit]:
    if len(text.split()) > cfg.boilerplate_max_words:
        return []
    m = _BOILERPLATE.match(text) or _RESERVED.search(text)
    if not m:
        return []
    return [Hit(0, len(text), "boilerplate", f"site boilerplate line: {quote(text)}")]


_SCRIPTS = ("CJK", "CYRILLIC", "ARABIC", "DEVANAGARI", "HANGUL", "HIRAGANA", "KATAKANA", "HEBREW",
            "THAI", "GREEK", "BENGALI", "TAMIL", "TELUGU", "GUJARATI", "GURMUKHI", "KANNADA",
            "MALAYALAM", "SINHALA", "GEORGIAN", "ARMENIAN", "ETHIOPIC", "KHMER", "LAO", "MYANMAR",
            "TIBETAN", "PERSIAN", "SYRIAC", "THAANA", "MONGOLIAN", "YI", "BOPOMOFO")


def _script(ch: str) -> str | None:
    """The non-Latin script of letter ``ch`` (None for Latin letters, digits, punctuation, ...).

    Called once per character of every sentence: below U+0370 (Latin, IPA, combining
    diacritics) no name starts with one of :data:`_SCRIPTS` or holds "IDEOGRAPH", so those
    characters return at once, and the rest are looked up once per distinct character.
    (Before: every character's Unicode name was built and matched against 31 prefixes; on a
    GPU that was a tenth of the pipeline's host time.)
    """
    if ch < "\u0370":
        return None
    return _script_by_name(ch)


@lru_cache(maxsize=8192)
def _script_by_name(ch: str) -> str | None:
    if not (ch.isalpha() or unicodedata.category(ch) == "Mn"):
        return None
    name = unicodedata.name(ch, "")
    for script in _SCRIPTS:
        if name.startswith(script):
            return {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE"}.get(script, script)
    if "IDEOGRAPH" in name:
        return "CJK"
    return None


def foreign_script(text: str, cfg: ArtefactSettings) -> list[Hit]:
    """One hit per run of non-Latin letters (spaces inside a run of the same script allowed)."""
    hits, i, n = [], 0, len(text)
    while i < n:
        script = _script(text[i])
        if script is None:
            i += 1
            continue
        j = end = i + 1
        letters = 1
        while j < n:
            s = _script(text[j])
            if s == script or (s is None and unicodedata.category(text[j]) == "Mn"):
                end = j + 1
                letters += 1
            elif s is not None or not (text[j].isspace() or text[j] in "-'’·・"):
                break
            j += 1
        if script != "GREEK" or letters >= cfg.foreign_min_greek:
            hits.append(Hit(i, end, "foreign_script",
                            f"{script.title()} script inside an English sentence: {quote(text[i:end])}"))
        i = max(end, i + 1)
    return hits


# Doubles that fluent English uses: "had had", "that that", "what it is is", "bye bye".
_LEGIT_DOUBLES = frozenset(
    "that had is do very so bye no yeah ha ho la tut knock chop go blah night many far long".split()
)
_DOUBLE = re.compile(r"\b([^\W\d_]+)[ \u00a0]+(\1)\b", re.IGNORECASE)


def doubled_word(text: str, cfg: ArtefactSettings) -> list[Hit]:
    hits = []
    for m in _DOUBLE.finditer(text):
        word = m.group(1)
        if word.lower() in _LEGIT_DOUBLES or (m.group(2)[0].isupper() and word.lower() not in FUNCTION_WORDS):
            continue  # "Bora Bora", "Duran Duran", "Baden Baden": a name, not a slip
        if word.lower() == "in" and re.search(r"\d[ \u00a0]*$", text[:m.start()]):
            continue  # "12 in in length": inches
        hits.append(Hit(m.start(), m.end(), "doubled_word", f"word repeated: {quote(m.group())}"))
    return hits
