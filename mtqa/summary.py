"""The short human summary printed on stdout at the end of ``score``.

It answers the user's first question: *does this article look machine-translated, how sure
are we, and where does it show?* Articles are ranked by ``mt_probability`` (highest first),
next to their quality; the top few carry their ``mt_evidence`` (which sentences and signals
drove the probability); then the sentences with the highest ``mt_probability`` and their
flags. An article that is not English has no probability (NaN): it is listed last as "not
English", outside the ranking, because non-English text is not machine-translated *English*.
Outputs written before the detector existed (no ``mt_probability`` column) get the older
summary: articles by quality, worst first, and the worst sentences.

Everything in it that comes from the input (ids, sentences, evidence, paths, the model name)
goes through :func:`mtqa.text.printable`: an id holding ``\\r\\n`` or an escape sequence must
not forge a line (``mtqa: error: ...``) or rewrite the user's terminal.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

from mtqa.text import printable

#: an article or sentence counts as "looks machine-made" above this probability
MT_THRESHOLD = 0.5
#: how many of the ranked articles show their evidence, and how many parts of it each
EVIDENCE_ARTICLES = 3
EVIDENCE_PARTS = 4
TEXT_WIDTH = 110


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return printable(text if len(text) <= width else text[: width - 1] + "…")


def _num(value: Any) -> float:
    """A float, NaN for missing (None) or unreadable values."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float, spec: str, width: int) -> str:
    return format(value, spec) if not math.isnan(value) else "–".rjust(width)


def _column(table, name: str) -> np.ndarray:
    """A numeric column as float64, NaN for nulls (read column-wise: a job can hold millions of rows)."""
    import pyarrow as pa

    from mtqa.writers.schema import float_column

    col = table.column(name) if isinstance(table, pa.Table) else \
        table.select_columns([name]).with_format("arrow")[:].column(name)
    return float_column(col)


def _rows(table, indices, columns: list[str]) -> list[dict]:
    """The rows at ``indices`` (in that order), only ``columns`` (those the table has)."""
    indices = [int(i) for i in indices]
    if not indices:
        return []
    import pyarrow as pa

    present = [c for c in columns if c in table.column_names]
    if isinstance(table, pa.Table):
        part = table.select(present)  # row by row: ``take`` builds an index array, which imports pandas
        return [part.slice(i, 1).to_pylist()[0] for i in indices]
    return table.select_columns(present).select(indices).to_list()


def _order(primary: np.ndarray, secondary: np.ndarray, descending: bool) -> np.ndarray:
    """Indices by ``primary`` (descending or ascending), then ``secondary`` ascending; NaN last in both."""
    key1 = np.where(np.isnan(primary), np.inf, -primary if descending else primary)
    key2 = np.where(np.isnan(secondary), np.inf, secondary)
    return np.lexsort((np.arange(len(primary)), key2, key1))


def _unranked_label(row: dict) -> str:
    """Why an article has no MT probability, in the column's words (NaN means "not English" unless
    ``language`` says otherwise)."""
    language = row.get("language")
    if language == "" or row.get("n_sentences") == 0:
        return "no sentence"
    if language == "en":
        return "no score"
    return "not English"


def _article_line(row: dict) -> str:
    """Quality, flagged share, sentence count and id of an article row."""
    return (f"{_fmt(_num(row.get('quality')), '7.3f', 7)}  {_fmt(_num(row.get('flagged_share')), '7.0%', 7)}  "
            f"{int(row.get('n_sentences') or 0):5d}  {printable(row.get('article_id'))}")


def _article_lines(articles, max_articles: int, evidence_articles: int) -> list[str]:
    """Articles by ``mt_probability``, highest first; those without one (not English) last."""
    p, q = _column(articles, "mt_probability"), _column(articles, "quality")
    order = _order(p, q, descending=True)  # NaN probability last, by quality among themselves
    n_ranked = int((~np.isnan(p)).sum())
    n_unranked = len(p) - n_ranked
    likely = int((p > MT_THRESHOLD).sum())
    lines = ["", f"{likely} of {n_ranked} English article(s) look machine-translated "
                 f"(mt_probability > {MT_THRESHOLD:g})"
                 + (f"; {n_unranked} not judged (not English, or nothing to score)." if n_unranked else ".")]
    lines.append(f"{'MT prob':>11}  {'quality':>7}  {'flagged':>7}  {'sents':>5}  article")
    rows = _rows(articles, order[:max_articles], ["article_id", "quality", "flagged_share", "n_sentences",
                                                  "mt_probability", "mt_evidence", "language"])
    for k, r in enumerate(rows):
        prob = _num(r.get("mt_probability"))
        first = f"{prob:11.2f}" if not math.isnan(prob) else f"{_unranked_label(r):>11}"
        lines.append(f"{first}  {_article_line(r)}")
        if k < evidence_articles and not math.isnan(prob) and r.get("mt_evidence"):
            parts = [part for part in str(r["mt_evidence"]).split(" | ") if part.strip()]
            for part in parts[:EVIDENCE_PARTS]:
                lines.append(" " * 13 + "· " + _clip(part, TEXT_WIDTH - 15))
            if len(parts) > EVIDENCE_PARTS:
                lines.append(" " * 13 + f"· ... and {len(parts) - EVIDENCE_PARTS} more (articles/, mt_evidence)")
    if len(p) > max_articles:
        lines.append(f"... and {len(p) - max_articles} more (see articles/)")
    return lines


