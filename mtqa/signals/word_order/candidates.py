"""Candidate reorderings of a sentence, without a model: what the word-order search may try.

The sentence is cut into units (:func:`split_units`: words, and punctuation marks on their
own). Only words move, and only inside a *run* (words with nothing but spaces between them):
punctuation is never moved or crossed, so "improvements" that shift a comma cannot happen. A
candidate swaps two adjacent blocks ``X Y -> Y X`` of a run (:func:`enumerate_moves`): both up
to ``max_block`` (3) words (adjacent-word swaps, 1-3-word phrases moved by 1-3 words), or one
up to ``max_block`` and the other up to ``max_move`` (7) words (a verb group brought back from
the end of its clause).

Guards against trivial or unjudgeable "improvements" (:func:`allowed_moves`, the one filter
both the search and :func:`enumerate_swaps` use): when the sentence's first word moves away it
is lowercased if it is a closed-class word ("The", "In", "It"; otherwise the candidate is
dropped, a name keeps its capital) and the new first word is capitalised; no auxiliary is
moved to the front of a statement ("Was the company founded ..."); blocks made only of
capitalised words are not reordered among themselves when one of them is a rare word (the
order of a name's parts, "Jason Stoltenberg", is not the model's to judge; "Court Supreme" is).

No model (``wordfreq`` for the rare-word test, numpy for the move table): :mod:`mtqa.perturb`
builds its synthetic word-order errors from the same units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np

# A word: letters/digits with inner apostrophes, hyphens or dots ("Ukraine’s", "Secretary-General",
# "3.5", "U.S"); everything else that is not a space is a punctuation unit of one character.
_UNIT = re.compile(r"[^\W_]+(?:['’\-.][^\W_]+)*|[^\w\s]|_")


@dataclass(frozen=True)
class Unit:
    text: str
    start: int
    end: int
    is_word: bool


def split_units(text: str) -> list[Unit]:
    """Words and punctuation marks of ``text`` with their character offsets."""
    return [Unit(m.group(), m.start(), m.end(), m.group()[0].isalnum()) for m in _UNIT.finditer(text)]


def word_runs(units: list[Unit]) -> list[list[int]]:
    """Runs of word units separated by whitespace only (unit indices); punctuation ends a run."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, u in enumerate(units):
        if u.is_word and current and units[current[-1]].end < u.start:
            current.append(i)
            continue
        if current:
            runs.append(current)
        current = [i] if u.is_word else []
    if current:
        runs.append(current)
    return runs


def render(text: str, units: list[Unit], order: dict[int, int], recase: dict[int, str] | None = None) -> tuple[str, int, int]:
    """``text`` with the unit at position ``p`` replaced by unit ``order[p]`` (and ``recase`` texts).

    The characters between units stay where they are. Returns the new text and the changed
    character range in it (``0, 0`` when nothing changed).
    """
    recase = recase or {}
    parts: list[str] = []
    cursor = length = 0
    start = end = None
    for p, u in enumerate(units):
        gap = text[cursor:u.start]
        src = order.get(p, p)
        word = recase.get(src, units[src].text)
        parts += [gap, word]
        length += len(gap)
        if word != u.text:
            start = length if start is None else start
            end = length + len(word)
        length += len(word)
        cursor = u.end
    parts.append(text[cursor:])
    return "".join(parts), start or 0, end or 0


# Closed-class words that may lose their sentence-initial capital when moved ("The" -> "the").
_LOWERABLE = frozenset(
    """a an the this that these those his her its their our my your some any each every all both
    no in on at by for with from to of as after before during since until while when if because
    although though it he she they we you there here what which who how why also however then
    thus so and but or yet not only even still already now today yesterday""".split()
)
_AUXILIARIES = frozenset(
    """is are was were am be been has have had do does did will would shall should can could may
    might must""".split()
)


@dataclass
class Candidate:
    """One reordering: the blocks X (run positions a..b-1) and Y (b..c-1) of a word run swapped."""

    text: str  # the reordered sentence
    start: int  # changed character range in the ORIGINAL sentence
    end: int
    new_start: int  # changed character range in the candidate
    new_end: int
    bounds: tuple[int, int, int]  # units entered by the changed transitions: X0, Y0, S0 (-1: end of text)
    moved_first: str  # X's first word as it reads in the candidate (after Y)
    prior: float = float("-inf")  # stage-1 estimate of the gain (nats)
    gain: float = float("nan")  # stage 2: log p(candidate window) - log p(original window) (nats)
    window: int = 0  # tokens scored in stage 2
    moved_words: int = 2  # words in X and Y together
    score: float = float("nan")  # gain / sqrt(moved_words / 2): see WordOrderSignal.normalise
    bound: float = float("inf")  # stage 2 (best only): an upper bound of score (ReorderSearch._best_only_logprobs)
    ids: list[int] = field(default_factory=list, repr=False)  # its LM tokens
    detail: tuple = field(default=(), repr=False)  # stage 2: (first changed token, original window end, window log-probs)


