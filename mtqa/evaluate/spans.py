"""Word-level agreement of predicted error spans with gold error spans.

Each segment's text is split into words at whitespace (``\\S+``, with character offsets). A
word is BAD when it overlaps an error span (character ranges ``[start, end)``; a word and a
span overlap when they share at least one character). A zero-length span (an omission
marker, e.g. ``105 105`` in WMT QE 2023 files) marks the word containing its position or,
when the position falls on whitespace or after the text, the word just before it.

Tags of all evaluated segments are pooled and compared with the usual WMT word-level QE
figures: Matthews correlation coefficient (MCC, the primary one), F1 of the BAD class
(precision, recall), F1 of the OK class.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_WORD = re.compile(r"\S+")


def words(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the whitespace-separated words of ``text``."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def bad_words(text: str, spans: Iterable[Sequence[int]], offsets: list[tuple[int, int]] | None = None) -> list[bool]:
    """One flag per word of ``text``: ``True`` (BAD) when the word overlaps any span."""
    offsets = words(text) if offsets is None else offsets
    tags = [False] * len(offsets)
    if not offsets:
        return tags
    starts = [s for s, _ in offsets]
    for span in spans:
        s, e = int(span[0]), int(span[1])
        if e < s:
            s, e = e, s
        if s == e:  # a point: the word containing it, else the word before it
            i = bisect.bisect_right(starts, s) - 1
            if i < 0:
                i = 0
            tags[i] = True
            continue
        # words with start < e and end > s
        i = max(0, bisect.bisect_right(starts, s) - 1)
        while i < len(offsets) and offsets[i][0] < e:
            if offsets[i][1] > s:
                tags[i] = True
            i += 1
    return tags


def tags_to_spans(text: str, tags: Sequence) -> list[tuple[int, int]]:
    """Character spans of the BAD words given one OK/BAD tag per whitespace word.

    Tags may be strings (``OK``/``BAD``, any case), booleans (``True`` = BAD) or 0/1. If
    there are twice as many tags plus one as words (WMT tags with gaps between words), the
    word tags (odd positions) are used.
    """
    offsets = words(text)
    tags = list(tags)
    if len(tags) == 2 * len(offsets) + 1 and len(offsets):
        tags = tags[1::2]
    if len(tags) != len(offsets):
        raise ValueError(f"{len(tags)} tags for {len(offsets)} words")
    out = []
    for (s, e), t in zip(offsets, tags):
        bad = t.strip().upper() == "BAD" if isinstance(t, str) else bool(t)
        if bad:
            out.append((s, e))
    return out


@dataclass
class SpanCounts:
    """Confusion counts over pooled words (BAD is the positive class)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    segments: int = 0

    def add(self, gold: Sequence[bool], pred: Sequence[bool]) -> None:
        if len(gold) != len(pred):
            raise ValueError("gold and predicted tags differ in length")
        for g, p in zip(gold, pred):
            if g and p:
                self.tp += 1
            elif p:
                self.fp += 1
            elif g:
                self.fn += 1
            else:
                self.tn += 1
        self.segments += 1

    def __iadd__(self, other: "SpanCounts") -> "SpanCounts":
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tn += other.tn
        self.segments += other.segments
        return self

    @property
    def words(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def metrics(self) -> dict:
        return span_metrics(self.tp, self.fp, self.fn, self.tn) | {
            "segments": self.segments,
            "words": self.words,
            "gold_bad": self.tp + self.fn,
            "pred_bad": self.tp + self.fp,
        }


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def span_metrics(tp: int, fp: int, fn: int, tn: int) -> dict:
    """MCC, precision/recall/F1 of BAD and F1 of OK from confusion counts.

    MCC is 0 when a row or column of the confusion matrix is empty (the usual convention,
    e.g. scikit-learn's); precision is ``None`` when nothing was predicted BAD, recall is
    ``None`` when nothing is BAD in gold.
    """
    denom = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    mcc = 0.0 if denom == 0 else (tp * tn - fp * fn) / math.sqrt(denom)
    p_bad = tp / (tp + fp) if tp + fp else None
    r_bad = tp / (tp + fn) if tp + fn else None
    p_ok = tn / (tn + fn) if tn + fn else None
    r_ok = tn / (tn + fp) if tn + fp else None
    return {
        "mcc": mcc,
        "f1_bad": _f1(p_bad, r_bad),
        "precision_bad": p_bad,
        "recall_bad": r_bad,
        "f1_ok": _f1(p_ok, r_ok),
        "f1_multi": (_f1(p_bad, r_bad) or 0.0) * (_f1(p_ok, r_ok) or 0.0),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def compare(text: str, gold_spans: Iterable[Sequence[int]], pred_spans: Iterable[Sequence[int]]) -> SpanCounts:
    """Counts for one segment (spans are character offsets into ``text``)."""
    offsets = words(text)
    counts = SpanCounts()
    counts.add(bad_words(text, gold_spans, offsets), bad_words(text, pred_spans, offsets))
    return counts
