"""Clause-level artefacts: fused sentences, verb-first fragments, self relations, word order.

These are the traces of an MT system that lost a sentence boundary or reordered a clause:
``... in Eastern Europe It will be announced ...`` (a clause glued on without a stop),
``Discuss the military attitude of the alliance.`` (a verb fragment whose subject is in the
previous sentence), ``Ukraine can provide to Ukraine`` (subject and recipient merged),
``... Jason Stoltenberg Supply heavy weapons`` (a verb capitalised as if it started a sentence),
``related to (if any) posture`` (an aside moved between a preposition and its object). The
last two share the label ``word_order_rule``.
"""

from __future__ import annotations

import re
from typing import Sequence

from mtqa.signals.artefacts._text import (
    DETERMINERS, FUNCTION_WORDS, NOT_FRAGMENT_VERBS, ArtefactSettings, Hit, Token, adjacent,
    is_base_verb, name_like, quote, title_case, tokens, zipf,
)
from mtqa.types import Sentence

# Capitalised words that open a clause and are never capitalised inside fluent prose
# (outside titles of works, which the "next word is lowercase" condition screens out).
CLAUSE_STARTERS = frozenset(
    """It He She They We There This These Those The His Her Their Its Our However Meanwhile
    Moreover Furthermore Therefore Nevertheless According""".split()
)
# After these the capitalised word is a title or a cited word ("the film It was ...").
_TITLE_CUES = frozenset(
    """called titled entitled named dubbed film movie novel book song album single series show
    play word term pronoun phrase magazine newspaper""".split()
)


_STARTER = re.compile(r"(?<= )(?:" + "|".join(sorted(CLAUSE_STARTERS)) + r")(?= [^\W\d_])")
_PREV_WORD = re.compile(r"(?:^|(?<=\s))([^\W_][\w'’\-]*) $")  # a word or a number, no punctuation


def fused_sentence(text: str, cfg: ArtefactSettings) -> list[Hit]:
    hits = []
    for m in _STARTER.finditer(text):
        word = m.group()
        nxt = text[m.end() + 1:].split(" ", 1)[0]
        if not nxt[:1].islower():
            continue  # "The Hague", "It Ends With Us": a name or a title in title case
        prev = _PREV_WORD.search(text, 0, m.start())
        if prev is None:
            continue  # a colon, quote, dash or bracket before it makes a capital legitimate
        p = prev.group(1).lower()
        if p in FUNCTION_WORDS or p in _TITLE_CUES or p.endswith(("'s", "’s")):
            continue  # "that He (God) ...", "the film It ...", "King's It ..."
        if word == "According" and not nxt.startswith("to"):
            continue
        if len(p) == 1 and prev.group(1).isupper():
            continue  # "Part B The ..." style labels
        if word in ("He", "Her", "His") and prev.group(1)[0].isupper():
            continue  # "Vice Premier Liu He said": a name, not a pronoun
        hits.append(Hit(prev.start(1), m.end(), "fused_sentence",
                        f"capitalised {quote(word)} starts a new clause after {quote(prev.group(1))} without a stop"))
    return hits


# Subjects and finite auxiliaries: with one of these the sentence has a clause of its own.
_HAS_SUBJECT = frozenset(
    """i you your yourself yourselves he she it we they who will would can could shall should may
    might must is are was were has have had does did won't can't don't""".split()
)


def _second_imperative(text: str, toks: list[Token], i: int, cfg: ArtefactSettings) -> bool:
    """Does a verb follow the conjunction ``toks[i]`` ("and drown it", "and rest on the bank")?"""
    if i + 1 >= len(toks):
        return False
    verb = toks[i + 1]
    if not verb.is_lower or verb.text in FUNCTION_WORDS:
        return False
    if is_base_verb(verb.text, cfg.verb_min_zipf):
        return True
    nxt = toks[i + 2] if i + 2 < len(toks) else None
    return nxt is not None and adjacent(text, verb, nxt) and nxt.text in FUNCTION_WORDS


