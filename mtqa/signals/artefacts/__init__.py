"""Rule-based MT-artefact detectors, as one signal (``artefacts``).

Each rule is one small function in a family module (``spacing``, ``clauses``, ``noise``,
``language``, ``article``); this module runs them and maps their sentence-local hits to
article offsets. Every rule is tuned to flag under 1% of fluent English sentences (see
``benchmarks/artefact_false_alarms.py``).

Output, aligned with the flattened sentences: per sentence the labels that fired (each at
most once), one span per hit (offsets into the article text, a note saying what was seen),
and the column ``artefact_count`` (how many distinct labels fired).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable, Sequence

from mtqa.signals.artefacts import article as _article
from mtqa.signals.artefacts import clauses, language, noise, spacing
from mtqa.signals.artefacts._text import ArtefactSettings, Hit
from mtqa.signals.base import Column, Signal, SignalOutput
from mtqa.types import Article, Sentence, Span

SentenceRule = Callable[[str, ArtefactSettings], list[Hit]]
ArticleRule = Callable[[Sequence[Sentence], ArtefactSettings], list[tuple[int, Hit]]]

SENTENCE_RULES: tuple[SentenceRule, ...] = (
    spacing.number_spacing,
    spacing.punct_spacing,
    clauses.fused_sentence,
    clauses.self_relation,
    clauses.verb_after_name,
    clauses.parenthetical_after_preposition,
    noise.boilerplate,
    noise.foreign_script,
    noise.doubled_word,
    language.not_english,
)
ARTICLE_RULES: tuple[ArticleRule, ...] = (
    clauses.bare_verb_fragment,
    _article.name_mismatch,
    _article.repeated_sentence,
)

# Rules whose span is the whole sentence: a split token at its end does not explain them.
_WHOLE_SENTENCE = frozenset({"boilerplate", "not_english"})

LABELS = {
    "number_spacing": "a space inside a number or currency amount (\"$ 40\", \"40 %\", \"1, 000\")",
    "punct_spacing": "a space before punctuation or inside brackets (\"word ,\", \"( word\")",
    "fused_sentence": "two sentences run together: a capitalised clause opener (\"It\", \"The\") mid-sentence",
    "bare_verb_start": "a sentence continuing a paragraph opens with a bare verb and no subject (\"Discuss the ...\")",
    "self_relation": "the same name as subject and object of a relation (\"Ukraine can provide to Ukraine\")",
    "name_mismatch": "one surname with two different first names in the article",
    "repeated_sentence": "a sentence or the title repeated later in the article",
    "boilerplate": "website boilerplate kept in the text (\"Back to top button\", \"Share this:\")",
    "foreign_script": "letters of a non-Latin script inside an English sentence",
    "doubled_word": "the same word twice in a row (\"the the\")",
    "not_english": "the sentence is confidently detected as a language other than English",
    "word_order_rule": "a known MT word-order pattern (a capitalised verb glued after a name, \"to (if any)\")",
}


class ArtefactSignal(Signal):
    """Precise rule-based detectors of machine-translation and scraping artefacts."""

    name = "artefacts"
    version = "1"
    columns = (Column("artefact_count", "int32", "number of distinct artefact labels that fired on the sentence"),)
    labels = LABELS

    def __init__(self, settings: ArtefactSettings | None = None):
        self.cfg = settings or ArtefactSettings()

    def settings(self) -> dict:
        return {**asdict(self.cfg), "langdetect": language.language_detector()}

    def article_hits(self, article: Article) -> list[list[Hit]]:
        """Hits per sentence of one article, sentence-local offsets, in rule then text order."""
        sentences = article.sentences
        per_sentence: list[list[Hit]] = [[] for _ in sentences]
        for k, sentence in enumerate(sentences):
            cut = sentence.end < len(article.text) and not article.text[sentence.end].isspace()
            for rule in SENTENCE_RULES:
                found = rule(sentence.text, self.cfg)
                if cut:  # the segmenter split a token ("the .NET"): the last characters prove nothing
                    found = [h for h in found if h.end < len(sentence.text) or h.label in _WHOLE_SENTENCE]
                per_sentence[k].extend(found)
        for rule in ARTICLE_RULES:
            for k, hit in rule(sentences, self.cfg):
                per_sentence[k].append(hit)
        return per_sentence

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        out = SignalOutput(columns={"artefact_count": []})
        for article in articles:
            for sentence, hits in zip(article.sentences, self.article_hits(article)):
                hits = sorted(set(hits), key=lambda h: (h.start, h.end, h.label))
                flags = list(dict.fromkeys(h.label for h in hits))
                out.flags.append(flags)
                out.spans.append([Span(sentence.start + h.start, sentence.start + h.end, h.label, h.score, h.note)
                                  for h in hits])
                out.columns["artefact_count"].append(len(flags))
        return out


__all__ = ["ArtefactSignal", "ArtefactSettings", "Hit", "LABELS", "SENTENCE_RULES", "ARTICLE_RULES"]
