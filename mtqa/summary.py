"""The short human summary printed on stdout at the end of ``score``.

Everything in it that comes from the input (ids, sentences, paths, the model name) goes
through :func:`mtqa.text.printable`: an id holding ``\r\n`` or an escape sequence must not
forge a line (``mtqa: error: ...``) or rewrite the user's terminal.
"""

from __future__ import annotations

import textwrap
from typing import Any

from mtqa.text import printable


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return printable(text if len(text) <= width else text[: width - 1] + "…")


def format_summary(run_info: dict[str, Any], sentences, articles, worst: int = 5, max_articles: int = 10) -> str:
    counts, timings = run_info["counts"], run_info.get("timings", {})
    lines = [
        f"Scored {counts['articles']} article(s), {counts['sentences']} sentence(s) "
        f"with {printable(run_info['model']['name'])} in {timings.get('score_s', 0):.1f} s "
        f"({timings.get('sentences_per_s') or 0:.1f} sentences/s).",
    ]
    if counts.get("input_errors"):
        lines.append(f"{counts['input_errors']} input problem(s) reported above; those inputs were skipped.")
    if len(articles):
        ranked = sorted(articles.select_columns(["article_id", "quality", "flagged_share", "n_sentences"]),
                        key=lambda r: r["quality"])
        lines.append("")
        lines.append(f"{'quality':>7}  {'flagged':>7}  {'sents':>5}  article")
        for r in ranked[:max_articles]:
            lines.append(f"{r['quality']:7.3f}  {r['flagged_share']:7.0%}  {r['n_sentences']:5d}  {printable(r['article_id'])}")
        if len(ranked) > max_articles:
            lines.append(f"... and {len(ranked) - max_articles} more (see articles/)")
    if worst and len(sentences):
        cols = sentences.select_columns(["article_id", "sentence_id", "quality", "flags", "text"])
        order = sorted(range(len(cols)), key=lambda i: cols[i]["quality"])[:worst]
        lines.append("")
        lines.append(f"Worst {len(order)} sentence(s):")
        for i in order:
            r = cols[i]
            flags = ", ".join(r["flags"]) or "-"
            lines.append(f"{r['quality']:7.3f}  {printable(r['article_id'])}#{r['sentence_id']}  [{flags}]")
            lines.append(textwrap.indent(_clip(r["text"], 110), " " * 9))
    lines.append("")
    out = printable(run_info["output"])
    lines.append(f"Output: {out}  (datasets.load_from_disk('{out}/sentences'))")
    return "\n".join(lines)