def bare_verb_start(text: str, cfg: ArtefactSettings) -> list[Hit]:
    """A declarative prose sentence opening with a bare verb + determiner: ``Discuss the ...``."""
    stripped = text.rstrip("\"'”’) ")
    if not stripped.endswith(".") or stripped.endswith(".."):
        return []
    toks = tokens(text)
    if len(toks) < 5 or toks[0].start != 0:
        return []  # short lines and lines opening with a bullet, quote or number are not prose
    verb, det = toks[0], toks[1]
    if not verb.text.istitle() or det.text not in DETERMINERS or not adjacent(text, verb, det):
        return []
    if verb.text.lower() in NOT_FRAGMENT_VERBS or not is_base_verb(verb.text, cfg.verb_min_zipf):
        return []
    if any(t.text.lower() in _HAS_SUBJECT for t in toks):
        return []  # "Give him a fish, and he eats": a clause with a subject follows; "your": advice
    if any(_second_imperative(text, toks, i, cfg) for i, t in enumerate(toks) if t.text in ("and", "or", "then")):
        return []  # "Cross the river and rest on the bank": coordinated imperatives (instructions, proverbs)
    if re.search(r"[:;]", text):
        return []  # recipes and step lists
    return [Hit(verb.start, det.end, "bare_verb_start",
                f"prose sentence opens with the bare verb {quote(verb.text)}: a fragment without a subject")]


def bare_verb_fragment(sentences: Sequence[Sentence], cfg: ArtefactSettings) -> list[tuple[int, Hit]]:
    """``bare_verb_start`` on sentences that continue a paragraph (article-level rule).

    An MT fragment lost its subject to the sentence before it, in the same paragraph
    (``... to send aid to Ukraine. Discuss the military attitude ...``); a verb-first line
    standing alone is far more often a caption, an advert or an instruction ("Celebrate the
    holidays with a free gift."). ``cfg.bare_verb_anywhere`` drops the position condition.
    """
    hits = []
    for k, sentence in enumerate(sentences):
        continues = k > 0 and sentences[k - 1].paragraph_id == sentence.paragraph_id
        if continues or cfg.bare_verb_anywhere:
            hits.extend((k, h) for h in bare_verb_start(sentence.text, cfg))
    return hits


_RELATION_PREPS = frozenset("to for with against toward towards".split())
_CLAUSE_BREAKS = frozenset(
    "and or but than as that which who whom whose when where while if because whether".split()
)


def _cap_runs(text: str, toks: list[Token]) -> list[tuple[int, int]]:
    """Index ranges [i, j) of runs of adjacent capitalised tokens."""
    runs, i = [], 0
    while i < len(toks):
        if not toks[i].is_cap:
            i += 1
            continue
        j = i + 1
        while j < len(toks) and toks[j].is_cap and adjacent(text, toks[j - 1], toks[j]):
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _run_key(toks: list[Token], i: int, j: int) -> str:
    words = [t.text for t in toks[i:j]]
    if words and words[0] == "The":
        words = words[1:]
    return " ".join(words)


def _modifies(text: str, name: Token, nxt: Token) -> bool:
    """Is ``name`` a modifier of the following lowercase word (``Russian legal code``)?"""
    return (adjacent(text, name, nxt) and nxt.is_lower and nxt.text not in FUNCTION_WORDS
            and not nxt.text.endswith("ly"))


