"""Entry point: ``python -m mtqa`` / ``mtqa``. Dispatches to mtqa.commands.*; prints one line per error."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys

from mtqa import __version__
from mtqa.commands import COMMANDS, load
from mtqa.errors import MtqaError
from mtqa.text import printable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtqa", description="Sentence-level quality assessment of machine-translated English.")
    parser.add_argument("--version", action="version", version=f"mtqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"mtqa.commands.{COMMANDS[name]}") is None:
            continue
        module = load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--debug", action="store_true", help="show full tracebacks and library warnings")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _quiet_libraries() -> None:
    """Keep transformers/datasets chatter off the user's terminal (``--debug`` shows it)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if not args.debug:
        _quiet_libraries()
    try:
        return int(args._module.run(args) or 0)
    except MtqaError as exc:
        if args.debug:
            raise
        print(f"mtqa: error: {printable(exc)}", file=sys.stderr)  # paths/ids in it come from the user
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("mtqa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen environment problem: still one line
        if args.debug:
            raise
        print(f"mtqa: internal error: {type(exc).__name__}: {printable(exc)} (run again with --debug for the traceback)",
              file=sys.stderr)
        return 3
