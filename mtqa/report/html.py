"""Build the report page: one self-contained HTML string from :class:`ReportData`.

The markup lives in Jinja2 templates (``templates/``) rendered with autoescaping on, so every
value from the input (article text, ids, origins, labels, notes, run.json) is escaped by the
template engine wherever it lands, in text and in attributes alike: escaping is structural,
not a call each line must remember. Nothing from the input is ever marked safe; the only
``Markup`` values are the stylesheet and script (package files, see ``assets.py``) and the
fragments the templates themselves render. This module prepares what the templates show
(numbers formatted, geometry computed, sentences placed in their article); element ids and the
flag tokens the script filters on are generated here (``a3``, ``a3-s12``, ``f2``), never taken
from the input.

Line breaks and indentation in the templates are dropped when they are loaded
(:class:`_Spaceless`), so a template can be laid out for reading without putting whitespace
between inline elements of the page; a space the page needs is written out in the template.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from mtqa.report.assets import css, js
from mtqa.report.load import MT_THRESHOLD, ArticleRow, ReportData, SentenceRow, SpanHit

#: quality bins for colours: upper bounds of bins 0..3, bin 4 is the rest
BIN_EDGES = (0.2, 0.4, 0.6, 0.8)
BIN_NAMES = ("very poor", "poor", "fair", "good", "very good")
#: mt_probability bins (same edges; a scale of its own, blue = human-like to red = machine-like,
#: so it is never read as quality)
MT_BIN_NAMES = ("likely human", "probably human", "uncertain", "probably machine", "likely machine")
#: ``mt_evidence`` names sentences by ``sentence_id`` ("sentence 3 (p=0.97): ..."; see
#: mtqa.heads.detector.evidence); the article view links each to that sentence
EVIDENCE_SENTENCE = re.compile(r"^sentence (\d+)(?= \(p=)")
EVIDENCE_SENTENCE_BASE = 0
#: longest sentence text the table shows (characters); longer ones end with an ellipsis
TABLE_TEXT_CHARS = 400
#: the most run.json config the page prints (characters)
CONFIG_CHARS = 20_000


def qbin(q: float) -> str:
    if q is None or math.isnan(q):
        return "na"
    for i, edge in enumerate(BIN_EDGES):
        if q < edge:
            return str(i)
    return "4"


def mbin(p: float) -> str:
    """The colour bin of an mt_probability (``na`` when missing)."""
    return qbin(p)


def fq(q: float) -> str:
    return "–" if q is None or math.isnan(q) else f"{q:.2f}"


def fpct(x: float) -> str:
    if x is None or math.isnan(x):
        return "–"
    if 0 < x < 0.01:
        return "<1%"
    return f"{x * 100:.0f}%"


def fnum(n: int) -> str:
    return f"{n:,}"


def fsig(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.3g}"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{fnum(n)} {word if n == 1 else (words or word + 's')}"


def data_value(x: float) -> str:
    """A number for a ``data-v`` sort key: full precision, empty when missing."""
    return "" if x is None or math.isnan(x) else repr(x)


# --------------------------------------------------------------------------- templates


class _Spaceless(Extension):
    """Drop each line break and the indentation after it from template sources at load time."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"\n[ \t]*", "", source)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mtqa.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=[_Spaceless],
    )
    env.filters.update(fq=fq, fpct=fpct, fnum=fnum, fsig=fsig, plural=plural, qbin=qbin, mbin=mbin,
                       data_value=data_value)
    return env


# --------------------------------------------------------------------------- spans


@dataclass(frozen=True)
class Segment:
    """A stretch of text and the flags active on all of it (``labels`` empty: not flagged)."""

    text: str
    labels: str = ""
    tip: str = ""
    overlap: bool = False


