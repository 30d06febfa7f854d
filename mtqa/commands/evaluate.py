"""``python -m mtqa evaluate``: agreement of scored output with human judgements."""

from __future__ import annotations

import argparse
import shlex
import sys

from mtqa.errors import ConfigError

HELP = "compare scores with human judgements (Spearman/Pearson/Kendall with bootstrap CIs; span MCC/F1)"

EPILOG = """\
workflow:
  mtqa evaluate --export-gold GOLD -o segments.jsonl     # MT output with the gold ids
  mtqa score segments.jsonl --unit segment -o OUT        # one segment per gold record
  mtqa evaluate OUT --gold GOLD [--group-by system] [--spans]

gold formats (auto-detected), their ids and default scores:
  mlqe           MLQE-PE DA .tar.gz/.tsv   id "{lp}:{index}", e.g. ro-en:0     z_mean
  wmtqe22        WMT QE 2022 MQM CSV       id = unnamed first column (row no.)  z_score
  mqm-ted        Google MQM TSV, <v> spans id "{system}:{doc_id}:{seg_id}"     mqm
  wmtqe23-spans  WMT QE 2023 span TSV      id "{system}:{doc}:{seg_id}"        mqm
  csv/tsv/jsonl/parquet                    id column 'id' (--gold-key)          --gold-column

Correlations are reported as they are: higher quality agreeing with a higher gold score
(MQM = minus error weight; DA z-scores) is positive.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mtqa.evaluate.gold import FORMATS
    from mtqa.evaluate.predictions import AGGREGATES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "predictions",
        nargs="?",
        metavar="OUT",
        help="a 'mtqa score' output folder, a saved dataset, or a .jsonl/.csv/.parquet of predictions",
    )
    g = parser.add_argument_group("gold")
    g.add_argument("--gold", metavar="FILE", help="gold judgements file")
    g.add_argument("--gold-format", choices=FORMATS, default="auto", help="gold file format (default: auto)")
    g.add_argument("--gold-column", metavar="NAME", help="gold score (default: the format's usual one)")
    g.add_argument("--gold-key", metavar="NAME", help="gold id column (tables; default 'id') or a field to re-key by")
    g.add_argument("--gold-text-column", metavar="NAME", help="tables: MT output column (default: text/mt/translation/target)")
    g.add_argument("--gold-source-column", metavar="NAME", help="tables: source column (default: source/src/original)")
    g.add_argument("--gold-spans-column", metavar="NAME", help="tables: error spans or OK/BAD word tags column")
    p = parser.add_argument_group("predictions and join")
    p.add_argument("--pred-column", default="quality", metavar="NAME", help="predicted score column (default: quality)")
    p.add_argument("--key", default="article_id", metavar="NAME", help="prediction key column (default: article_id)")
    p.add_argument("--join", choices=("key", "order"), default="key", help="join by id (default) or by position")
    p.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        default="mean",
        help="how several rows of one key (sentences of an article) are combined (default: mean)",
    )
    p.add_argument(
        "--group-by",
        action="append",
        metavar="COLS",
        help="also report per group: comma-separated columns of the gold or the predictions; a+b groups by both",
    )
    s = parser.add_argument_group("statistics")
    s.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default: 1000; 0: none)")
    s.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    s.add_argument("--spans", action="store_true", help="also compare predicted with gold error spans (word-level MCC/F1)")
    s.add_argument("--span-labels", metavar="LABELS", help="comma-separated predicted span labels to use (default: all)")
    o = parser.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", help="write all figures to this JSON file")
    o.add_argument("--export-gold", metavar="GOLD", help="write GOLD's MT output (id, text, source) as JSONL and stop")
    o.add_argument("-o", "--output", metavar="FILE", help="with --export-gold: the JSONL to write ('-': stdout)")


def _export(args) -> int:
    from mtqa.evaluate.gold import export_segments

    if args.predictions or args.gold:
        raise ConfigError("--export-gold takes the gold file itself; leave out OUT and --gold")
    if not args.output:
        raise ConfigError("--export-gold needs -o FILE.jsonl (or -o - for stdout)")
    gold = _load_gold(args, args.export_gold)
    n = export_segments(gold, args.output)
    if args.output != "-":
        fmt = "" if args.gold_format == "auto" else f" --gold-format {args.gold_format}"
        print(f"wrote {n:,} segments to {args.output} (id = {gold.id_rule}; format {gold.format})")
        print("next:")
        print(f"  python -m mtqa score {shlex.quote(args.output)} --unit segment -o OUT")
        print(f"  python -m mtqa evaluate OUT --gold {shlex.quote(args.export_gold)}{fmt}")
    return 0


def _load_gold(args, path: str):
    from mtqa.evaluate.gold import load_gold

    return load_gold(
        path,
        args.gold_format,
        key=args.gold_key,
        score=args.gold_column,
        text=args.gold_text_column,
        source=args.gold_source_column,
        spans=args.gold_spans_column,
    )


def run(args) -> int:
    if args.export_gold:
        return _export(args)
    if not args.predictions or not args.gold:
        raise ConfigError("evaluate needs OUT and --gold FILE (or --export-gold FILE -o segments.jsonl)")
    if args.bootstrap < 0:
        raise ConfigError("--bootstrap must be 0 or more")
    if args.output:
        raise ConfigError("-o is for --export-gold; use --json FILE to save the figures")

    from mtqa.evaluate.benchmark import Options, evaluate, parse_group_by, resolve_group_sources
    from mtqa.evaluate.predictions import load_predictions
    from mtqa.evaluate.report import format_report, write_json

    gold = _load_gold(args, args.gold)
    score = args.gold_column or gold.default_score
    opts = Options(
        pred_column=args.pred_column,
        key=args.key,
        join=args.join,
        aggregate=args.aggregate,
        group_by=parse_group_by(args.group_by),
        bootstrap=args.bootstrap,
        seed=args.seed,
        spans=args.spans,
        span_labels=[x.strip() for x in args.span_labels.split(",") if x.strip()] if args.span_labels else None,
    )
    if opts.spans and not gold.has_spans:
        raise ConfigError(f"--spans: the gold ({gold.format}) has no error spans")
    group_cols = [c for spec in opts.group_by for c in spec if c not in set(gold.field_names())]
    required = [opts.pred_column] + ([opts.key] if opts.join == "key" else [])
    optional = [opts.key, *group_cols]
    if opts.spans:
        required += ["text", "spans"]
        optional.append("start")
    pred = load_predictions(args.predictions, required, optional)
    sources = resolve_group_sources(gold, list(pred.columns), opts.group_by)
    result = evaluate(pred, gold, score, opts, sources)
    for warning in result["warnings"]:
        print(f"mtqa: warning: {warning}", file=sys.stderr, flush=True)
    print(format_report(result))
    if args.json:
        write_json(result, args.json)
        print(f"\nfigures written to {args.json}")
    sys.stdout.flush()
    return 0
