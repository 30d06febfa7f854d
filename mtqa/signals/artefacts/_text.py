"""Shared pieces of the artefact detectors: the hit record, settings, tokens, a verb test.

Every sentence-level detector is ``detect(text, cfg) -> list[Hit]`` with offsets local to
the sentence text; article-level detectors return ``(sentence_index, Hit)`` pairs. The
signal adds ``sentence.start`` to turn them into article offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    label: str
    note: str
    score: float = 1.0


@dataclass(frozen=True)
class ArtefactSettings:
    """Thresholds that change which sentences are flagged (they enter the signal signature)."""

    lang_min_letters: int = 20  # not_english: only sentences with at least this many letters
    lang_min_prob: float = 0.90  # not_english: the non-English language must be this probable
    lang_max_english_share: float = 0.20  # not_english: skip when English function words are this common
    repeat_min_words: int = 4  # repeated_sentence: shorter sentences may repeat legitimately
    boilerplate_max_words: int = 12  # boilerplate: longer sentences are prose
    verb_min_zipf: float = 3.0  # verb test: base, past and -ing forms at least this frequent
    bare_verb_anywhere: bool = False  # bare_verb_start: also on paragraph-initial sentences
    self_relation_window: int = 4  # self_relation: at most this many words between name and preposition
    surname_max_zipf: float = 4.8  # word_order_rule: a "surname" this common is a common noun ("Club")
    foreign_min_greek: int = 3  # foreign_script: Greek runs shorter than this are symbols (α, μ)


# A word: letters, inner apostrophes/hyphens ("O'Brien", "Secretary-General", "Ukraine’s").
WORD = re.compile(r"[^\W\d_](?:[^\W_]|['’\-](?=[^\W\d_]))*")


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def is_cap(self) -> bool:
        return self.text[:1].isupper()

    @property
    def is_lower(self) -> bool:
        return self.text[:1].islower()


def tokens(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def adjacent(text: str, a: Token, b: Token) -> bool:
    """True when only plain spaces separate ``a`` and ``b`` (no punctuation, no line break)."""
    gap = text[a.end:b.start]
    return bool(gap) and gap.strip(" ") == ""


def name_like(word: str) -> bool:
    """Title-case word (``Jens``, ``O'Brien``, ``Secretary-General``), not ALL CAPS, not one letter."""
    return len(word) > 1 and word[0].isupper() and not word.isupper() and any(c.islower() for c in word)


DETERMINERS = frozenset(
    "the a an its their his her this these those our any all some each every such".split()
)

FUNCTION_WORDS = frozenset(
    """a an the and or but nor so yet for of to in on at by with from into onto upon over under about
    above below across after before during since until till than then as if when while where whereas
    because though although unless whether that which who whom whose what how why not no also only
    just even still very more most less least such both either neither each every all any some
    is are was were be been being am has have had do does did will would shall should can could may
    might must it its he she they we you i me him her them us his their our your my this these those
    there here""".split()
)


def title_case(toks: list[Token]) -> bool:
    """A headline in Title Case: no lowercase word of four letters or more but function words."""
    return not any(t.is_lower and len(t.text) >= 4 and t.text not in FUNCTION_WORDS for t in toks)


def zipf(word: str) -> float:
    return _zipf(word.lower())


@lru_cache(maxsize=100_000)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


# Verbs whose past tense is not "-ed": the regular-morphology test below cannot see them.
IRREGULAR_VERBS = frozenset(
    """hold meet send take make give build bring seek keep lead find tell pay win sell buy teach
    think speak write drive choose break begin fight grow know show throw draw fly forget forgive
    leave lose feel spend stand understand withdraw undertake overcome uphold sit eat run swim sing
    drink ride rise shake steal wake wear bite hide feed dig hang lend bend shoot sleep sweep spin
    strike swing""".split()
)

# Capitalised words that pass the verb test but open fluent sentences/follow names as
# something else (adverb, preposition, adjective, noun use) or as common reader imperatives.
NOT_FRAGMENT_VERBS = frozenset(
    """like near round down up off back out still even further second well right better fast last
    open close next present minus plus save except pending following given including regarding
    concerning excluding barring notwithstanding read watch see click sign subscribe follow share
    download listen visit check join get find learn note consider imagine remember look compare
    contact call email tap scroll let try go keep take make use think enjoy meet say welcome
    thank please buy order book expect forget avoid ask start stop repeat return apply add stir mix
    pour place put heat bake cook preheat serve combine whisk season fill turn set drain wash
    remove""".split()
)


def _past_forms(w: str) -> Iterator[str]:
    if w.endswith("e"):
        yield w + "d"
    elif len(w) > 2 and w.endswith("y") and w[-2] not in "aeiou":
        yield w[:-1] + "ied"
    else:
        yield w + "ed"
        yield w + w[-1] + "ed"


def _ing_forms(w: str) -> Iterator[str]:
    if w.endswith("ie"):
        yield w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith("ee"):
        yield w[:-1] + "ing"
    else:
        yield w + "ing"
        yield w + w[-1] + "ing"


@lru_cache(maxsize=50_000)
def is_base_verb(word: str, min_zipf: float = 3.0) -> bool:
    """Is ``word`` (any case) most likely an English verb in its base form?

    wordfreq folds case and has no parts of speech, so the test is morphological: the word
    is common, and its regular past (-ed) and -ing forms are common too *relative to it*
    ("supply/supplied/supplying" pass; "tower/towered", "like/liked", "near/neared" do not,
    the inflected forms being far rarer than the base). A few irregular verbs are listed.
    """
    w = word.lower()
    if w in IRREGULAR_VERBS:
        return True
    if not w.isalpha() or len(w) < 3 or w in FUNCTION_WORDS:
        return False
    if w.endswith(("ing", "ed")) or (w.endswith("s") and not w.endswith("ss")):
        return False
    base = _zipf(w)
    if base < min_zipf:
        return False
    past = max(_zipf(f) for f in _past_forms(w))
    ing = max(_zipf(f) for f in _ing_forms(w))
    return past >= max(min_zipf, base - 1.2) and ing >= max(min_zipf, base - 1.3)


def quote(text: str, limit: int = 60) -> str:
    """The hit text for a note, on one line and shortened."""
    text = " ".join(text.split())
    return f'"{text if len(text) <= limit else text[: limit - 1] + "…"}"'
