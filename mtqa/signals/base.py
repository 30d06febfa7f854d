"""The Signal interface: a batch of articles' sentences in, named columns, flags and spans out.

A signal sees whole articles (``Article.sentences`` filled by segmentation) so that rules
which need context (a repeated title, two first names for one surname) can work at article
level and still mark sentence spans. Its output is aligned with the *flattened* sentence
order: article by article, sentence by sentence.

Every signal declares a ``name``, a ``version`` (bump it whenever its numbers change) and
its ``settings()``; together they enter the run signature, so a number is reproducible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

from mtqa.types import Article, Sentence, Span


#: what a column is for, so the report and writers treat it without knowing the signal:
#: ``score`` (a number per sentence; the report's sentence table may show it) and
#: ``suggestion`` (a rewrite of the sentence, or None; the report lists it under the sentence)
COLUMN_ROLES = ("score", "suggestion")


@dataclass(frozen=True)
class Column:
    """An output column a signal adds: its name, value type (``float32``/``int32``/``string``), meaning and role."""

    name: str
    dtype: str
    doc: str
    role: str = "score"

    def __post_init__(self) -> None:
        if self.role not in COLUMN_ROLES:
            raise ValueError(f"column {self.name}: role {self.role!r} is not one of {', '.join(COLUMN_ROLES)}")
        if self.role == "suggestion" and self.dtype != "string":
            raise ValueError(f"column {self.name}: a suggestion column holds text (dtype string), not {self.dtype}")


@dataclass
class SignalOutput:
    """Columns (one value per sentence), flags and spans (one list per sentence), and
    vectors: per-sentence arrays (or None) that learned heads read and no writer writes
    (the source signal's pooled conditioned states, ``src_pooled``)."""

    columns: dict[str, list[Any]] = field(default_factory=dict)
    flags: list[list[str]] = field(default_factory=list)
    spans: list[list[Span]] = field(default_factory=list)
    vectors: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int) -> "SignalOutput":
        return cls(columns={}, flags=[[] for _ in range(n)], spans=[[] for _ in range(n)])


def flatten(articles: Sequence[Article]) -> list[Sentence]:
    return [s for a in articles for s in a.sentences]


class Signal(ABC):
    """Base class of every signal."""

    name: str = "signal"
    version: str = "1"
    #: the columns this signal adds (documented in the README and in run.json)
    columns: tuple[Column, ...] = ()
    #: flag/span label -> one-line explanation shown to users
    labels: dict[str, str] = {}

    def settings(self) -> dict[str, Any]:
        return {}

    def signature(self) -> str:
        settings = ",".join(f"{k}={v}" for k, v in sorted(self.settings().items()))
        return f"{self.name}:{self.version}({settings})" if settings else f"{self.name}:{self.version}"

    @abstractmethod
    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        """Score every sentence of ``articles`` (flattened order)."""
