"""Split an article into paragraphs and sentences, keeping exact character offsets.

Paragraphs are the non-empty lines of the text (blank lines and single newlines both
separate paragraphs: scraped articles use either). Sentences come from pysbd's rule-based
English segmenter run on one paragraph at a time; each sentence pysbd returns is located
in the paragraph by a forward search, so ``sentence.text == article.text[start:end]``
holds by construction, whatever pysbd normalises internally.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import version
from typing import Iterator, Literal

from mtqa.types import Article, Sentence

Unit = Literal["article", "segment"]

_LINE = re.compile(r"[^\n]+")


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def segmenter_signature() -> str:
    return f"pysbd-{version('pysbd')}"


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
        for s, e in _sentence_spans(paragraph):
            start, end = p_start + s, p_start + e
            sentences.append(
                Sentence(article.article_id, len(sentences), paragraph_id, start, end, text[start:end])
            )
        paragraph_id += 1
    return sentences
