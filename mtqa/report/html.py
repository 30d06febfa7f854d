"""Build the report page: one self-contained HTML string from :class:`ReportData`.

Every value that comes from the input (article text, ids, origins, labels, notes, run.json)
passes through :func:`esc` (``html.escape`` with ``quote=True``), in text and in attributes
alike. Element ids and the flag tokens the script filters on are generated here (``a3``,
``a3-s12``, ``f2``), never taken from the input.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable

from mtqa.report.assets import CSS, JS
from mtqa.report.load import ArticleRow, ReportData, SentenceRow, SpanHit

#: quality bins for colours: upper bounds of bins 0..3, bin 4 is the rest
BIN_EDGES = (0.2, 0.4, 0.6, 0.8)
BIN_NAMES = ("very poor", "poor", "fair", "good", "very good")
#: longest sentence text the table shows (characters); longer ones end with an ellipsis
TABLE_TEXT_CHARS = 400
#: the most run.json config the page prints (characters)
CONFIG_CHARS = 20_000


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def qbin(q: float) -> str:
    if q is None or math.isnan(q):
        return "na"
    for i, edge in enumerate(BIN_EDGES):
        if q < edge:
            return str(i)
    return "4"


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


# --------------------------------------------------------------------------- spans

def _tip(hits: Iterable[SpanHit], labels: dict[str, str]) -> str:
    lines = []
    for h in hits:
        explanation = h.note or labels.get(h.label, "")
        line = h.label + (f": {explanation}" if explanation else "")
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def render_range(text: str, lo: int, hi: int, spans: list[SpanHit], labels: dict[str, str]) -> str:
    """Escape ``text[lo:hi]``, wrapping flagged parts in ``<mark>``.

    Overlapping or nested spans are split into non-overlapping segments; each segment's mark
    carries every label active on it, so no markup ever interleaves.
    """
    relevant = [(max(s.start, lo), min(s.end, hi), s) for s in spans if s.end > s.start and s.start < hi and s.end > lo]
    if not relevant:
        return esc(text[lo:hi])
    points = sorted({lo, hi, *(a for a, _, _ in relevant), *(b for _, b, _ in relevant)})
    out = []
    for a, b in zip(points, points[1:]):
        segment = esc(text[a:b])
        active = [s for x, y, s in relevant if x <= a and y >= b]
        if not active:
            out.append(segment)
            continue
        names = list(dict.fromkeys(s.label for s in active))
        tip = _tip(active, labels)
        cls = "hl n2" if len(active) > 1 else "hl"
        out.append(f'<mark class="{cls}" tabindex="0" data-label="{esc(" ".join(names))}" data-tip="{esc(tip)}"'
                   f' aria-description="{esc(tip)}">{segment}</mark>')
    return "".join(out)


# --------------------------------------------------------------------------- pieces

def _histogram_svg(counts: list[int], mean: float, what: str, height: int = 170) -> str:
    width, left, right, top, bottom = 420, 34, 8, 16, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(counts)
    peak = max(counts) if counts and max(counts) > 0 else 1
    step = plot_w / n
    parts = [f'<svg class="hist" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{esc(f"Histogram of {what} quality in {n} bins from 0 to 1; the fullest bin holds {peak:,}.")}">']
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end">{fnum(round(peak * frac))}</text>')
    for i, c in enumerate(counts):
        lo, hi = i / n, (i + 1) / n
        h = plot_h * c / peak
        x = left + i * step + 1
        b = qbin((lo + hi) / 2)
        parts.append(f'<rect class="b{b}" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{step - 2:.1f}" height="{h:.1f}" rx="2">'
                     f'<title>{lo:.2f}–{hi:.2f}: {plural(c, what)}</title></rect>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    for t in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x = left + plot_w * t
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{t:g}</text>')
    if not math.isnan(mean):
        x = left + plot_w * min(max(mean, 0.0), 1.0)
        parts.append(f'<line class="mean" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + plot_h}"/>')
        anchor = "end" if mean > 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        parts.append(f'<text class="meanlabel" x="{x + dx:.1f}" y="{top + 4}" text-anchor="{anchor}">mean {mean:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    items = []
    bounds = (0.0, *BIN_EDGES, 1.0)
    for i, name in enumerate(BIN_NAMES):
        rng = f"< {bounds[1]:g}" if i == 0 else (f"≥ {bounds[i]:g}" if i == 4 else f"{bounds[i]:g}–{bounds[i + 1]:g}")
        items.append(f'<span class="sw" style="background:var(--q{i})" title="{esc(name)}">{esc(rng)}</span>')
    return ('<div class="legend" role="group" aria-label="Colour scale for sentence quality">'
            '<span>Quality</span>' + "".join(items) +
            '<span class="sw hlsw" title="a flagged span: hover or focus it for the reason">flagged</span></div>')


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

    # -- helpers
    def chip(self, label: str, link: bool = False) -> str:
        token = self.flag_token.get(label, "f0")
        colour = f"c{int(token[1:]) % 8}"
        if link:
            return (f'<a class="chip {colour}" href="#sentences" data-flag="{token}" '
                    f'title="{esc("show the sentences flagged " + label)}">{esc(label)}</a>')
        return f'<span class="chip {colour}">{esc(label)}</span>'

    def left_out(self, shown: int, total: int, noun: str, option: str) -> str | None:
        if shown >= total:
            return None
        return (f"Showing {fnum(shown)} of {plural(total, noun)}: the {fnum(shown)} with lowest quality "
                f"(raise <code>{option}</code> to show more).")

    # -- sections
    def header(self) -> str:
        return ('<a class="skip" href="#main">Skip to content</a>'
                '<header class="top"><div class="wrap">'
                '<div class="brand">mtqa <span>quality report</span></div>'
                '<nav aria-label="Sections"><a href="#overview">Overview</a><a href="#articles">Articles</a>'
                '<a href="#sentences">Sentences</a><a href="#run">Run</a></nav>'
                f'{_legend()}</div></header>')

    def overview(self) -> str:
        d = self.d
        run = d.run
        version = run.get("mtqa_version")
        flagged_share = d.n_flagged / d.n_sentences if d.n_sentences else math.nan
        lede = (f"{plural(d.n_articles, 'article')} and {plural(d.n_sentences, 'sentence')} scored"
                + (f" by mtqa {esc(version)}" if version else "")
                + ". Quality runs from 0 (unreadable) to 1 (fluent); colours follow the scale at the top.")
        notes = [n for n in (self.left_out(len(d.articles), d.n_articles, "article", "--max-articles"),
                             self.left_out(len(d.table), d.n_sentences, "sentence", "--max-sentences")) if n]
        limits = "".join(f'<p class="limits" role="note">{n}</p>' for n in notes)
        cards = (
            f'<div class="card q{qbin(d.mean_quality)}"><div class="k">Mean sentence quality</div>'
            f'<div class="v">{fq(d.mean_quality)}</div><div class="s">{plural(d.n_scored, "scored sentence")}</div></div>'
            f'<div class="card q{qbin(d.mean_article_quality)}"><div class="k">Mean article quality</div>'
            f'<div class="v">{fq(d.mean_article_quality)}</div><div class="s">{plural(d.n_articles, "article")}</div></div>'
            f'<div class="card"><div class="k">Flagged sentences</div><div class="v">{fpct(flagged_share)}</div>'
            f'<div class="s">{fnum(d.n_flagged)} of {fnum(d.n_sentences)} have a flag</div></div>'
            f'<div class="card"><div class="k">Flags raised</div><div class="v">{fnum(sum(d.flag_counts.values()))}</div>'
            f'<div class="s">{plural(len(d.flag_counts), "kind")} of flag</div></div>'
        )
        hist = (f'<figure class="panel"><h2>Sentence quality</h2>{_histogram_svg(d.histogram, d.mean_quality, "sentence")}'
                f'<figcaption>All {plural(d.n_scored, "scored sentence")}, in bins of 0.05.</figcaption>'
                f'<div class="subhist"><h4>Article quality</h4>'
                f'{_histogram_svg(d.article_histogram, d.mean_article_quality, "article", height=96)}</div></figure>')
        return (f'<section id="overview" aria-labelledby="overview-h"><h1 id="overview-h">{esc(self.title)}</h1>'
                f'<p class="lede">{lede}</p>{limits}<div class="cards">{cards}</div>'
                f'<div class="grid2">{hist}{self.flags_panel()}</div>{self.ranking()}</section>')

    def flags_panel(self) -> str:
        d = self.d
        if not d.flag_counts:
            body = '<p class="note">No flags were raised.</p>'
        else:
            peak = max(d.flag_counts.values())
            items = []
            for label, count in d.flag_counts.items():
                share = count / d.n_sentences if d.n_sentences else 0.0
                expl = d.labels.get(label, "")
                items.append(
                    f'<li><div>{self.chip(label, link=True)}</div>'
                    f'<div class="cnt"><span class="bar"><span style="width:{100 * count / peak:.1f}%"></span></span>'
                    f'<b>{fnum(count)}</b> <span class="muted small">· {fpct(share)}</span></div>'
                    f'<div class="expl">{esc(expl) if expl else "&nbsp;"}</div></li>')
            body = f'<ul class="flags">{"".join(items)}</ul>'
        return (f'<div class="panel"><h2>Flags</h2><p class="note">Sentences carrying each flag; '
                f'pick one to filter the sentence table.</p>{body}</div>')

    def ranking(self) -> str:
        d = self.d
        note = self.left_out(len(d.articles), d.n_articles, "article", "--max-articles") or \
            f"All {plural(d.n_articles, 'article')}, worst first."
        rows = []
        for k, a in enumerate(d.articles, start=1):
            snippet = " ".join(a.text[:200].split())[:140]
            origin = f' <span class="muted small">{esc(a.origin)}</span>' if a.origin and a.origin != a.article_id else ""
            q = a.quality
            width = 0 if math.isnan(q) else max(2.0, 100 * min(max(q, 0.0), 1.0))
            rows.append(
                f'<tr><td class="num">{k}</td>'
                f'<td class="title"><a href="#{self.anchor[a.article_id]}">{esc(a.article_id)}</a>'
                f'{origin}'
                f'<span class="snip">{esc(snippet)}</span></td>'
                f'<td><div class="qcell"><span class="qbar" aria-hidden="true"><span class="f{qbin(q)}" '
                f'style="width:{width:.0f}%"></span></span><span class="num">{fq(q)}</span></div></td>'
                f'<td class="num">{fpct(a.flagged_share)}</td><td class="num">{fnum(a.n_sentences)}</td></tr>')
        table = ('<div class="tablewrap ranked" tabindex="0" role="region" aria-label="Articles by quality"><table>'
                 '<thead><tr><th class="num" scope="col">#</th><th scope="col">Article</th>'
                 '<th class="num" scope="col">Quality</th><th class="num" scope="col">Flagged</th>'
                 f'<th class="num" scope="col">Sentences</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
                 if rows else '<p class="note">No articles.</p>')
        return (f'<div class="panel" id="ranking"><h2>Articles, worst first</h2>'
                f'<p class="note">{note} Each links to its text below.</p>{table}</div>')

    # -- article views
    def articles(self) -> str:
        d = self.d
        note = self.left_out(len(d.articles), d.n_articles, "article", "--max-articles") or \
            f"All {plural(d.n_articles, 'article')}, worst first."
        views = [self.article(k, a) for k, a in enumerate(d.articles, start=1)]
        return (f'<section id="articles" aria-labelledby="articles-h"><h2 id="articles-h">Articles</h2>'
                f'<p class="note">{note} Sentences are shaded by quality; underlined spans were flagged: '
                f'hover over one or focus it (Tab) to read why.</p>{"".join(views)}</section>')

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

    def article(self, k: int, art: ArticleRow) -> str:
        aid = self.anchor[art.article_id]
        labels = self.d.labels
        text = art.text
        placed = self._placed(art)
        spans = list({(h.start, h.end, h.label, h.note): h for _, _, s in placed for h in s.spans}.values())

        truncated_at = None
        if len(text) > self.max_article_chars:
            keep = [p for p in placed if p[0] < self.max_article_chars]
            if len(keep) < len(placed):
                truncated_at = len(keep)
            placed = keep or placed[:1]

        paras: list[str] = []
        current: list[str] = []

        def close() -> None:
            if current:
                paras.append(f'<p>{"".join(current)}</p>')
                current.clear()

        def between(lo: int, hi: int) -> None:
            gap = text[lo:hi]
            if gap.strip():
                a = lo + (len(gap) - len(gap.lstrip()))
                b = hi - (len(gap) - len(gap.rstrip()))
                paras.append(f'<p class="between">{render_range(text, a, b, spans, labels)}</p>')

        suggestions = []
        strip = []
        prev_end, prev_par = 0, None
        for i, (start, end, s) in enumerate(placed):
            gap = text[prev_end:start]
            if i == 0:
                between(0, start)
            elif s.paragraph_id != prev_par or "\n\n" in gap or "\r\n\r\n" in gap:
                close()
                between(prev_end, start)
            else:
                current.append(render_range(text, prev_end, start, spans, labels))
            sid = f"{aid}-s{s.sentence_id}"
            b = qbin(s.quality)
            current.append(f'<span class="s q{b}" id="{sid}" data-q="{fq(s.quality)}">'
                           f'{render_range(text, start, end, spans, labels)}</span>')
            if s.suggestion:
                rid = f"{aid}-r{s.sentence_id}"
                current.append(f'<a class="sg" href="#{rid}" title="suggested word order" '
                               f'aria-label="suggested word order for sentence {s.sentence_id + 1}">&#8635;</a>')
                suggestions.append(
                    f'<li id="{rid}"><div class="orig"><a href="#{sid}">Sentence {s.sentence_id + 1}</a> '
                    f'({fq(s.quality)}): {esc(text[start:end])}</div><div class="new">{esc(s.suggestion)}</div></li>')
            strip.append(f'<a class="f{b}" href="#{sid}" tabindex="-1" '
                         f'title="sentence {s.sentence_id + 1}: {fq(s.quality)}{" · " + esc(", ".join(s.flags)) if s.flags else ""}"></a>')
            prev_end, prev_par = end, s.paragraph_id
        close()
        if placed and truncated_at is None:
            between(prev_end, len(text))
        if not placed:
            shown = text[: self.max_article_chars]
            paras = [f"<p>{esc(p.strip())}</p>" for p in shown.split("\n\n") if p.strip()]

        trunc = ""
        if truncated_at is not None:
            trunc = (f'<p class="limits trunc" role="note">This article is long: showing its first '
                     f'{fnum(truncated_at)} of {plural(len(art.sentences), "sentence")} '
                     f'(the first {fnum(self.max_article_chars)} characters).</p>')
        nav = [f'<a href="#a{k - 1}">&larr; Previous article</a>' if k > 1 else "",
               '<a href="#ranking">Back to the ranking</a>',
               f'<a href="#a{k + 1}">Next article &rarr;</a>' if k < len(self.d.articles) else ""]
        origin = f" · {esc(art.origin)}" if art.origin and art.origin != art.article_id else ""
        sugg = (f'<aside class="sugg" aria-label="Suggested word order"><h4>Suggested word order</h4>'
                f'<ol>{"".join(suggestions)}</ol></aside>' if suggestions else "")
        return (
            f'<article class="art" id="{aid}" aria-labelledby="{aid}-h">'
            f'<header class="art-head"><span class="rank">#{k}</span><h3 id="{aid}-h">{esc(art.article_id)}</h3>'
            f'<div class="badge q{qbin(art.quality)}"><b>{fq(art.quality)}</b><small>quality</small></div>'
            f'<div class="meta">{plural(art.n_sentences, "sentence")} · {fpct(art.flagged_share)} flagged{origin}</div>'
            f'<nav class="art-nav" aria-label="Article navigation">{"".join(nav)}</nav></header>'
            f'<div class="strip" aria-hidden="true">{"".join(strip)}</div>'
            f'<div class="text">{"".join(paras)}</div>{trunc}{sugg}</article>')

    # -- the sentence table
    def sentences(self) -> str:
        d = self.d
        note = self.left_out(len(d.table), d.n_sentences, "sentence", "--max-sentences") or \
            f"All {plural(d.n_sentences, 'sentence')}, worst first."
        cols = [("Quality", "num", "num", "asc"), ("Sentence", "str", "", "asc"), ("Flags", "num", "", "desc"),
                ("Article", "str", "", "asc"), ("#", "num", "num", "asc")]
        cols += [(name.replace("_", " "), "num", "num sig", "asc") for name in d.signal_columns]
        heads = "".join(
            f'<th scope="col" class="{cls}" aria-sort="{"ascending" if i == 0 else "none"}">'
            f'<button type="button" data-col="{i}" data-type="{typ}" data-first="{first}">{esc(name)}</button></th>'
            for i, (name, typ, cls, first) in enumerate(cols))
        rows = []
        for i, s in enumerate(d.table):
            text = s.text if len(s.text) <= TABLE_TEXT_CHARS else s.text[:TABLE_TEXT_CHARS].rstrip() + "…"
            tokens = " ".join(self.flag_token[f] for f in dict.fromkeys(s.flags))
            anchor = self.anchor.get(s.article_id)
            if anchor and (s.article_id, s.sentence_id) in self.shown_sentences:
                article = f'<a href="#{anchor}">{esc(s.article_id)}</a>'
                number = f'<a href="#{anchor}-s{s.sentence_id}" title="show in the article">{s.sentence_id + 1}</a>'
            else:
                article, number = esc(s.article_id), str(s.sentence_id + 1)
            q = s.quality
            sig = "".join(f'<td class="num" data-v="{"" if math.isnan(s.signals.get(c, math.nan)) else repr(s.signals[c])}">'
                          f'{fsig(s.signals.get(c, math.nan))}</td>' for c in d.signal_columns)
            rows.append(
                f'<tr data-i="{i}" data-flags=" {tokens} ">'
                f'<td class="num" data-v="{"" if math.isnan(q) else repr(q)}"><span class="dot f{qbin(q)}"></span>{fq(q)}</td>'
                f'<td class="stext">{esc(text)}</td>'
                f'<td data-v="{len(s.flags)}">{"".join(self.chip(f) for f in dict.fromkeys(s.flags))}</td>'
                f'<td class="art-id">{article}</td><td class="num" data-v="{s.sentence_id}">{number}</td>{sig}</tr>')
        options = ['<option value="">All sentences</option>', '<option value="*any">Any flag</option>',
                   '<option value="*none">No flag</option>']
        for label, token in self.flag_token.items():
            options.append(f'<option value="{token}">{esc(label)}</option>')
        filters = (
            '<form id="filters" class="filters" role="search" aria-label="Filter the sentence table">'
            '<label for="f-min">Quality from<input id="f-min" type="number" min="0" max="1" step="0.05" placeholder="0"></label>'
            '<label for="f-max">to<input id="f-max" type="number" min="0" max="1" step="0.05" placeholder="1"></label>'
            f'<label for="f-flag">Flag<select id="f-flag">{"".join(options)}</select></label>'
            '<label for="f-text">Text contains<input id="f-text" type="search" placeholder="word…"></label>'
            '<button type="reset">Reset</button>'
            f'<span class="count" id="f-count" aria-live="polite">{fnum(len(rows))} rows</span></form>')
        return (
            f'<section id="sentences" aria-labelledby="sentences-h"><h2 id="sentences-h">Sentences</h2>'
            f'<p class="note">{note} Click a column header (or focus it and press Enter) to sort.</p>'
            f'{filters}<p id="sort-status" class="small muted" aria-live="polite"></p>'
            f'<div class="tablewrap tall"><table id="stable" data-text-col="1"><thead><tr>{heads}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            f'<p id="f-empty" class="note" style="padding:0 .8rem" hidden>No sentence matches these filters.</p></div></section>')

    def run_details(self) -> str:
        run = self.d.run
        if not run:
            return ('<section id="run" aria-labelledby="run-h"><h2 id="run-h">Run</h2>'
                    '<p class="note">No run.json in this folder.</p></section>')
        items = []
        for key, label in (("mtqa_version", "mtqa version"), ("signature", "Signature")):
            if run.get(key) is not None:
                items.append(f"<dt>{label}</dt><dd><code>{esc(run[key])}</code></dd>")
        inputs = run.get("inputs")
        if isinstance(inputs, list) and inputs:
            names = [esc(x if not isinstance(x, dict) else x.get("path") or x.get("name") or json.dumps(x)) for x in inputs[:20]]
            more = f" and {fnum(len(inputs) - 20)} more" if len(inputs) > 20 else ""
            items.append(f"<dt>Inputs</dt><dd>{', '.join(names)}{more}</dd>")
        for key, label in (("counts", "Counts"), ("timings", "Timings")):
            value = run.get(key)
            if isinstance(value, dict) and value:
                shown = ", ".join(f"{esc(k)}: {esc(round(v, 2) if isinstance(v, float) else v)}" for k, v in list(value.items())[:30])
                items.append(f"<dt>{label}</dt><dd>{shown}</dd>")
        config = run.get("config")
        cfg = ""
        if config:
            dumped = json.dumps(config, indent=2, ensure_ascii=False, default=str)
            if len(dumped) > CONFIG_CHARS:
                dumped = dumped[:CONFIG_CHARS] + "\n… (cut)"
            cfg = f"<h4>Config</h4><pre>{esc(dumped)}</pre>"
        return (f'<section id="run" aria-labelledby="run-h"><h2 id="run-h">Run</h2><details><summary>Provenance: '
                f'version, signature, inputs, config</summary><dl class="kv">{"".join(items)}</dl>{cfg}</details></section>')

    def render(self) -> str:
        version = self.d.run.get("mtqa_version")
        footer = ("Generated by mtqa" + (f" {esc(version)}" if version else "") +
                  " · a single self-contained file: no network access needed.")
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light">'
            f'<title>{esc(self.title)}</title><style>{CSS}</style></head><body>'
            f'{self.header()}<main id="main" class="wrap">{self.overview()}{self.articles()}{self.sentences()}'
            f'{self.run_details()}</main><footer class="wrap">{footer}</footer>'
            f'<script>{JS}</script></body></html>\n')


def build_html(data: ReportData, title: str | None = None, max_article_chars: int = 60_000) -> str:
    title = title or f"Translation quality: {data.out_dir.resolve().name}"
    return _Page(data, title, max_article_chars).render()
