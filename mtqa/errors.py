"""User-facing errors: one clear line each, no traceback unless ``--debug``."""

from __future__ import annotations

from mtqa.text import printable


class MtqaError(Exception):
    """An error caused by the user's input or environment, reported as one line."""

    exit_code = 2


class InputError(MtqaError):
    """A problem with one input (file or row): reported, skipped, the job goes on."""

    def __init__(self, where: str, message: str, *, warning: bool = False):
        # ``where`` names a file (and row) and ``message`` may quote an id: both come from
        # the input, so the printed line is escaped (a "\r\n" in an id cannot forge a line).
        # The attributes keep the raw values for run.json (JSON escapes them itself).
        super().__init__(f"{printable(where)}: {printable(message)}")
        self.where = where
        self.message = message
        #: a warning is reported but does not fail the job (e.g. a cp1252 file decoded)
        self.warning = warning

    def as_warning(self) -> "InputError":
        return InputError(self.where, self.message, warning=True)


class ConfigError(MtqaError):
    """A bad config key or value: reported before any scoring starts."""


class OutputError(MtqaError):
    """The output folder exists (without --overwrite) or cannot be written."""


class ModelError(MtqaError):
    """The model cannot be found, fetched or loaded."""
