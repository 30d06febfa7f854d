"""Article-level artefacts: one surname with two first names, repeated sentences/titles.

Both detectors see all sentences of one article and return ``(sentence_index, Hit)`` pairs
with offsets local to that sentence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Sequence

from mtqa.signals.artefacts._text import ArtefactSettings, Hit, adjacent, name_like, quote, tokens
from mtqa.types import Sentence

# Capitalised words that precede a name or a noun without being a first name: titles,
# offices, geography, institutions.
NOT_FIRST_NAMES = frozenset(
    """Mr Mrs Ms Miss Dr Prof Professor Sir Dame Lord Lady King Queen Prince Princess Duke Pope
    Saint St Rev Father Brother Sister Mother Uncle Aunt President Vice Prime Minister Secretary
    Secretary-General Chancellor Senator Sen Rep Representative Governor Gov Mayor Judge Justice
    General Gen Colonel Col Major Captain Capt Lieutenant Lt Sergeant Admiral Commander Chief
    Ambassador Envoy Deputy Spokesman Spokeswoman Spokesperson Chairman Chairwoman Chair Director
    Head Leader Speaker Officer Agent Coach Sheikh Emir Ayatollah Imam Rabbi Bishop
    Archbishop Cardinal Patriarch Defense Defence Foreign Finance Interior Health Trade
    North South East West Northern Southern Eastern Western Central Upper Lower Greater Little
    Great New Old Mount Mt Lake Fort Port Cape San Santa Los Las El La Le Les De Del Da Di Van Von
    Der Den Al Ben Bin Abu Ibn""".split()
)


def _first_last(sentence: Sentence):
    """Yield (first, last, start, end) for adjacent capitalised "First Last" pairs."""
    text = sentence.text
    toks = tokens(text)
    for i, (a, b) in enumerate(zip(toks, toks[1:])):
        if not (adjacent(text, a, b) and name_like(a.text) and name_like(b.text)):
            continue
        if a.text in NOT_FIRST_NAMES or "-" in a.text or a.text.endswith(("'s", "’s")):
            continue
        if i == 0 and a.start == 0 and a.text in ("The", "A", "An", "In", "On", "At", "For", "By"):
            continue
        yield a.text, b.text.removesuffix("'s").removesuffix("’s"), a.start, b.end


_SUBJECT_VERBS = frozenset("said says told added noted stressed will would has had is was".split())


def _standalone_words(sentences: Sequence[Sentence]) -> set[str]:
    """Capitalised words used alone (no capitalised neighbour) mid-sentence, or opening a
    sentence before a reporting verb: ``..., Stoltenberg said``, ``Stoltenberg will hold ...``."""
    words = set()
    for sentence in sentences:
        text = sentence.text
        toks = tokens(text)
        for i, t in enumerate(toks):
            if not name_like(t.text):
                continue
            after = toks[i + 1] if i + 1 < len(toks) else None
            if i == 0:
                # sentence-initial: a capital proves nothing unless a reporting verb follows
                if t.start > 0 or after is None or after.text not in _SUBJECT_VERBS:
                    continue
            elif toks[i - 1].is_cap and adjacent(text, toks[i - 1], t):
                continue
            if after is not None and after.is_cap and adjacent(text, t, after):
                continue
            words.add(t.text.removesuffix("'s").removesuffix("’s"))
    return words


def name_mismatch(sentences: Sequence[Sentence], cfg: ArtefactSettings) -> list[tuple[int, Hit]]:
    """``Jason Stoltenberg`` and ``Jens Stoltenberg`` in one article.

    Only first names that share their initial and are not a shortening of one another
    (``Jen``/``Jennifer``) count: relatives sharing a surname usually differ in the initial,
    while MT slips (``Jason``/``Jens``, ``Vladimir``/``Volodymyr``) keep it. And the surname
    must also stand alone somewhere in the article (``Stoltenberg said``), as news prose does
    with people; "Satellite Radio"/"Street Radio" never do.
    """
    seen: dict[str, dict[str, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    for k, sentence in enumerate(sentences):
        for first, last, start, end in _first_last(sentence):
            seen[last][first].append((k, start, end))
    alone = _standalone_words(sentences)
    hits = []
    for last, firsts in seen.items():
        if last not in alone:
            continue  # "Satellite Radio"/"Street Radio": a person is also named by surname alone
        clashing = set()
        names = sorted(firsts)
        for x in names:
            for y in names:
                if x < y and x[0] == y[0] and not (x.startswith(y) or y.startswith(x)):
                    clashing |= {x, y}
        for first in sorted(clashing):
            others = ", ".join(f'"{o} {last}"' for o in sorted(clashing - {first}))
            for k, start, end in firsts[first]:
                hits.append((k, Hit(start, end, "name_mismatch",
                                    f"{quote(first + ' ' + last)} also appears as {others} in this article")))
    return hits


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def repeated_sentence(sentences: Sequence[Sentence], cfg: ArtefactSettings) -> list[tuple[int, Hit]]:
    """A later sentence equal to an earlier one (or to the title), or ending with the title."""
    hits = []
    first_seen: dict[str, int] = {}
    title = sentences[0] if sentences else None
    title_norm = _normal(title.text) if title else ""
    title_tail = None
    if title and len(title_norm.split()) >= max(cfg.repeat_min_words, 5):
        words = re.findall(r"\w+", title.text)
        title_tail = re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"\W*$", re.IGNORECASE)
    for k, sentence in enumerate(sentences):
        norm = _normal(sentence.text)
        if len(norm.split()) < cfg.repeat_min_words:
            continue
        if norm in first_seen:
            j = first_seen[norm]
            what = "the title" if j == 0 else f"sentence {j + 1}"
            hits.append((k, Hit(0, len(sentence.text), "repeated_sentence",
                                f"repeats {what} of the article: {quote(sentence.text)}")))
            continue
        first_seen[norm] = k
        if k > 0 and title_tail is not None:
            m = title_tail.search(sentence.text)
            if m and m.start() > 0:
                hits.append((k, Hit(m.start(), m.end(), "repeated_sentence",
                                    f"the title is glued to the end of this sentence: {quote(m.group())}")))
    return hits