def _tip(hits: Iterable[SpanHit], labels: dict[str, str]) -> str:
    lines = []
    for h in hits:
        explanation = h.note or labels.get(h.label, "")
        line = h.label + (f": {explanation}" if explanation else "")
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def segments(text: str, lo: int, hi: int, spans: list[SpanHit], labels: dict[str, str]) -> list[Segment]:
    """``text[lo:hi]`` cut where flagged spans start and end.

    Overlapping or nested spans are split into non-overlapping segments; each segment carries
    every label active on it, so the marks never nest or interleave.
    """
    relevant = [(max(s.start, lo), min(s.end, hi), s) for s in spans if s.end > s.start and s.start < hi and s.end > lo]
    if not relevant:
        return [Segment(text[lo:hi])]
    points = sorted({lo, hi, *(a for a, _, _ in relevant), *(b for _, b, _ in relevant)})
    out = []
    for a, b in zip(points, points[1:]):
        active = [s for x, y, s in relevant if x <= a and y >= b]
        if not active:
            out.append(Segment(text[a:b]))
            continue
        names = list(dict.fromkeys(s.label for s in active))
        out.append(Segment(text[a:b], " ".join(names), _tip(active, labels), len(active) > 1))
    return out


def render_range(text: str, lo: int, hi: int, spans: list[SpanHit], labels: dict[str, str]) -> Markup:
    """``text[lo:hi]`` as escaped HTML, flagged parts wrapped in ``<mark>`` (see :func:`segments`)."""
    return environment().get_template("macros.html.j2").module.marked(segments(text, lo, hi, spans, labels))


# --------------------------------------------------------------------------- pieces