class Move(NamedTuple):
    """Swap of blocks ``run[a:b]`` (X) and ``run[b:c]`` (Y) of one word run: ``X Y -> Y X``.

    A named tuple, not a frozen dataclass: the search builds ~300 of them per sentence, and a
    frozen dataclass's ``__init__`` cost a fifth of its stage 1.
    """

    run: tuple[int, ...]
    a: int
    b: int
    c: int
    after: int = -1  # the unit after the run (-1: end of text)

    @property
    def bounds(self) -> tuple[int, int, int]:
        """Units whose incoming transition changes: X0, Y0 and the unit after Y (-1: none)."""
        return self.run[self.a], self.run[self.b], (self.run[self.c] if self.c < len(self.run) else self.after)


@lru_cache(maxsize=512)
def _swap_template(n: int, max_block: int, max_move: int) -> np.ndarray:
    """[moves, 3] run positions ``(a, b, c)`` of every block swap in a run of ``n`` words, in order."""
    out = []
    for a in range(n - 1):
        for b in range(a + 1, min(a + max_move, n - 1) + 1):
            y_max = max_block if b - a > max_block else max_move
            out += [(a, b, c) for c in range(b + 1, min(b + y_max, n) + 1)]
    table = np.array(out, dtype=np.int64).reshape(-1, 3)
    table.setflags(write=False)
    return table


def enumerate_moves(units: list[Unit], max_block: int = 3, max_move: int = 7) -> list[Move]:
    """All block swaps: both blocks up to ``max_block`` words, or one up to ``max_block`` and the
    other up to ``max_move`` (a short phrase moved far: a verb group back from the clause end)."""
    moves = []
    for run in word_runs(units):
        after = run[-1] + 1 if run[-1] + 1 < len(units) else -1
        r = tuple(run)
        moves += [Move(r, a, b, c, after) for a, b, c in _swap_template(len(run), max_block, max_move).tolist()]
    return moves


def _start_recase(units: list[Unit], m: Move, first_word: int, question: bool) -> dict[int, str] | None:
    """Capitalisation for a move that takes the sentence's first word away (None: drop the move)."""
    if m.a != 0 or m.run[0] != first_word:
        return {}
    old, new = units[m.run[m.a]].text, units[m.run[m.b]].text
    if new.lower() in _AUXILIARIES and not question:
        return None  # "Was the company founded ...": a question, not a better order
    recase: dict[int, str] = {}
    if old[:1].isupper() and (old[1:].islower() or len(old) == 1):
        if old != "I":
            if old.lower() not in _LOWERABLE:
                return None  # a name or a noun: its capital cannot be judged
            recase[m.run[m.a]] = old.lower()
        if new[:1].islower():
            recase[m.run[m.b]] = new[:1].upper() + new[1:]
    return recase


def _name_parts(units: list[Unit], m: Move, first_word: int) -> bool:
    """Would the move only reorder the parts of a name ("Jason Stoltenberg" -> "Stoltenberg Jason")?

    That is: every moved word is capitalised and one is a rare word (Zipf frequency under 3,
    "Stoltenberg", "Ribéry"). The order of a rare name's parts is not the model's to judge
    (and MT keeps a source's name order on purpose); capitalised common words are
    ("Court Supreme" -> "Supreme Court"). The sentence's first word does not count.
    """
    moved = [units[i].text for i in m.run[m.a:m.c] if i != first_word]
    return bool(moved) and all(w[:1].isupper() for w in moved) and any(_zipf(w) < 3.0 for w in moved)


@lru_cache(maxsize=50_000)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def apply_move(text: str, units: list[Unit], m: Move, recase: dict[int, str]) -> Candidate:
    run = list(m.run)
    order_idx = run[:m.a] + run[m.b:m.c] + run[m.a:m.b] + run[m.c:]
    new_text, new_start, new_end = render(text, units, {run[p]: order_idx[p] for p in range(len(run))}, recase)
    moved_first = recase.get(run[m.a], units[run[m.a]].text)
    return Candidate(new_text, units[run[m.a]].start, units[run[m.c - 1]].end, new_start, new_end, m.bounds, moved_first,
                     moved_words=m.c - m.a)


