"""mtqa: sentence-level, reference-free quality assessment of machine-translated English.

The package is laid out as a pipeline:

    readers/   files -> Article records (stable ids, raw text, optional source/reference)
    segment    Article -> Sentences with paragraph ids and character offsets
    models/    the language models signals use (embedded default, any HF causal LM)
    signals/   each turns a batch of sentences into named columns, flags and spans
    combine    signals -> the headline ``quality`` score in [0, 1]
    pipeline   streams articles through segmentation, signals and the combiner
    writers    ``datasets`` output, exports, run.json provenance
    cli        assembles the above from flags and YAML configs
    api        the same in memory: ``mtqa.load(**settings).score(items)``
"""

# in every run signature: raised whenever the same inputs and settings would give other scores
# (0.1.1: the base pass's output layer vocabulary-major, chunks across batches, batches cut by
# padding cost; entropies move by up to 1.1e-3 nats, towards the exact value, log-probs in their
# last bits, so a job begun with 0.1.0 is not resumed with 0.1.1; 0.1.2: the word-order search's
# windows batched by their new tokens and its exact output layer in chunks of head_chunk, so its
# log-probs move in their last bits: word_order_score by up to ~1e-5; 0.1.3: partial output-layer
# chunks padded to a multiple of 16 states, so a few log-normalisers move in their last bit: 2 of
# 43 word-order scores on 150 news sentences by ~3e-6)
__version__ = "0.1.3"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtqa.api import QualityScorer, ScoreResult, load

#: names resolved from mtqa.api on first use: ``import mtqa`` must not import torch or datasets
_API = ("load", "QualityScorer", "ScoreResult")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from mtqa import api

        return getattr(api, name)
    raise AttributeError(f"module 'mtqa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