def histogram(counts: list[int], mean: float, what: str, height: int = 170, scale: str = "quality") -> dict[str, Any]:
    """Geometry of a histogram over [0, 1] (an inline SVG), numbers formatted as they are drawn.

    ``scale`` is ``quality`` (bars coloured ``b0``..``b4`` by the quality scale) or
    ``mt_probability`` (``m0``..``m4``, the MT scale).
    """
    width, left, right, top, bottom = 420, 34, 8, 16, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(counts)
    peak = max(counts) if counts and max(counts) > 0 else 1
    step = plot_w / n
    grid = []
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        grid.append({"y": f"{y:.1f}", "label_y": f"{y + 3:.1f}", "label": fnum(round(peak * frac))})
    bars = []
    for i, c in enumerate(counts):
        lo, hi = i / n, (i + 1) / n
        h = plot_h * c / peak
        prefix = "m" if scale == "mt_probability" else "b"
        bars.append({"cls": prefix + qbin((lo + hi) / 2), "x": f"{left + i * step + 1:.1f}", "y": f"{top + plot_h - h:.1f}",
                     "width": f"{step - 2:.1f}", "height": f"{h:.1f}", "title": f"{lo:.2f}–{hi:.2f}: {plural(c, what)}"})
    ticks = [{"x": f"{left + plot_w * t:.1f}", "label": f"{t:g}"} for t in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    mean_line = None
    if not math.isnan(mean):
        x = left + plot_w * min(max(mean, 0.0), 1.0)
        anchor = "end" if mean > 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        mean_line = {"x": f"{x:.1f}", "label_x": f"{x + dx:.1f}", "anchor": anchor, "label": f"mean {mean:.2f}"}
    return {
        "width": width, "height": height, "left": left, "right_x": width - right, "top": top,
        "axis_y": top + plot_h, "tick_y": height - 8,
        "aria": f"Histogram of {what} {'MT probability' if scale == 'mt_probability' else 'quality'} in {n} bins "
                f"from 0 to 1; the fullest bin holds {peak:,}.",
        "grid": grid, "bars": bars, "ticks": ticks, "mean": mean_line,
    }


def legend(names: tuple[str, ...] = BIN_NAMES) -> list[dict[str, str]]:
    bounds = (0.0, *BIN_EDGES, 1.0)
    items = []
    for i, name in enumerate(names):
        rng = f"< {bounds[1]:g}" if i == 0 else (f"≥ {bounds[i]:g}" if i == 4 else f"{bounds[i]:g}–{bounds[i + 1]:g}")
        items.append({"bin": str(i), "name": name, "range": rng})
    return items


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


def _bar(x: float) -> str:
    return f"{0 if math.isnan(x) else max(2.0, 100 * min(max(x, 0.0), 1.0)):.0f}"


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


class _Page:
    def __init__(self, data: ReportData, title: str, max_article_chars: int):
        self.d = data
        self.title = title
        self.max_article_chars = max_article_chars
        labels = list(data.flag_counts)
        for row in data.table:
            labels.extend(row.flags)
        for art in data.articles:
            for s in art.sentences:
                labels.extend(s.flags)
        #: label -> generated token (f0, f1, ...): what the filter script matches, never input text
        self.flag_token = {label: f"f{i}" for i, label in enumerate(dict.fromkeys(labels))}
        self.anchor = {a.article_id: f"a{k}" for k, a in enumerate(data.articles, start=1)}
        self.shown_sentences = {(a.article_id, s.sentence_id) for a in data.articles for s in a.sentences}

    def chips(self) -> dict[str, dict[str, str]]:
        """label -> its filter token and colour class."""
        return {label: {"token": token, "colour": f"c{int(token[1:]) % 8}"} for label, token in self.flag_token.items()}

    # -- article views
    def _placed(self, art: ArticleRow) -> list[tuple[int, int, SentenceRow]]:
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

    def article(self, k: int, art: ArticleRow) -> ArticleView:
        view = ArticleView(rank=k, anchor=self.anchor[art.article_id], article=art,
                           snippet=" ".join(art.text[:200].split())[:140],
                           bar_width=_bar(art.quality), mt_bar_width=_bar(art.mt_probability),
                           mt_rank=k if self.d.by_mt and not math.isnan(art.mt_probability) else None)
        labels = self.d.labels
        text = art.text
        placed = self._placed(art)
        spans = list({(h.start, h.end, h.label, h.note): h for _, _, s in placed for h in s.spans}.values())

        if len(text) > self.max_article_chars:
            keep = [p for p in placed if p[0] < self.max_article_chars]
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
            shown = text[: self.max_article_chars]
            view.paragraphs[:] = [Paragraph([Gap([Segment(p.strip())])]) for p in shown.split("\n\n") if p.strip()]
        return view

    # -- the sentence table
    def columns(self) -> list[dict[str, str]]:
        """Sortable columns: header, sort type, cell class, first sort direction, role.

        The table arrives sorted by its first column: MT probability, highest first, where the
        sentences have one, else quality, lowest first. ``role`` tells the script which column
        the range filters read (``q``: quality, ``mt``: MT probability, ``text``).
        """
        cols = [("Quality", "num", "num", "asc", "q"), ("Sentence", "str", "", "asc", "text"),
                ("Flags", "num", "", "desc", ""), ("Article", "str", "", "asc", ""), ("#", "num", "num", "asc", "")]
        if self.d.sentence_mt:
            cols.insert(0, ("MT probability", "num", "num", "desc", "mt"))
        cols += [(name.replace("_", " "), "num", "num sig", "asc", "") for name in self.d.signal_columns]
        return [{"name": name, "type": typ, "cls": cls, "first": first, "role": role}
                for name, typ, cls, first, role in cols]

    def column_index(self, role: str) -> int:
        """Index of the column with ``role`` (-1 when the table has none)."""
        return next((i for i, c in enumerate(self.columns()) if c["role"] == role), -1)

    def table_rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, s in enumerate(self.d.table):
            anchor = self.anchor.get(s.article_id)
            linked = bool(anchor) and (s.article_id, s.sentence_id) in self.shown_sentences
            flags = list(dict.fromkeys(s.flags))
            rows.append({
                "i": i, "row": s, "flags": flags,
                "tokens": " ".join(self.flag_token[f] for f in flags),
                "text": s.text if len(s.text) <= TABLE_TEXT_CHARS else s.text[:TABLE_TEXT_CHARS].rstrip() + "…",
                "anchor": anchor if linked else None,
                "signals": [s.signals.get(c, math.nan) for c in self.d.signal_columns],
                "mt": s.mt_probability,
            })
        return rows

    def run_items(self) -> dict[str, Any]:
        """What the Run section lists from run.json (``{}`` without one)."""
        run = self.d.run
        if not run:
            return {}
        fields = [(label, run[key]) for key, label in (("mtqa_version", "mtqa version"), ("signature", "Signature"))
                  if run.get(key) is not None]
        inputs = run.get("inputs")
        names: list[str] = []
        more = 0
        if isinstance(inputs, list) and inputs:
            names = [x if not isinstance(x, dict) else x.get("path") or x.get("name") or json.dumps(x) for x in inputs[:20]]
            more = max(0, len(inputs) - 20)
        tables = []
        for key, label in (("counts", "Counts"), ("timings", "Timings")):
            value = run.get(key)
            if isinstance(value, dict) and value:
                tables.append((label, [(k, round(v, 2) if isinstance(v, float) else v) for k, v in list(value.items())[:30]]))
        config = None
        if run.get("config"):
            config = json.dumps(run["config"], indent=2, ensure_ascii=False, default=str)
            if len(config) > CONFIG_CHARS:
                config = config[:CONFIG_CHARS] + "\n… (cut)"
        return {"fields": fields, "inputs": names, "more_inputs": more, "tables": tables, "config": config}

    def ranking(self, views: list[ArticleView]) -> tuple[list[ArticleView], list[ArticleView]]:
        """The shown articles in the MT ranking, and those kept out of it (not English, no probability).

        On an output without mt_probability every article is in the (quality) ranking.
        """
        if not self.d.by_mt:
            return views, []
        return [v for v in views if v.mt_rank is not None], [v for v in views if v.mt_rank is None]

    def render(self) -> str:
        d = self.d
        articles = [self.article(k, a) for k, a in enumerate(d.articles, start=1)]
        ranked, unranked = self.ranking(articles)
        return environment().get_template("report.html.j2").render(
            d=d,
            title=self.title,
            version=d.run.get("mtqa_version"),
            css=Markup(css()),
            js=Markup(js()),
            legend=legend(),
            mt_legend=legend(MT_BIN_NAMES) if d.by_mt or d.sentence_mt else [],
            mt_threshold=MT_THRESHOLD,
            article_order="most likely machine-translated" if d.by_mt else "with lowest quality",
            sentence_order="most likely machine-translated" if d.sentence_mt else "with lowest quality",
            chips=self.chips(),
            flagged_share=d.n_flagged / d.n_sentences if d.n_sentences else math.nan,
            hist=histogram(d.histogram, d.mean_quality, "sentence", height=96 if d.by_mt else 170),
            article_hist=histogram(d.article_histogram, d.mean_article_quality, "article", height=96),
            mt_hist=histogram(d.mt_histogram, d.mean_article_mt, "article", scale="mt_probability") if d.by_mt else None,
            anchors=self.anchor,
            articles=articles,
            ranked=ranked,
            unranked=unranked,
            max_article_chars=self.max_article_chars,
            columns=self.columns(),
            q_col=self.column_index("q"),
            mt_col=self.column_index("mt"),
            text_col=self.column_index("text"),
            table_rows=self.table_rows(),
            run=self.run_items(),
        )


def build_html(data: ReportData, title: str | None = None, max_article_chars: int = 60_000) -> str:
    what = "Machine translation and quality" if data.by_mt else "Translation quality"
    title = title or f"{what}: {data.out_dir.resolve().name}"
    return _Page(data, title, max_article_chars).render()