def _quality_article_lines(articles, max_articles: int) -> list[str]:
    """The ranking of an output without ``mt_probability``: articles by quality, worst first."""
    q = _column(articles, "quality")
    order = _order(q, q, descending=False)
    lines = ["", f"{'quality':>7}  {'flagged':>7}  {'sents':>5}  article"]
    for r in _rows(articles, order[:max_articles], ["article_id", "quality", "flagged_share", "n_sentences"]):
        lines.append(_article_line(r))
    if len(q) > max_articles:
        lines.append(f"... and {len(q) - max_articles} more (see articles/)")
    return lines


def _flags(row: dict) -> str:
    return ", ".join(printable(f) for f in (row.get("flags") or [])) or "-"


def _sentence_lines(sentences, worst: int) -> list[str]:
    """The most machine-like sentences; without any ``mt_probability`` to rank by, the lowest-quality ones."""
    q = _column(sentences, "quality")
    p = _column(sentences, "mt_probability") if "mt_probability" in sentences.column_names else np.full(len(q), np.nan)
    columns = ["article_id", "sentence_id", "quality", "flags", "text", "mt_probability"]
    lines = [""]
    n_mt = int((~np.isnan(p)).sum())
    if n_mt:
        rows = _rows(sentences, _order(p, q, descending=True)[: min(worst, n_mt)], columns)
        lines.append(f"Worst {len(rows)} sentence(s) by MT probability (most machine-like first):")
        lines.append(f"{'MT prob':>7}  {'quality':>7}  sentence  [flags]")
        for r in rows:
            lines.append(f"{_num(r['mt_probability']):7.2f}  {_fmt(_num(r.get('quality')), '7.3f', 7)}  "
                         f"{printable(r['article_id'])}#{r['sentence_id']}  [{_flags(r)}]")
            lines.append(textwrap.indent(_clip(r.get("text") or "", TEXT_WIDTH), " " * 18))
        return lines
    rows = _rows(sentences, _order(q, q, descending=False)[:worst], columns)
    lines.append(f"Worst {len(rows)} sentence(s):")
    for r in rows:
        lines.append(f"{_fmt(_num(r.get('quality')), '7.3f', 7)}  {printable(r['article_id'])}#{r['sentence_id']}  "
                     f"[{_flags(r)}]")
        lines.append(textwrap.indent(_clip(r.get("text") or "", TEXT_WIDTH), " " * 9))
    return lines


def format_summary(run_info: dict[str, Any], sentences, articles, worst: int = 5, max_articles: int = 10,
                   evidence_articles: int = EVIDENCE_ARTICLES) -> str:
    """The summary text: counts, the article ranking, the worst sentences, where the output is.

    ``sentences`` and ``articles`` are the written tables (``pyarrow.Table`` s, as the CLI reads
    them without importing ``datasets``, or ``datasets.Dataset`` s). With an
    ``mt_probability`` column the ranking is by it; without (older outputs) by quality.
    """
    counts, timings = run_info["counts"], run_info.get("timings", {})
    lines = [
        f"Scored {counts['articles']} article(s), {counts['sentences']} sentence(s) "
        f"with {printable(run_info['model']['name'])} in {timings.get('score_s', 0):.1f} s "
        f"({timings.get('sentences_per_s') or 0:.1f} sentences/s).",
    ]
    if counts.get("input_errors"):
        lines.append(f"{counts['input_errors']} input problem(s) reported above; those inputs were skipped.")
    if len(articles):
        if "mt_probability" in articles.column_names:
            lines.extend(_article_lines(articles, max_articles, evidence_articles))
        else:
            lines.extend(_quality_article_lines(articles, max_articles))
    if worst and len(sentences):
        lines.extend(_sentence_lines(sentences, worst))
    lines.append("")
    out = printable(run_info["output"])
    lines.append(f"Output: {out}  (datasets.load_from_disk('{out}/sentences'))")
    return "\n".join(lines)
