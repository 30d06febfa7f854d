"""The page's stylesheet and script: package files inlined into every report (no external files).

``static/report.css`` and ``static/report.js`` ship as package data and are read once per
process. Neither contains anything from the input: data reaches the script only through
escaped HTML attributes and text, never through JSON inside ``<script>``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def _static(name: str) -> str:
    return resources.files("mtqa.report").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def css() -> str:
    return _static("report.css")


def js() -> str:
    return _static("report.js")
