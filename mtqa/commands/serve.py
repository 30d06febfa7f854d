"""``mtqa serve``: keep models loaded so that ``mtqa score`` starts in a second (:mod:`mtqa.serve`)."""

from __future__ import annotations

import argparse

HELP = "keep the model loaded and run `mtqa score` jobs sent to it (interactive use starts in about a second)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", help="Unix socket to listen on (default: $MTQA_SERVER, else $MTQA_HOME/serve.sock); "
                                    "clients find another path through $MTQA_SERVER")
    p.add_argument("--no-preload", action="store_true",
                   help="load a model with the first job that needs it, not at start")
    p.add_argument("--max-jobs", type=int, help="stop after this many jobs (default: run until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtqa.serve import Server

    Server(Path(args.socket) if args.socket else None).serve(preload=not args.no_preload, max_jobs=args.max_jobs)
    return 0
