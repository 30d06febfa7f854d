"""The article views: each article's text laid out in paragraphs, its sentences placed in it.

Sentences are placed by their offsets (re-found by search where the offsets disagree with the
text), the text between them kept as it is, and every stretch cut at flagged spans
(:func:`mtqa.report.spans.segments`). Element ids are generated from the article's anchor and
the sentence id (``a3-s12``, ``a3-r12`` for a suggestion), never taken from the input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from mtqa.report.format import bar_width
from mtqa.report.load import ArticleRow, SentenceRow
from mtqa.report.spans import Segment, segments

#: ``mt_evidence`` names sentences by ``sentence_id`` ("sentence 3 (p=0.97): ..."; see
#: mtqa.heads.detector.evidence); the article view links each to that sentence
EVIDENCE_SENTENCE = re.compile(r"^sentence (\d+)(?= \(p=)")
EVIDENCE_SENTENCE_BASE = 0


@dataclass
class Gap:
    """Text of an article view outside any sentence (between sentences, or a paragraph not segmented)."""

    segments: list[Segment]
    is_sentence = False


@dataclass
class SentenceView:
    """A sentence placed in its article view: its ids, number, and its text cut at flagged spans."""

    row: SentenceRow
    html_id: str
    segments: list[Segment]
    text: str
    number: int
    suggestion_id: str | None = None
    is_sentence = True


@dataclass
class Paragraph:
    """One ``<p>`` of an article view."""

    pieces: list[SentenceView | Gap]
    between: bool = False


@dataclass
class EvidencePart:
    """One `` | ``-separated part of ``mt_evidence``; a leading "sentence N" links to that sentence."""

    text: str
    link: str = ""  # the leading words that link ("sentence 3"), empty if none
    href: str = ""  # the sentence's element id in the article view


@dataclass
class ArticleView:
    rank: int  # position on the page (anchors a1, a2, ... and previous/next links)
    anchor: str
    article: ArticleRow
    snippet: str
    bar_width: str  # of the quality bar in the ranking, percent
    mt_bar_width: str = "0"  # of the MT probability bar, percent
    #: place in the MT ranking (1 = most likely machine-translated); None outside it (not English,
    #: no probability) or on an output without mt_probability
    mt_rank: int | None = None
    evidence: list[EvidencePart] = field(default_factory=list)
    paragraphs: list[Paragraph] = field(default_factory=list)
    sentences: list[SentenceView] = field(default_factory=list)
    truncated_at: int | None = None


def evidence_parts(evidence: str, sentence_ids: dict[int, str]) -> list[EvidencePart]:
    """``mt_evidence`` cut at " | "; "sentence N (p=...)" linked where sentence N is shown (``sentence_ids``)."""
    out = []
    for part in (p.strip() for p in evidence.split(" | ")):
        if not part:
            continue
        m = EVIDENCE_SENTENCE.match(part)
        href = sentence_ids.get(int(m.group(1)) - EVIDENCE_SENTENCE_BASE) if m else None
        if m and href:
            out.append(EvidencePart(part[m.end():], link=m.group(0), href=href))
        else:
            out.append(EvidencePart(part))
    return out


def placed_sentences(art: ArticleRow) -> list[tuple[int, int, SentenceRow]]:
    """Sentence offsets checked against the text; re-found by search where they disagree."""
    text, out, cursor = art.text, [], 0
    for s in art.sentences:
        start, end = s.start, s.end
        ok = 0 <= start <= end <= len(text) and (not s.text or text[start:end] == s.text)
        if not ok:
            j = text.find(s.text, cursor) if s.text else -1
            if j < 0:
                continue
            start, end = j, j + len(s.text)
        start = max(start, cursor)
        if end <= start:
            continue
        out.append((start, end, s))
        cursor = end
    return out


def article_view(k: int, art: ArticleRow, anchor: str, labels: dict[str, str], *, by_mt: bool,
                 max_article_chars: int) -> ArticleView:
    """Article ``art`` at place ``k`` of the page, element ids under ``anchor``.

    ``labels`` explains each flag (the tooltips); ``by_mt``: the page ranks by MT probability;
    an article longer than ``max_article_chars`` shows the sentences that start before that
    many characters (and says how many it shows).
    """
    view = ArticleView(rank=k, anchor=anchor, article=art,
                       snippet=" ".join(art.text[:200].split())[:140],
                       bar_width=bar_width(art.quality), mt_bar_width=bar_width(art.mt_probability),
                       mt_rank=k if by_mt and not math.isnan(art.mt_probability) else None)
    text = art.text
    placed = placed_sentences(art)
    spans = list({(h.start, h.end, h.label, h.note): h for _, _, s in placed for h in s.spans}.values())

    if len(text) > max_article_chars:
        keep = [p for p in placed if p[0] < max_article_chars]
        if len(keep) < len(placed):
            view.truncated_at = len(keep)
        placed = keep or placed[:1]

    paras = view.paragraphs
    current: list[SentenceView | Gap] = []

    def close() -> None:
        if current:
            paras.append(Paragraph(list(current)))
            current.clear()

    def between(lo: int, hi: int) -> None:
        gap = text[lo:hi]
        if gap.strip():
            a = lo + (len(gap) - len(gap.lstrip()))
            b = hi - (len(gap) - len(gap.rstrip()))
            paras.append(Paragraph([Gap(segments(text, a, b, spans, labels))], between=True))

    prev_end, prev_par = 0, None
    for i, (start, end, s) in enumerate(placed):
        gap = text[prev_end:start]
        if i == 0:
            between(0, start)
        elif s.paragraph_id != prev_par or "\n\n" in gap or "\r\n\r\n" in gap:
            close()
            between(prev_end, start)
        else:
            current.append(Gap(segments(text, prev_end, start, spans, labels)))
        sentence = SentenceView(
            row=s, html_id=f"{view.anchor}-s{s.sentence_id}", segments=segments(text, start, end, spans, labels),
            text=text[start:end], number=s.sentence_id + 1,
            suggestion_id=f"{view.anchor}-r{s.sentence_id}" if s.suggestion else None)
        current.append(sentence)
        view.sentences.append(sentence)
        prev_end, prev_par = end, s.paragraph_id
    close()
    if art.mt_evidence:
        view.evidence = evidence_parts(art.mt_evidence, {s.row.sentence_id: s.html_id for s in view.sentences})
    if placed and view.truncated_at is None:
        between(prev_end, len(text))
    if not placed:
        shown = text[:max_article_chars]
        view.paragraphs[:] = [Paragraph([Gap([Segment(p.strip())])]) for p in shown.split("\n\n") if p.strip()]
    return view


def ranking(views: list[ArticleView], by_mt: bool) -> tuple[list[ArticleView], list[ArticleView]]:
    """The shown articles in the MT ranking, and those kept out of it (not English, no probability).

    On an output without mt_probability (``by_mt`` false) every article is in the (quality) ranking.
    """
    if not by_mt:
        return views, []
    return [v for v in views if v.mt_rank is not None], [v for v in views if v.mt_rank is None]