def self_relation(text: str, cfg: ArtefactSettings) -> list[Hit]:
    """``Ukraine can provide to Ukraine``: one name as the subject and the recipient of a relation."""
    toks = tokens(text)
    runs = _cap_runs(text, toks)
    hits = []
    for (i1, j1), (i2, j2) in zip(runs, runs[1:]):
        key = _run_key(toks, i1, j1)
        if not key or key != _run_key(toks, i2, j2):
            continue
        if not (name_like(key.split()[0]) or key.isupper()):
            continue  # a name ("Ukraine", "United States") or an acronym ("NATO")
        between = toks[j1:i2]
        if i2 > 0 and toks[i2 - 1].text == "the":
            between = between[:-1]
        if not between or len(between) > cfg.self_relation_window + 1:
            continue
        if between[-1].text not in _RELATION_PREPS or len(between) < 2:
            continue  # "Ukraine to Ukraine" alone is a route or a match, not a relation
        if not all(t.is_lower and t.text not in _CLAUSE_BREAKS for t in between):
            continue  # "Norway announced that people returning to Norway ...": another clause
        if not all(adjacent(text, a, b) for a, b in zip(toks[j1 - 1:i2], toks[j1:i2 + 1])):
            continue  # punctuation between the two mentions: separate clauses
        if i1 > 0 and toks[i1 - 1].text.lower() in ("from", "between"):
            continue
        after = text[toks[j2 - 1].end:toks[j2 - 1].end + 2]
        if after.startswith(("'s", "’s", "'", "’")):
            continue  # "Ukraine sent aid to Ukraine's east": a possessive, not the recipient
        if j2 < len(toks) and _modifies(text, toks[j2 - 1], toks[j2]):
            continue  # "Russian lawmakers ... to the Russian legal code": a modifier, not the object
        hits.append(Hit(toks[i1].start, toks[j2 - 1].end, "self_relation",
                        f"{quote(key)} is both the subject and the object of {quote(between[-1].text)}"))
    return hits


def _plural_noun(word: Token) -> bool:
    w = word.text
    if not word.is_lower or not w.endswith("s") or w.endswith("ss") or w in FUNCTION_WORDS:
        return False
    stem = w[:-2] if w.endswith("es") and not is_base_verb(w[:-1]) else w[:-1]
    return not is_base_verb(stem)  # "weapons", not "provides"


def _object_follows(toks: list[Token], j: int) -> bool:
    """Does an object open at ``toks[j]``: a determiner, a plural noun, or a modifier + plural noun
    ("Supply the ...", "Supply weapons", "Supply heavy weapons"; not "Fund provides", "Command deployment")?"""
    first = toks[j]
    if first.text in DETERMINERS or _plural_noun(first):
        return True
    if not first.is_lower or first.text in FUNCTION_WORDS or first.text.endswith(("ly", "ed", "s")):
        return False
    return j + 1 < len(toks) and _plural_noun(toks[j + 1])


_IF_ANY = re.compile(r"\b(?:to|of|for|with|on|in|from|by|about) \((?:if any|if applicable|if so|if necessary)\)")


def verb_after_name(text: str, cfg: ArtefactSettings) -> list[Hit]:
    """``word_order_rule``: ``... Secretary-General Jason Stoltenberg Supply heavy weapons``."""
    hits = []
    toks = tokens(text)
    runs = [] if title_case(toks) else _cap_runs(text, toks)  # a headline capitalises its verbs
    for i, j in runs:
        # "... Secretary-General Jason Stoltenberg Supply heavy weapons": a full name, then a
        # capitalised base verb and its object, inside the sentence.
        if j - i < 3 or j >= len(toks) or i == 0:
            continue
        verb = toks[j - 1]
        first, last = toks[j - 3], toks[j - 2]
        if not (name_like(first.text) and name_like(last.text) and verb.text.istitle()):
            continue
        if first.text.endswith(("'s", "’s")) or toks[i - 1].text in DETERMINERS:
            continue  # "the Israeli Air Force flew", "Herseni's Iron Guard": an organisation's name
        if is_base_verb(first.text, cfg.verb_min_zipf) or zipf(last.text) >= cfg.surname_max_zipf:
            continue  # "Dance Club Play charts": common words in a title, not a person's name
        if verb.text.lower() in NOT_FRAGMENT_VERBS or verb.text in CLAUSE_STARTERS:
            continue
        if not is_base_verb(verb.text, cfg.verb_min_zipf) or not _object_follows(toks, j):
            continue
        if not adjacent(text, verb, toks[j]):
            continue
        hits.append(Hit(first.start, verb.end, "word_order_rule",
                        f"capitalised verb {quote(verb.text)} glued after the name {quote(first.text + ' ' + last.text)}"))
    return hits


def parenthetical_after_preposition(text: str, cfg: ArtefactSettings) -> list[Hit]:
    """``word_order_rule``: ``Announcements related to (if any) ...``: the aside moved inside the phrase."""
    return [Hit(m.start(), m.end(), "word_order_rule",
                f"parenthetical placed between a preposition and its object: {quote(m.group())}")
            for m in _IF_ANY.finditer(text)]
