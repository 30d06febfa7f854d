"""Seeded perturbations of fluent English sentences: synthetic MT word-order and spacing artefacts.

Used by ``benchmarks/word_order.py`` (clean vs perturbed AUROC of the detectors) and by the
tests. Every perturbation takes one sentence and returns a :class:`Perturbation` (the new
text, the changed character range in it, a one-line note) or ``None`` when the sentence
offers no place for it (too short, no verb found, ...).

Words are the units of :func:`mtqa.signals.word_order.split_units` (letters/digits with inner
apostrophes, hyphens and dots; punctuation marks are separate units). Word moves stay inside
one *run* (consecutive words with only spaces between them: punctuation is never moved and
never crossed) and never touch the first word of the sentence (so capitalisation stays right).

Kinds (``KINDS``):

* ``adjacent_swap``: two neighbouring words swap places ("supply heavy weapons" -> "heavy supply weapons");
* ``phrase_move``: a phrase of 1-3 words moves 2-4 words left or right;
* ``verb_final``: a verb group (an auxiliary and the word after it, "was founded", or a lone
  "-ed" verb) moves to the end of its run, as in a German/Japanese/Korean/Turkish verb-final
  clause ("The company was founded in 1990 by John." -> "The company in 1990 by John was founded.");
* ``shuffle``: a random order (different from the original) of a window of 4-6 consecutive words;
* ``fused_sentence``: the sentence loses its final stop and another sentence follows it
  directly, capital kept ("... in Eastern Europe It will be announced ...");
* ``spacing``: one space inserted before punctuation ("word ,"), after an opening bracket or
  currency sign ("( word", "$ 40") or inside a digit group ("1, 000").

Determinism: :func:`perturb_corpus` seeds one ``random.Random(f"{seed}:{kind}:{index}")`` per
sentence and kind (string seeds are hashed with SHA-512 by ``random``, independent of
``PYTHONHASHSEED``), so a sentence's perturbation does not depend on the others or their order.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from mtqa.signals.word_order import Unit, render, split_units, word_runs

KINDS = ("adjacent_swap", "phrase_move", "verb_final", "shuffle", "fused_sentence", "spacing")

_AUX = frozenset(
    """is are was were has have had will would can could should may might must did does do
    shall""".split()
)
_BETWEEN = frozenset("not also been be then still never already being".split())
_NOT_MAIN = frozenset(
    """a an the this that these those his her its their our my your some any no and or but of to in
    on at by for with from as it he she they we i you there here which who what when where very so
    more most less than""".split()
)
_NOT_BEFORE_ED = frozenset(
    """a an the this that these those his her its their our my your some any no of to in on at by
    for with from as is are was were be been being has have had""".split()
)


@dataclass(frozen=True)
class Perturbation:
    """A perturbed sentence. ``text[start:end]`` is the changed region (in the new text)."""

    kind: str
    original: str
    text: str
    start: int
    end: int
    note: str


def _movable(units: list[Unit]) -> list[list[int]]:
    """Word runs (unit indices), without the sentence's first word."""
    first_word = next((i for i, u in enumerate(units) if u.is_word), None)
    runs = []
    for run in word_runs(units):
        run = [i for i in run if i != first_word]
        if run:
            runs.append(run)
    return runs


def _reorder(text: str, units: list[Unit], run: list[int], order: list[int], kind: str, note: str) -> Perturbation | None:
    """Put the words of ``run`` (unit indices, in text order) in ``order`` (a permutation of them)."""
    new_text, start, end = render(text, units, dict(zip(run, order)))
    if new_text == text:
        return None
    return Perturbation(kind, text, new_text, start, end, note)


def adjacent_swap(text: str, rng: random.Random) -> Perturbation | None:
    units = split_units(text)
    sites = [(run, k) for run in _movable(units) for k in range(len(run) - 1)
             if units[run[k]].text.lower() != units[run[k + 1]].text.lower()]
    if not sites:
        return None
    run, k = rng.choice(sites)
    order = list(run)
    order[k], order[k + 1] = order[k + 1], order[k]
    a, b = units[run[k]].text, units[run[k + 1]].text
    return _reorder(text, units, run, order, "adjacent_swap", f'swapped "{a} {b}"')


def phrase_move(text: str, rng: random.Random) -> Perturbation | None:
    units = split_units(text)
    sites = []
    for run in _movable(units):
        for size in (1, 2, 3):
            for k in range(len(run) - size + 1):
                for d in (2, 3, 4):
                    if k + size + d <= len(run):
                        sites.append((run, k, size, d))  # move right by d
                    if k - d >= 0:
                        sites.append((run, k, size, -d))  # move left by d
    rng.shuffle(sites)
    for run, k, size, d in sites:
        order = list(run)
        phrase = order[k:k + size]
        del order[k:k + size]
        at = k + d
        order[at:at] = phrase
        words = " ".join(units[i].text for i in phrase)
        p = _reorder(text, units, run, order, "phrase_move", f'moved "{words}" {abs(d)} words {"right" if d > 0 else "left"}')
        if p is not None:
            return p
    return None


