"""Split an article into paragraphs and sentences, keeping exact character offsets.

Paragraphs are the non-empty lines of the text (blank lines and single newlines both
separate paragraphs: scraped articles use either). Sentences come from pysbd's rule-based
English segmenter run on one paragraph at a time; each sentence pysbd returns is located
in the paragraph by a forward search, so ``sentence.text == article.text[start:end]``
holds by construction, whatever pysbd normalises internally.

**Bounded work.** pysbd's cost per character grows with the length of the text it is given
(measured on two busy CPU cores: ~10-20 µs/char up to 5,000 characters, ~40 µs/char at
20,000, ~100-175 µs/char at 50,000-100,000; a 200,000-character line without punctuation took
67 s, so a 1 MB line would take tens of minutes). So pysbd never sees more than ``MAX_CHARS``
characters at once (a 1 MB line now takes 15-20 s): a longer paragraph is segmented in windows. Each
window ends at whitespace; the sentences pysbd finds in it are kept except the last, which
may run past the window and is segmented again at the start of the next window. Only when
one "sentence" fills more than half a window (no sentence end in ``MAX_CHARS / 2``
characters: a run-on or unpunctuated text) is it cut at the window's end; the pieces on
both sides of such a cut get ``Sentence.cut`` (and the ``truncated`` flag downstream).
Paragraphs up to ``MAX_CHARS`` characters are segmented exactly as before.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib.metadata import version
from typing import Iterator, Literal

from mtqa.types import Article, Sentence

Unit = Literal["article", "segment"]

_LINE = re.compile(r"[^\n]+")

#: the longest text pysbd is given at once (see the module docstring)
MAX_CHARS = 5000


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def segmenter_signature() -> str:
    return f"pysbd-{version('pysbd')}(max_chars={MAX_CHARS})"


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentence_spans(paragraph: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each sentence inside ``paragraph``."""
    cursor = 0
    for piece in _segmenter().segment(paragraph):
        piece = piece.strip()
        if not piece:
            continue
        at = paragraph.find(piece, cursor)
        if at < 0:  # pysbd changed the text: fall back to the rest of the paragraph
            start, end = _strip_span(paragraph, cursor, len(paragraph))
            if start < end:
                yield start, end
            return
        yield at, at + len(piece)
        cursor = at + len(piece)
    start, end = _strip_span(paragraph, cursor, len(paragraph))
    if start < end:  # text pysbd dropped at the end (e.g. trailing symbols) stays scored
        yield start, end


def _window_end(paragraph: str, start: int, limit: int) -> int:
    """End of the window from ``start``: the last whitespace in its second half, else ``start + limit``."""
    hard = start + limit
    for i in range(hard, start + limit // 2, -1):
        if paragraph[i].isspace():
            return i
    while hard > start + 1 and unicodedata.combining(paragraph[hard]):
        hard -= 1  # do not separate a letter from its accent
    return hard


def paragraph_spans(paragraph: str, limit: int | None = None) -> Iterator[tuple[int, int, bool]]:
    """Yield (start, end, cut) of each sentence in ``paragraph``, pysbd never seeing more than ``limit`` chars."""
    limit = limit or MAX_CHARS
    n = len(paragraph)
    if n <= limit:
        for s, e in _sentence_spans(paragraph):
            yield s, e, False
        return
    pos, cut_before = 0, False
    while pos < n:
        while pos < n and paragraph[pos].isspace():
            pos += 1
        if pos >= n:
            return
        last_window = n - pos <= limit
        end = n if last_window else _window_end(paragraph, pos, limit)
        spans = list(_sentence_spans(paragraph[pos:end]))
        if not spans:  # cannot happen (the window starts with a non-space); never loop
            pos = end
            continue
        if last_window:
            keep, next_pos, cut_after = spans, n, False
        elif len(spans) >= 2 and spans[-1][0] >= limit // 2:
            # the last sentence may run past the window: segment it again in the next one
            keep, next_pos, cut_after = spans[:-1], pos + spans[-1][0], False
        else:
            # one "sentence" longer than half a window: cut it where the window ends
            keep, next_pos, cut_after = spans, end, True
        for j, (s, e) in enumerate(keep):
            yield pos + s, pos + e, (cut_before and j == 0) or (cut_after and j == len(keep) - 1)
        pos, cut_before = next_pos, cut_after


def has_text(text: str) -> bool:
    """Does :func:`segment` find anything to score in ``text`` (either unit)?

    It does exactly when the text is not all whitespace: every line left non-empty by
    stripping is a paragraph, and a paragraph always yields a sentence (:func:`_sentence_spans`
    keeps whatever pysbd drops or changes). A job that segments elsewhere (worker processes,
    :mod:`mtqa.engines.processes`) reports the texts it will skip with this, without pysbd.
    """
    return not text.isspace() and bool(text)


def segment(article: Article, unit: Unit = "article") -> list[Sentence]:
    """Return the article's sentences (``unit='segment'``: the whole text as one unit)."""
    text = article.text
    if unit == "segment":
        start, end = _strip_span(text, 0, len(text))
        if start == end:
            return []
        return [Sentence(article.article_id, 0, 0, start, end, text[start:end])]
    sentences: list[Sentence] = []
    paragraph_id = 0
    for line in _LINE.finditer(text):
        p_start, p_end = _strip_span(text, line.start(), line.end())
        if p_start == p_end:
            continue
        paragraph = text[p_start:p_end]
        for s, e, cut in paragraph_spans(paragraph):
            start, end = p_start + s, p_start + e
            sentences.append(
                Sentence(article.article_id, len(sentences), paragraph_id, start, end, text[start:end], cut)
            )
        paragraph_id += 1
    return sentences
