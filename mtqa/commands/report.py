"""``mtqa report OUT``: write OUT/report.html, a self-contained page to browse the scores."""

from __future__ import annotations

import argparse

from mtqa.errors import MtqaError

HELP = ("write a self-contained HTML report (articles ranked by MT probability, article views with the evidence, "
        "sentence table) for a scored folder")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mtqa.report import DEFAULT_MAX_ARTICLES, DEFAULT_MAX_SENTENCES

    parser.add_argument("out", metavar="OUT", help="a folder written by `mtqa score`")
    parser.add_argument("-o", "--output", metavar="PATH", help="where to write the page (default: OUT/report.html)")
    parser.add_argument("--max-articles", type=_count, default=DEFAULT_MAX_ARTICLES, metavar="N",
                        help=f"article views for the first N articles of the ranking: the most likely "
                             f"machine-translated (the lowest-quality on outputs without mt_probability) "
                             f"(default: {DEFAULT_MAX_ARTICLES})")
    parser.add_argument("--max-sentences", type=_count, default=DEFAULT_MAX_SENTENCES, metavar="M",
                        help=f"the sentence table holds the first M sentences of the ranking: the most likely "
                             f"machine-translated (the lowest-quality on outputs without mt_probability) "
                             f"(default: {DEFAULT_MAX_SENTENCES})")
    parser.add_argument("--title", help="page title (default: 'Machine translation and quality: <folder name>', "
                                        "'Translation quality: <folder name>' on outputs without mt_probability)")


def run(args: argparse.Namespace) -> int:
    from mtqa.report import write_report

    if args.out is None:
        raise MtqaError("give the scored output folder: mtqa report OUT")
    path = write_report(args.out, path=args.output, max_articles=args.max_articles,
                        max_sentences=args.max_sentences, title=args.title)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1024:,.0f} KB)")
    return 0
