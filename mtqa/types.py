"""The records that flow through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A flagged character range, with offsets into the article text."""

    start: int
    end: int
    label: str
    score: float
    note: str = ""

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "label": self.label, "score": float(self.score), "note": self.note}


@dataclass(frozen=True)
class Sentence:
    """One scoring unit. ``text == article.text[start:end]`` always holds."""

    article_id: str
    sentence_id: int
    paragraph_id: int
    start: int
    end: int
    text: str
    #: segmentation had to cut an overlong run without a sentence end here (see mtqa.segment)
    cut: bool = False


@dataclass
class Article:
    """One input document. ``origin`` names where it came from (``file`` or ``file:row N``)."""

    article_id: str
    text: str
    origin: str
    source: str | None = None
    reference: str | None = None
    sentences: list[Sentence] = field(default_factory=list)