def _verb_groups(units: list[Unit], run: list[int]) -> list[tuple[int, int]]:
    """(k, size): verb groups inside ``run`` (positions k..k+size-1 of the run)."""
    groups = []
    words = [units[i].text for i in run]
    for k, w in enumerate(words):
        lw = w.lower()
        if lw in _AUX:
            j = k + 1
            while j < len(words) and words[j].lower() in _BETWEEN:
                j += 1
            if j < len(words) and words[j].islower() and words[j].isalpha() and words[j] not in _NOT_MAIN:
                groups.append((k, j - k + 1))
        elif (w.islower() and w.isalpha() and len(w) > 4 and w.endswith("ed") and k > 0
              and words[k - 1].lower() not in _NOT_BEFORE_ED):
            groups.append((k, 1))
    return groups


def verb_final(text: str, rng: random.Random) -> Perturbation | None:
    units = split_units(text)
    sites = [(run, k, size) for run in _movable(units) for k, size in _verb_groups(units, run)
             if len(run) - (k + size) >= 2]
    if not sites:
        return None
    run, k, size = rng.choice(sites)
    order = list(run)
    group = order[k:k + size]
    del order[k:k + size]
    order.extend(group)
    words = " ".join(units[i].text for i in group)
    return _reorder(text, units, run, order, "verb_final", f'moved the verb "{words}" to the end of its clause')


def shuffle(text: str, rng: random.Random) -> Perturbation | None:
    units = split_units(text)
    sites = [(run, k, m) for run in _movable(units) for m in (4, 5, 6) for k in range(len(run) - m + 1)]
    rng.shuffle(sites)
    for run, k, m in sites[:20]:
        window = run[k:k + m]
        if len({units[i].text.lower() for i in window}) < 2:
            continue
        for _ in range(10):
            perm = rng.sample(window, len(window))
            if perm != window:
                order = run[:k] + perm + run[k + m:]
                p = _reorder(text, units, run, order, "shuffle", f"shuffled {m} words")
                if p is not None:
                    return p
    return None


_STOP = re.compile(r"[.!?]+[\"'”’)]*\s*$")


def fused_sentence(text: str, partner: str) -> Perturbation | None:
    """``text`` without its final stop, then ``partner`` (which must open with a capital letter)."""
    partner = partner.strip()
    if not partner[:1].isupper() or not text.strip():
        return None
    head = text.rstrip()
    m = _STOP.search(head)
    if m:
        if any(c in "\"'”’)" for c in m.group()):
            return None  # a quotation or bracket closes the sentence: the stop is not the last mark
        head = head[:m.start()]
    if not head or not (head[-1].isalnum() or head[-1] in ")\"'”’"):
        return None
    fused = f"{head} {partner}"
    return Perturbation("fused_sentence", text, fused, len(head) - 1, len(head) + 2,
                        f"no stop before {partner.split()[0]!r}")


_SPACE_BEFORE = re.compile(r"(?<=[^\W_])(?=[,.;:!?)%])")
_SPACE_AFTER = re.compile(r"(?<=[($€£])(?=[^\W_])")
_DIGIT_GROUP = re.compile(r"(?<=\d,)(?=\d{3}\b)")


def spacing(text: str, rng: random.Random) -> Perturbation | None:
    sites = sorted({m.start() for pat in (_SPACE_BEFORE, _SPACE_AFTER, _DIGIT_GROUP) for m in pat.finditer(text)})
    if not sites:
        return None
    at = rng.choice(sites)
    new = text[:at] + " " + text[at:]
    return Perturbation("spacing", text, new, max(0, at - 1), min(len(new), at + 2),
                        f"space inserted at {at}: {new[max(0, at - 6):at + 6]!r}")


_RANDOM_KINDS = {"adjacent_swap": adjacent_swap, "phrase_move": phrase_move, "verb_final": verb_final,
                 "shuffle": shuffle, "spacing": spacing}


def perturb(text: str, kind: str, rng: random.Random, partner: str | None = None) -> Perturbation | None:
    """One perturbation of ``kind`` of ``text`` (``partner``: the sentence a ``fused_sentence`` appends)."""
    if kind == "fused_sentence":
        return fused_sentence(text, partner) if partner else None
    try:
        return _RANDOM_KINDS[kind](text, rng)
    except KeyError:
        raise ValueError(f"unknown perturbation {kind!r} (known: {', '.join(KINDS)})") from None


def perturb_corpus(texts: Sequence[str], kinds: Sequence[str] = KINDS, seed: int = 0) -> dict[str, list[Perturbation | None]]:
    """Perturb every text with every kind; ``result[kind][i]`` is ``None`` where it did not apply.

    A ``fused_sentence`` partner is another text of the corpus, drawn by the same seeded rng.
    """
    out: dict[str, list[Perturbation | None]] = {}
    for kind in kinds:
        rows: list[Perturbation | None] = []
        for i, text in enumerate(texts):
            rng = random.Random(f"{seed}:{kind}:{i}")
            partner = None
            if kind == "fused_sentence" and len(texts) > 1:
                j = rng.randrange(len(texts) - 1)
                partner = texts[j if j < i else j + 1]
            rows.append(perturb(text, kind, rng, partner))
        out[kind] = rows
    return out
