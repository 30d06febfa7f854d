"""The Jinja2 environment the page is rendered with.

Autoescaping is on, so every value from the input is escaped by the template engine wherever
it lands, in text and in attributes alike. Line breaks and indentation in the templates are
dropped when they are loaded (:class:`_Spaceless`), so a template can be laid out for reading
without putting whitespace between inline elements of the page; a space the page needs is
written out in the template.
"""

from __future__ import annotations

import functools
import re

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension

from mtqa.report.format import data_value, fnum, fpct, fq, fsig, mbin, plural, qbin


class _Spaceless(Extension):
    """Drop each line break and the indentation after it from template sources at load time."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"\n[ \t]*", "", source)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mtqa.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=[_Spaceless],
    )
    env.filters.update(fq=fq, fpct=fpct, fnum=fnum, fsig=fsig, plural=plural, qbin=qbin, mbin=mbin,
                       data_value=data_value)
    return env
