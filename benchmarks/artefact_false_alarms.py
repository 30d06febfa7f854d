"""False alarms of the rule-based artefact detectors on fluent English, and their hits on the seed.

* Fluent: the 7,000 native English Wikipedia sentences (column ``original``) of MLQE-PE
  en-de train. Sentence-level rules see each sentence alone; article-level rules
  (``name_mismatch``, ``repeated_sentence``) also run over fake articles made of consecutive
  groups of ``--group`` sentences, one per line. Printed: per label, the share of fluent
  sentences flagged (target: under 1% for every rule).
* Seed: the machine-translated seed article; printed: the labels and spans per sentence.
* ``--mt`` (optional): the same kind of tar.gz with a ``translation`` column (MLQE-PE
  xx-en MT output), for contrast: how often the rules fire on real MT.

    python benchmarks/artefact_false_alarms.py [--fluent PATH] [--seed PATH] [--show 5]

Data paths are arguments; nothing from ../shared is copied into the project.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

from mtqa.segment import segment
from mtqa.signals.artefacts import LABELS, ArtefactSettings, ArtefactSignal
from mtqa.types import Article, Sentence

ARTICLE_LEVEL = ("name_mismatch", "repeated_sentence")


def read_column(path: Path, column: str) -> list[str]:
    """The ``column`` of the (single) TSV inside a MLQE-PE tar.gz."""
    csv.field_size_limit(sys.maxsize)
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".tsv")]
        if not members:
            raise SystemExit(f"error: no .tsv file inside {path}")
        with io.TextIOWrapper(tar.extractfile(members[0]), encoding="utf-8") as f:
            rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if column not in (rows.fieldnames or []):
                raise SystemExit(f"error: {path} has no column {column!r} (columns: {rows.fieldnames})")
            return [r[column] for r in rows if r[column] and r[column].strip()]


def one_sentence_article(i: int, text: str) -> Article:
    text = " ".join(text.split())
    article = Article(f"fluent-{i}", text, f"fluent:row {i}")
    article.sentences = [Sentence(article.article_id, 0, 0, 0, len(text), text)]
    return article


def grouped_articles(texts: list[str], size: int) -> list[Article]:
    articles = []
    for g in range(0, len(texts), size):
        text = "\n".join(" ".join(t.split()) for t in texts[g:g + size])
        article = Article(f"group-{g}", text, f"fluent:rows {g}-{g + size - 1}")
        article.sentences = segment(article)
        articles.append(article)
    return articles


def flagged_share(signal: ArtefactSignal, articles: list[Article], show: int):
    out = signal.compute(articles)
    sentences = [s for a in articles for s in a.sentences]
    counts: Counter = Counter()
    examples: dict[str, list[str]] = {}
    for sentence, flags, spans in zip(sentences, out.flags, out.spans):
        for label in flags:
            counts[label] += 1
            if len(examples.setdefault(label, [])) < show:
                note = next(s.note for s in spans if s.label == label)
                examples[label].append(f"      {sentence.text[:160]!r}\n        -> {note}")
    return len(sentences), counts, examples


def print_table(title: str, n: int, counts: Counter, examples: dict, labels) -> bool:
    print(f"\n{title} ({n} sentences)")
    print(f"  {'label':<18} {'flagged':>7} {'share':>7}")
    ok = True
    for label in labels:
        share = counts[label] / max(n, 1)
        ok &= share < 0.01
        print(f"  {label:<18} {counts[label]:>7} {share:>7.2%}{'  <-- over 1%' if share >= 0.01 else ''}")
        for line in examples.get(label, []):
            print(line)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fluent", type=Path, default=Path("../shared/data/fluent-en/mlqepe-en-de-train.tar.gz"))
    ap.add_argument("--seed", type=Path, default=Path("../shared/data/seed/sputnik-nato-brussels.txt"))
    ap.add_argument("--mt", type=Path, default=None, help="optional MLQE-PE xx-en tar.gz: rates on its MT output")
    ap.add_argument("--group", type=int, default=10, help="sentences per fake article for article-level rules")
    ap.add_argument("--show", type=int, default=0, help="print up to N flagged examples per label")
    args = ap.parse_args(argv)

    for path, what in ((args.fluent, "--fluent"), (args.seed, "--seed"), (args.mt, "--mt")):
        if path is not None and not path.is_file():
            print(f"error: {what} file not found: {path} (run from the project root, or pass {what} PATH)",
                  file=sys.stderr)
            return 2

    # On fluent text the position condition of bare_verb_start is dropped: single sentences are
    # all paragraph-initial, so the default signal could not fire there; this measures the rule.
    default = ArtefactSignal()
    signal = ArtefactSignal(ArtefactSettings(bare_verb_anywhere=True))
    print(f"signal (seed): {default.signature()}")
    print(f"signal (fluent, --mt): {signal.signature()}")
    t0 = time.perf_counter()
    fluent = read_column(args.fluent, "original")
    singles = [one_sentence_article(i, t) for i, t in enumerate(fluent)]
    n, counts, ex = flagged_share(signal, singles, args.show)
    ok = print_table(f"Fluent English, one sentence per article: {args.fluent.name}", n, counts, ex, LABELS)
    groups = grouped_articles(fluent, args.group)
    n, counts, ex = flagged_share(signal, groups, args.show)
    ok &= print_table(f"Fluent English, fake articles of {args.group} consecutive sentences (article-level rules)",
                      n, counts, ex, ARTICLE_LEVEL)
    print(f"\nall rules under 1% on fluent English: {'yes' if ok else 'NO'}  ({time.perf_counter() - t0:.1f}s)")

    if args.mt is not None:
        mt = [one_sentence_article(i, t) for i, t in enumerate(read_column(args.mt, "translation"))]
        n, counts, ex = flagged_share(signal, mt, args.show)
        print_table(f"MT output (contrast, not a false-alarm measure): {args.mt.name}", n, counts, ex, LABELS)

    text = args.seed.read_text(encoding="utf-8")
    article = Article(args.seed.stem, text, str(args.seed))
    article.sentences = segment(article)
    out = default.compute([article])
    print(f"\nSeed article {args.seed.name} ({len(article.sentences)} sentences)")
    fired: Counter = Counter()
    for sentence, flags, spans in zip(article.sentences, out.flags, out.spans):
        if not flags:
            continue
        fired.update(flags)
        print(f"  [{sentence.sentence_id}] {sentence.text[:90]!r}")
        for span in spans:
            print(f"      {span.label:<18} {text[span.start:span.end]!r:<40} {span.note}")
    print("  labels fired on the seed: " + ", ".join(f"{k} ({v})" for k, v in sorted(fired.items())))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
