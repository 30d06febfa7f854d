"""Entry point: ``python -m mtqa`` / ``mtqa``. Dispatches to mtqa.commands.*; prints one line per error."""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Collection, Sequence
from typing import NoReturn

from mtqa import __version__
from mtqa.commands import COMMANDS, load
from mtqa.errors import MtqaError
from mtqa.text import printable


class Parser(argparse.ArgumentParser):
    """argparse, with errors a new user can act on: one usage line, one error line, and a
    "did you mean" for a mistyped flag or command (exit code 2, as argparse)."""

    def error(self, message: str) -> NoReturn:
        # printable: the message quotes what the user typed, which may hold terminal escapes
        self.exit(2, f"usage: {self.short_usage()}\n{self.prog}: error: {printable(message)}{self._suggestion(message)}\n")

    def short_usage(self) -> str:
        """``mtqa score [options] [inputs ...]``: the full usage of ``score`` runs to 17 lines, too
        many to find the error under; ``--help`` has it."""
        formatter = self._get_formatter()
        needed = [a for a in self._actions if not a.option_strings or a.required]  # positionals, required flags
        formatter.add_usage(None, needed, [], prefix="")
        rest = formatter.format_help().strip()[len(self.prog):].strip()
        return " ".join(filter(None, (self.prog, "[options]", rest))) + f"   (all options: {self.prog} --help)"

    def option_strings(self) -> list[str]:
        return [s for a in self._actions for s in a.option_strings]

    def suggest_option(self, arg: str) -> str | None:
        """The closest option to a mistyped one (``--overwite`` -> ``--overwrite``), if any is close."""
        if not arg.startswith("-"):
            return None
        typed = arg.split("=", 1)[0]
        close = difflib.get_close_matches(typed, self.option_strings(), n=1, cutoff=0.6)
        return close[0] if close else None

    def _suggestion(self, message: str) -> str:
        """A "did you mean" for an invalid choice (a command, ``--unit sentence``)."""
        if "did you mean" in message or "maybe you meant" in message:  # Python 3.14+ suggests by itself
            return ""
        match = re.search(r"invalid choice: (.*?) \(choose from (.*)\)$", message)  # quoted or not, by version
        if not match:
            return ""
        choices = [c.strip().strip("'") for c in match.group(2).split(",")]
        close = difflib.get_close_matches(match.group(1).strip("'"), choices, n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""


class CommandParser(Parser):
    """The parser of one subcommand. Everything after ``mtqa score`` is ``score``'s, so an
    argument it does not know is reported here, with ``score``'s usage and a suggestion,
    rather than by the top-level parser with the top-level usage."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            words = []
            for arg in extras:
                close = self.suggest_option(arg)
                words.append(f"{arg} (did you mean {close}?)" if close else arg)
            self.error(f"unrecognized argument{'s' if len(extras) > 1 else ''}: {', '.join(words)}")
        return parsed, extras


def build_parser(only: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``mtqa`` parser. ``only``: the commands whose arguments are filled in (None: all);
    the others are still listed with their one-line help, so ``mtqa --help`` and a mistyped
    command read the same. Filling in a command's arguments can import what its defaults and
    choices come from (pydantic for ``score``, scipy for ``evaluate``), which ``mtqa --version``
    and ``mtqa report ...`` should not wait for."""
    parser = Parser(prog="mtqa", description="Sentence-level quality assessment of machine-translated English.")
    parser.add_argument("--version", action="version", version=f"mtqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in COMMANDS:
        if importlib.util.find_spec(f"mtqa.commands.{COMMANDS[name]}") is None:
            continue
        module = load(name)  # light: command modules import their heavy dependencies in run()
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if only is None or name in only:
            p.add_argument("--debug", action="store_true", help="show full tracebacks and library warnings")
            module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _command_in(argv: Sequence[str]) -> set[str]:
    """The command ``argv`` names, as a set for :func:`build_parser` (empty: none). The top-level
    options (``--help``, ``--version``) take no value, so the first word that is not an option
    is the command."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return {word} if word in COMMANDS else set()


#: Warnings libraries emit during normal runs that a user can do nothing about, as (category,
#: message regex); found with ``python -W always -m mtqa score ... --debug`` over the inputs,
#: formats, units, dtypes and ``--quantize int8``. Only these are hidden (not with ``--debug``):
#: mtqa's own warnings and any unexpected one still reach the user.
KNOWN_LIBRARY_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # --quantize int8: torch deprecates torch.ao.quantization.quantize_dynamic (mtqa pins torch)
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor"),
)


#: commands whose process imports torch without its meta-kernel registrations until a path needs
#: them (:mod:`mtqa.models.lazy_torch`: 0.35-0.45 s of every cold start)
LAZY_TORCH_COMMANDS = ("score", "serve")


def _quiet_libraries() -> None:
    """Keep transformers/datasets chatter and the known library warnings off the user's terminal
    (``--debug`` shows them)."""
    # Through the environment, which each library reads when it is imported: importing them here
    # to call their switches cost 1.1 s of every `mtqa score`, which may never import transformers.
    for name, value in (("TOKENIZERS_PARALLELISM", "false"), ("TRANSFORMERS_VERBOSITY", "error"),
                        ("DATASETS_VERBOSITY", "error"), ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"),
                        ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):  # transformers' bars follow the hub's setting
        os.environ.setdefault(name, value)
    import warnings

    for category, message in KNOWN_LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    if "datasets" in sys.modules:  # imported already (mtqa called from Python): too late for the environment
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    if "transformers" in sys.modules:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(only=_command_in(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if args.command == "score" and not args.no_server:
        from mtqa.serve import run_remote  # light: no torch, no datasets

        code = run_remote(argv)  # a resident model server (mtqa serve) runs the job, if one listens
        if code is not None:
            return code
    if not args.debug:
        _quiet_libraries()
    if args.command in LAZY_TORCH_COMMANDS:
        from mtqa.models.lazy_torch import import_torch_deferred

        import_torch_deferred()
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
