"""Build the report page: one self-contained HTML string from :class:`ReportData`.

The markup lives in Jinja2 templates (``templates/``) rendered with autoescaping on
(:mod:`mtqa.report.templating`), so every value from the input (article text, ids, origins,
labels, notes, run.json) is escaped by the template engine wherever it lands, in text and in
attributes alike: escaping is structural, not a call each line must remember. Nothing from the
input is ever marked safe; the only ``Markup`` values are the stylesheet and script (package
files, see ``assets.py``) and the fragments the templates themselves render.

This module assembles the page; the parts it shows are prepared elsewhere: article views
(:mod:`~mtqa.report.articles`, flagged spans in :mod:`~mtqa.report.spans`), the sentence table
(:mod:`~mtqa.report.table`), histograms and legends (:mod:`~mtqa.report.charts`), the Run
section (:mod:`~mtqa.report.run_section`). The ids shared between them are generated here
(article anchors ``a3``, the flag tokens the script filters on ``f2``), never taken from the input.
"""

from __future__ import annotations

import math

from markupsafe import Markup

from mtqa.report.articles import article_view, ranking
from mtqa.report.assets import css, js
from mtqa.report.charts import histogram, legend
from mtqa.report.format import MT_BIN_NAMES
from mtqa.report.load import MT_THRESHOLD, ReportData
from mtqa.report.run_section import run_items
from mtqa.report.table import column_index, columns, table_rows
from mtqa.report.templating import environment


def flag_tokens(data: ReportData) -> dict[str, str]:
    """label -> generated token (f0, f1, ...): what the filter script matches, never input text."""
    labels = list(data.flag_counts)
    for row in data.table:
        labels.extend(row.flags)
    for art in data.articles:
        for s in art.sentences:
            labels.extend(s.flags)
    return {label: f"f{i}" for i, label in enumerate(dict.fromkeys(labels))}


def chips(flag_token: dict[str, str]) -> dict[str, dict[str, str]]:
    """label -> its filter token and colour class."""
    return {label: {"token": token, "colour": f"c{int(token[1:]) % 8}"} for label, token in flag_token.items()}


def build_html(data: ReportData, title: str | None = None, max_article_chars: int = 60_000) -> str:
    what = "Machine translation and quality" if data.by_mt else "Translation quality"
    title = title or f"{what}: {data.out_dir.resolve().name}"
    d = data
    flag_token = flag_tokens(d)
    anchors = {a.article_id: f"a{k}" for k, a in enumerate(d.articles, start=1)}
    shown_sentences = {(a.article_id, s.sentence_id) for a in d.articles for s in a.sentences}
    articles = [article_view(k, a, anchors[a.article_id], d.labels, by_mt=d.by_mt, max_article_chars=max_article_chars)
                for k, a in enumerate(d.articles, start=1)]
    ranked, unranked = ranking(articles, d.by_mt)
    cols = columns(d)
    return environment().get_template("report.html.j2").render(
        d=d,
        title=title,
        version=d.run.get("mtqa_version"),
        css=Markup(css()),
        js=Markup(js()),
        legend=legend(),
        mt_legend=legend(MT_BIN_NAMES) if d.by_mt or d.sentence_mt else [],
        mt_threshold=MT_THRESHOLD,
        article_order="most likely machine-translated" if d.by_mt else "with lowest quality",
        sentence_order="most likely machine-translated" if d.sentence_mt else "with lowest quality",
        chips=chips(flag_token),
        flagged_share=d.n_flagged / d.n_sentences if d.n_sentences else math.nan,
        hist=histogram(d.histogram, d.mean_quality, "sentence", height=96 if d.by_mt else 170),
        article_hist=histogram(d.article_histogram, d.mean_article_quality, "article", height=96),
        mt_hist=histogram(d.mt_histogram, d.mean_article_mt, "article", scale="mt_probability") if d.by_mt else None,
        anchors=anchors,
        articles=articles,
        ranked=ranked,
        unranked=unranked,
        max_article_chars=max_article_chars,
        columns=cols,
        q_col=column_index(cols, "q"),
        mt_col=column_index(cols, "mt"),
        text_col=column_index(cols, "text"),
        table_rows=table_rows(d, anchors, shown_sentences, flag_token),
        run=run_items(d.run),
    )
