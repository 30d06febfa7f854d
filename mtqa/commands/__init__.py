"""One module per ``python -m mtqa <command>``; each exposes ``HELP``, ``add_arguments`` and ``run``.

The CLI only assembles: argument parsing lives here, the work lives in the library modules.
"""

from __future__ import annotations

import importlib

#: command name -> module under mtqa.commands
COMMANDS = {
    "score": "score",
    "download": "download",
    "evaluate": "evaluate",
    "report": "report",
    "train": "train",
    "merge": "merge",
    "serve": "serve",
}


def load(name: str):
    return importlib.import_module(f"mtqa.commands.{COMMANDS[name]}")