@dataclass
class MoveTable:
    """The moves the search considers for one sentence, as arrays (:func:`allowed_move_table`).

    Row ``i`` is the move ``runs[run_of[i]]``, run positions ``abc[i]``; ``bounds[i]`` are the
    units its changed transitions enter (:attr:`Move.bounds`: X0, Y0, the unit after; -1 for
    the end of the text); ``recase[i]`` is the recasing it needs, for the few moves that take
    the sentence's first word away (empty for the others). Stage 1 of the search ranks all rows
    with array arithmetic and builds :class:`Move` objects only for the few it renders.
    """

    runs: list[tuple[int, ...]]
    afters: list[int]
    run_of: np.ndarray
    abc: np.ndarray
    bounds: np.ndarray
    recase: dict[int, dict[int, str]]

    def __len__(self) -> int:
        return len(self.run_of)

    def move(self, i: int) -> Move:
        r = int(self.run_of[i])
        a, b, c = (int(x) for x in self.abc[i])
        return Move(self.runs[r], a, b, c, self.afters[r])


def allowed_move_table(text: str, units: list[Unit], max_block: int = 3, max_move: int = 7) -> MoveTable:
    """Every block swap of :func:`enumerate_moves` that the guards let through, with the
    recasing it needs (none for a text of fewer than 3 words): the one filter both the search and
    :func:`enumerate_swaps` use (through :func:`allowed_moves`), so what the tests enumerate is
    what production searches. The guards run as array tests; :func:`_start_recase` and
    :func:`_name_parts` are asked only about the few moves they can concern.
    """
    words = [i for i, u in enumerate(units) if u.is_word]
    runs: list[tuple[int, ...]] = []
    afters: list[int] = []
    run_of, abc, bounds = [], [], []
    recase: dict[int, dict[int, str]] = {}
    if len(words) >= 3:
        question = text.rstrip("\"'”’) ").endswith("?")
        first = words[0]
        capital = np.array([u.text[:1].isupper() for u in units] + [False])
        count = 0
        for run in word_runs(units):
            t = _swap_template(len(run), max_block, max_move)
            if not len(t):
                continue
            r = tuple(run)
            after = run[-1] + 1 if run[-1] + 1 < len(units) else -1
            pos = np.array(run)
            keep = np.ones(len(t), dtype=bool)
            # _name_parts can only hold where every moved word (the first word aside) is capitalised
            odd = np.concatenate([[0], np.cumsum(~(capital[pos] | (pos == first)))])
            for i in np.flatnonzero(odd[t[:, 2]] - odd[t[:, 0]] == 0).tolist():
                keep[i] = not _name_parts(units, Move(r, *t[i].tolist(), after), first)
            moved_first = {}
            if run[0] == first:  # moves that take the first word away: recase or drop
                for i in np.flatnonzero(t[:, 0] == 0).tolist():
                    rc = _start_recase(units, Move(r, *t[i].tolist(), after), first, question)
                    if rc is None:
                        keep[i] = False
                    elif rc:
                        moved_first[i] = rc
            kept = np.flatnonzero(keep)
            index = {int(i): j for j, i in enumerate(kept.tolist())}
            recase.update({count + index[i]: rc for i, rc in moved_first.items() if i in index})
            count += len(kept)
            t = t[kept]
            c_unit = np.where(t[:, 2] < len(run), pos[np.minimum(t[:, 2], len(run) - 1)], after)
            runs.append(r)
            afters.append(after)
            run_of.append(np.full(len(t), len(runs) - 1))
            abc.append(t)
            bounds.append(np.stack([pos[t[:, 0]], pos[t[:, 1]], c_unit], axis=1))
    empty = np.zeros((0, 3), dtype=np.int64)
    return MoveTable(runs, afters, np.concatenate(run_of) if run_of else np.zeros(0, dtype=np.int64),
                     np.concatenate(abc) if abc else empty, np.concatenate(bounds) if bounds else empty, recase)


def allowed_moves(text: str, units: list[Unit], max_block: int = 3, max_move: int = 7) -> list[tuple[Move, dict[int, str]]]:
    """The moves the search considers, each with the recasing it needs (:func:`allowed_move_table`
    as objects)."""
    table = allowed_move_table(text, units, max_block, max_move)
    return [(table.move(i), table.recase.get(i, {})) for i in range(len(table))]


def enumerate_swaps(text: str, max_block: int = 3, max_move: int = 7) -> tuple[list[Unit], list[Candidate]]:
    """Every reordering of ``text`` the search considers, rendered, without duplicates."""
    units = split_units(text)
    out, seen = [], {text}
    for m, recase in allowed_moves(text, units, max_block, max_move):
        c = apply_move(text, units, m, recase)
        if c.text not in seen:
            seen.add(c.text)
            out.append(c)
    return units, out
