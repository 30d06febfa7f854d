"""``mtqa report``: one self-contained HTML page for a scored output folder.

    from mtqa.report import write_report
    write_report("out/")                      # -> out/report.html

The page answers *does this article look machine-translated, how sure are we, and where does
it show?*: articles ranked and coloured by ``mt_probability`` (quality shown next to it), each
article view with its probability, language and ``mt_evidence``, sentences shaded by their
``mt_probability``. Outputs without those columns (written before the detector) are ranked by
quality, as before. The page needs no network (styles and script are inline, charts are
inline SVG) and limits itself on large jobs: article views for the first ``max_articles``
articles of the ranking, a sentence table of the first ``max_sentences`` sentences, each
stating what it left out.
"""

from __future__ import annotations

from pathlib import Path

from mtqa.errors import MtqaError, OutputError

DEFAULT_MAX_ARTICLES = 50
DEFAULT_MAX_SENTENCES = 2000
DEFAULT_MAX_ARTICLE_CHARS = 60_000

__all__ = ["write_report", "render_report", "DEFAULT_MAX_ARTICLES", "DEFAULT_MAX_SENTENCES"]


def render_report(
    out_dir: str | Path,
    max_articles: int = DEFAULT_MAX_ARTICLES,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS,
    title: str | None = None,
) -> str:
    """The report page for ``out_dir`` as a string."""
    from mtqa.report.html import build_html
    from mtqa.report.load import load

    for name, value in (("max_articles", max_articles), ("max_sentences", max_sentences),
                        ("max_article_chars", max_article_chars)):
        if value < 0:
            raise MtqaError(f"{name} must be 0 or more, got {value}")
    data = load(out_dir, max_articles=max_articles, max_sentences=max_sentences)
    return build_html(data, title=title, max_article_chars=max_article_chars)


def write_report(
    out_dir: str | Path,
    path: str | Path | None = None,
    max_articles: int = DEFAULT_MAX_ARTICLES,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS,
    title: str | None = None,
) -> Path:
    """Write the report for the scored folder ``out_dir`` to ``path`` (default ``out_dir/report.html``)."""
    page = render_report(out_dir, max_articles=max_articles, max_sentences=max_sentences,
                         max_article_chars=max_article_chars, title=title)
    target = Path(path) if path is not None else Path(out_dir) / "report.html"
    if target.is_dir():
        target = target / "report.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
