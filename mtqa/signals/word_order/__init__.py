"""LM-based local reordering search: is a sentence's word order odd, where, and how would it read better?

MT from verb-final or head-final languages (Chinese, Japanese, Korean, Turkish, German,
Persian) leaves verbs at the end of clauses, adjectives after nouns, fronted objects and
misplaced adverbs. This signal asks the language model whether a *small* reordering makes
the sentence markedly more probable than it is as written.

The search lives in two modules: :mod:`~mtqa.signals.word_order.candidates` enumerates the
reorderings a sentence allows (no model), and
:mod:`~mtqa.signals.word_order.search` ranks them with the model's hidden states (stage 1)
and scores the few best exactly (stage 2), through :class:`~mtqa.models.lm.CausalLM`'s public
methods. This module is the signal around them.

Output
    ``word_order_score`` (the best candidate's score; 0 when no candidate was searched or none
    beats the sentence as written), ``word_order_suggestion`` (the reordered sentence, only
    when flagged), flag and span ``word_order`` when score >= ``threshold`` (the span covers
    the words that moved, in article offsets; the note shows the better order).

Defaults were set on fluent Wikipedia sentences (MLQE-PE en-de train rows 3000-3399) and
synthetic perturbations of them (:mod:`mtqa.perturb`), never on the seed article; see
``benchmarks/word_order.py``.

The search reads each sentence's last hidden states from the base pass when the model keeps
them (a model built with ``keep_hidden=True``: :attr:`WordOrderSignal.needs_hidden` tells
whoever builds it); otherwise stage 1 runs the model's body over the sentence once more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.signals.word_order.candidates import (
    Candidate, Move, Unit, allowed_moves, apply_move, enumerate_moves, enumerate_swaps, render, split_units, word_runs,
)
from mtqa.signals.word_order.search import ReorderSearch
from mtqa.types import Article, Span

if TYPE_CHECKING:
    from mtqa.models.lm import CausalLM


class WordOrderSignal(ReorderSearch, Signal):
    """Flags sentences that a small reordering makes markedly more probable under the LM."""

    name = "word_order"
    # 2: stage 2 runs in bfloat16 where native (CausalLM.rescoring_precision, CausalLM.head_logprobs)
    # 3: a candidate is re-scored only when its prior pays for its window (``window_price``)
    # Windows that continue from the base pass's keys and values (kept in float16; window sums
    # move by <= 0.004 nats) show as the setting ``kv_budget``, present only when the model keeps
    # them: a pass without them computes what version 3 always did, and keeps its signature
    # (a feature cache of mtqa.train.extract stays valid).
    version = "3"
    columns = (
        Column("word_order_score", "float32",
               "LM log-prob gain (nats) of the best local reordering over the sentence as written, divided by "
               "sqrt(moved words / 2); 0 when none was searched or none is better"),
        Column("word_order_suggestion", "string", "the sentence in the better order (only when flagged)",
               role="suggestion"),
    )
    labels = {"word_order": "a small reordering of these words makes the sentence markedly more probable (odd word order)"}
    #: the search reads the base pass's hidden states: build the model with ``keep_hidden=True``
    #: where this signal runs (without them it still works, with one more pass of the model's body)
    needs_hidden = True

    def __init__(self, lm: "CausalLM", *, threshold: float = 5.0, max_candidates: int = 3, max_block: int = 3,
                 max_move: int = 7, min_prior: float = 1.0, window_price: float = 0.3, context_after: int = 2,
                 max_words: int = 80):
        super().__init__(lm, max_candidates=max_candidates, max_block=max_block, max_move=max_move,
                         min_prior=min_prior, window_price=window_price, context_after=context_after,
                         max_words=max_words)
        self.threshold = threshold

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "max_candidates": self.max_candidates, "max_block": self.max_block,
                "max_move": self.max_move,
                "min_prior": self.min_prior, "window_price": self.window_price,
                "context_after": self.context_after, "max_words": self.max_words,
                "max_tokens": self.lm.max_tokens, "log": "e",
                # bfloat16 only where the hardware computes it natively (CausalLM.rescoring_dtype)
                "rescoring": self.lm.rescoring_dtype()} | (
                    {"kv_budget": self.lm.kv_budget} if getattr(self.lm, "keep_kv", False) else {})

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        sentences = flatten(articles)
        best = self.search([s.text for s in sentences])
        out = SignalOutput.empty(len(sentences))
        scores, suggestions = [], []
        for k, (sent, c) in enumerate(zip(sentences, best)):
            score = c.score if c is not None else 0.0
            scores.append(score)
            if c is None or score < self.threshold:
                suggestions.append(None)
                continue
            suggestions.append(c.text)
            out.flags[k].append("word_order")
            out.spans[k].append(Span(sent.start + c.start, sent.start + c.end, "word_order", score, self.note(c)))
        out.columns = {"word_order_score": scores, "word_order_suggestion": suggestions}
        return out

    @staticmethod
    def note(c: Candidate) -> str:
        """``reads better as "… heavy weapons supply …"``: the changed words and one word either side."""
        text = c.text
        lo = text.rfind(" ", 0, max(text.rfind(" ", 0, c.new_start), 0)) + 1 if c.new_start > 0 else 0
        if text.rfind(" ", 0, c.new_start) < 0:
            lo = 0
        nxt = text.find(" ", c.new_end)
        hi = len(text) if nxt < 0 else (text.find(" ", nxt + 1) if text.find(" ", nxt + 1) >= 0 else len(text))
        piece = " ".join(text[lo:hi].split())
        return f'reads better as "{"… " if lo > 0 else ""}{piece}{" …" if hi < len(text) else ""}"'


__all__ = ["Candidate", "Move", "ReorderSearch", "Unit", "WordOrderSignal", "allowed_moves", "apply_move",
           "enumerate_moves", "enumerate_swaps", "render", "split_units", "word_runs"]
