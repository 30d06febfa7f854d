"""``mtqa score``: score articles into a ``datasets`` folder."""

from __future__ import annotations

import argparse
import sys

from mtqa.config import load_config
from mtqa.errors import InputError
from mtqa.pipeline import run_job
from mtqa.summary import format_summary

HELP = "score articles sentence by sentence (files, folders, or a YAML job via --config)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", help=".txt/.jsonl/.csv/.tsv/.parquet files, datasets folders, or folders of these")
    p.add_argument("--report", action="store_true", default=None, help="also write OUT/report.html")
    p.add_argument("-c", "--config", help="YAML job file; flags given here override its values")
    p.add_argument("-o", "--output", help="output folder: new or empty (an unfinished job there with the same settings "
                                          "is resumed); never the working directory or a folder holding an input")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="replace a previous mtqa output in OUT (only mtqa's own files are deleted; a folder holding "
                        "other files is refused)")
    p.add_argument("--unit", choices=["article", "segment"], help="split texts into sentences (article) or keep each row whole (segment)")
    p.add_argument("--format", dest="formats", action="extend", nargs="+", type=_formats, metavar="FORMAT",
                   help="also export both tables as parquet, jsonl and/or csv (several values, a comma list, "
                        "or the flag repeated)")
    p.add_argument("--model", help="embedded model name, local folder or Hugging Face id")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--batch-size", type=int, help="sentences per forward pass at most")
    p.add_argument("--batch-tokens", type=int, help="padded tokens per forward pass at most")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--text-column", help="column holding the text in table inputs (default: text)")
    p.add_argument("--id-column", help="column holding the article id (default: id)")
    p.add_argument("--source-column", help="column holding the source text in table inputs (default: source)")
    p.add_argument("--reference-column", help="column holding a reference translation (default: reference)")
    p.add_argument("--word-order-threshold", type=float,
                   help="flag word_order when a reordering gains this much normalised log-prob (default 5.0)")
    p.add_argument("--flag-quality", type=float, help="sentences below this quality get low_quality (default 0.5)")
    p.add_argument("--quantize", choices=["none", "int8"], help="int8: dynamic int8 quantisation (CPU, float32)")
    p.add_argument("--articles-per-chunk", type=int, help="articles segmented, scored and written together (default 32)")
    p.add_argument("--num-shards", type=int, help="split the job into N deterministic parts (job arrays); join with `mtqa merge`")
    p.add_argument("--shard-index", type=int, help="which part (0..N-1) this job scores")
    p.add_argument("--engine", choices=["local", "ray"], help="local (this process) or ray (Ray Data actors)")
    p.add_argument("--ray-address", help="Ray cluster address (default: RAY_ADDRESS or a local Ray instance)")
    p.add_argument("--ray-actors", type=int, help="Ray model actors (one model each)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


FORMATS = ("parquet", "jsonl", "csv")


def _formats(value: str) -> list[str]:
    """``--format parquet,csv`` and ``--format parquet csv`` alike (checked in :func:`split_formats`)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def split_formats(values: list[str] | None, inputs: list[str]) -> list[str] | None:
    """The export formats among ``--format``'s values. ``--format csv in.txt`` must still score
    ``in.txt``: argparse hands every word after ``--format`` to it, so a value that is not a
    format name but names a file or folder (or looks like a path) goes back to the inputs;
    anything else is a one-line error."""
    if not values:
        return None
    import os

    from mtqa.errors import ConfigError

    out = []
    for v in values:
        if v.lower() in FORMATS:
            out.append(v.lower())
        elif os.path.exists(v) or "." in v or "/" in v:
            inputs.append(v)
        else:
            raise ConfigError(f"--format: unknown format {v!r} (choose from {', '.join(FORMATS)})")
    return out


def overrides(args: argparse.Namespace) -> dict:
    inputs = list(args.inputs or [])
    formats = split_formats([f for group in args.formats for f in group] if args.formats else None, inputs)
    return {
        "inputs": inputs or None,
        "output": args.output,
        "overwrite": args.overwrite,
        "unit": args.unit,
        "formats": formats,
        "model.name": args.model,
        "model.device": args.device,
        "model.dtype": args.dtype,
        "model.batch_size": args.batch_size,
        "model.batch_tokens": args.batch_tokens,
        "model.threads": args.threads,
        "columns.text": args.text_column,
        "columns.id": args.id_column,
        "columns.source": args.source_column,
        "columns.reference": args.reference_column,
        "scoring.word_order_threshold": args.word_order_threshold,
        "scoring.flag_quality": args.flag_quality,
        "progress": False if args.no_progress else None,
        "report": args.report,
        "model.quantize": args.quantize,
        "articles_per_chunk": args.articles_per_chunk,
        "num_shards": args.num_shards,
        "shard_index": args.shard_index,
        "engine": args.engine,
        "ray.address": args.ray_address,
        "ray.num_actors": args.ray_actors,
    }


class _ProgressBar:
    """A tqdm bar on stderr, opened when scoring starts (after the model has loaded)."""

    def __init__(self) -> None:
        self.bar = None
        self.articles = 0

    def __call__(self, n_articles: int, n_sentences: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(unit=" sent", file=sys.stderr, desc="scoring", dynamic_ncols=True, mininterval=0.5)
        self.articles += n_articles
        self.bar.update(n_sentences)
        self.bar.set_postfix(articles=self.articles, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_error(err: InputError) -> None:
    print(f"mtqa: {'warning' if err.warning else 'error'}: {err}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, overrides(args))
    bar = _ProgressBar() if config.progress else None
    try:
        result = run_job(config, on_error=_print_error, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    info = result.run_info | {"output": str(result.out)}
    print(format_summary(info, result.datasets["sentences"], result.datasets["articles"], worst=config.summary_worst))
    if config.report:
        from mtqa.report import write_report

        print(f"Report: {write_report(result.out)}")
    return 1 if result.failed_inputs else 0
