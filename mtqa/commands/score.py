"""``mtqa score``: score articles into a ``datasets`` folder."""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from mtqa.commands.flags import Flag, add_config_flags, config_overrides

if TYPE_CHECKING:
    from mtqa.config import JobConfig
    from mtqa.errors import InputError

# The pipeline (torch, transformers, datasets) and the config model (pydantic) are imported
# where they are used, not here: the CLI imports every command module to list them, and
# ``mtqa --version``, ``mtqa score --help`` or a typo must not wait seconds for torch.

HELP = "score articles sentence by sentence (files, folders, or a YAML job via --config)"


FORMATS = ("parquet", "jsonl", "csv")


def _formats(value: str) -> list[str]:
    """``--format parquet,csv`` and ``--format parquet csv`` alike (checked in :func:`split_formats`)."""
    return [v.strip() for v in value.split(",") if v.strip()]


#: Every flag that sets a config key: help, type, choices and the shown default come from the
#: field in mtqa.config (see mtqa.commands.flags), so a new setting gets its flag by one line here.
FLAGS = (
    Flag("--report", "report"),
    Flag("--output", "output", short="-o", options={"metavar": "OUT"}),
    Flag("--overwrite", "overwrite"),
    Flag("--unit", "unit"),
    Flag("--format", "formats", extra_help="(several values, a comma list, or the flag repeated)",
         options={"dest": "formats", "type": _formats, "metavar": "FORMAT"}),
    Flag("--no-progress", "progress", const=False, options={"help": "no progress bar on stderr"}),
    Flag("--articles-per-chunk", "articles_per_chunk"),
    Flag("--model", "model.name"),
    Flag("--device", "model.device"),
    Flag("--dtype", "model.dtype"),
    Flag("--batch-size", "model.batch_size"),
    Flag("--batch-tokens", "model.batch_tokens"),
    Flag("--threads", "model.threads"),
    Flag("--quantize", "model.quantize"),
    Flag("--text-column", "columns.text"),
    Flag("--id-column", "columns.id"),
    Flag("--source-column", "columns.source"),
    Flag("--reference-column", "columns.reference"),
    Flag("--word-order-threshold", "scoring.word_order_threshold"),
    Flag("--flag-quality", "scoring.flag_quality"),
    Flag("--mt-prior", "scoring.mt_prior"),
    Flag("--engine", "engine"),
    Flag("--workers", "workers"),
    Flag("--num-shards", "num_shards"),
    Flag("--shard-index", "shard_index"),
    Flag("--ray-address", "ray.address"),
    Flag("--ray-actors", "ray.num_actors"),
)

#: --help headings for the flags of one config section
GROUPS = {"model": "model", "columns": "table columns", "scoring": "scoring thresholds", "ray": "ray engine (--engine ray)"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from mtqa.config import JobConfig

    p.add_argument("inputs", nargs="*", help=JobConfig.model_fields["inputs"].description)
    p.add_argument("-c", "--config", help="YAML job file; flags given here override its values")
    p.add_argument("--no-server", action="store_true",
                   help="score in this process even when a model server (mtqa serve) is running")
    add_config_flags(p, FLAGS, JobConfig, GROUPS)


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
    """The flags given, as dotted config keys (None: not given, the config file or default decides)."""
    inputs = list(args.inputs or [])
    values = config_overrides(args, FLAGS)
    values["formats"] = split_formats([f for group in args.formats for f in group] if args.formats else None, inputs)
    values["inputs"] = inputs or None
    return values


def _print_error(err: InputError) -> None:
    print(f"mtqa: {'warning' if err.warning else 'error'}: {err}", file=sys.stderr, flush=True)


#: set by a resident server (:mod:`mtqa.serve`) while it runs a job: (config, log) -> Engine
#: around a model it keeps loaded; None: each run loads its own
ENGINE_FACTORY = None


def _api_engine(config: JobConfig, log):
    """The local engine around the API's scorer (:func:`mtqa.api.from_config`): ``mtqa score`` and
    ``mtqa.load(...).score`` share one object. ``run_job`` calls this after its checks, so a
    refused job never loads the model."""
    if ENGINE_FACTORY is not None:
        return ENGINE_FACTORY(config, log)
    from mtqa import api

    return api.from_config(config, log=log).engine()


def run(args: argparse.Namespace) -> int:
    from mtqa.config import load_config
    from mtqa.pipeline import run_job
    from mtqa.progress import ProgressBar
    from mtqa.summary import format_summary

    config = load_config(args.config, overrides(args))
    bar = ProgressBar() if config.progress else None
    try:
        # engine: ray and workers > 1 build their own models (one in each actor / worker process)
        result = run_job(config, on_error=_print_error, progress=bar,
                         engine=None if config.engine == "ray" or config.workers > 1 else _api_engine)
    finally:
        if bar is not None:
            bar.close()
    info = result.run_info | {"output": str(result.out)}
    # read with pyarrow: loading them as datasets.Dataset s would import datasets (about a second)
    print(format_summary(info, result.datasets.table("sentences"), result.datasets.table("articles"),
                         worst=config.summary_worst))
    if config.report:
        from mtqa.report import write_report

        print(f"Report: {write_report(result.out)}")
    return 1 if result.failed_inputs else 0
