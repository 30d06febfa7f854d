"""The scorer: a loaded model with its signals, combiner and detector, turning articles into rows.

One object serves every way of scoring: the in-memory API (:mod:`mtqa.api`), a job on
files through the local engine (:mod:`mtqa.engines.local`) and each Ray actor
(:mod:`mtqa.engines.ray`). It knows nothing of files, outputs or engines, so importing it
never imports the pipeline (no cycle pipeline -> engines -> pipeline).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from mtqa.combine import Combiner, build_combiner
from mtqa.config import JobConfig
from mtqa.models import ResolvedModel, resolve
from mtqa.models.lm import CausalLM
from mtqa.segment import segmenter_signature
from mtqa.signals import Signal, SignalOutput, build_signals
from mtqa.signature import build_signature
from mtqa.types import Article

#: called during :meth:`Scorer.score_chunk` with the estimated share (0-1] of the chunk done
StepCallback = Callable[[float], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Scorer:
    """Everything that turns articles into scored rows: built once per job, reused by chunk."""

    config: JobConfig
    model: ResolvedModel
    lm: CausalLM
    signals: list[Signal]
    combiner: Combiner
    #: the MT detector (mtqa.heads.detector), None for models without shipped parameters
    detector: Any = None
    #: seconds each step (signal, then detector) took on the previous chunk: weights progress
    step_seconds: list[float] = field(default_factory=list, repr=False)
    #: seconds per step (signal name; ``combine+detector`` for the rest), summed over all chunks
    step_totals: dict[str, float] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, config: JobConfig, log: Callable[[str], None] = _stderr) -> "Scorer":
        """Resolve and load the model, then the signals, combiner and detector.

        With ``progress: true`` (the default) loading is announced on ``log`` in two lines
        (name, dtype, device, CPU threads; then the time it took), so the time it takes on a
        CPU (0.4 s for the embedded model on 2 cores, seconds for others) is not silent. The
        first line comes after the weights were checked, so a
        damaged model is still a single error line.
        """
        m = config.model
        model = resolve(m.name, log=log)
        t0 = time.perf_counter()
        if config.progress:
            log(f"mtqa: loading {model.name} ({_setup(m)}) ...")
        # batch settings live on the model; hidden states, keys and values are kept for the word-order search
        lm = CausalLM(model.path, device=m.device, dtype=m.dtype, threads=m.threads, max_tokens=m.max_tokens,
                      quantize=m.quantize, batch_tokens=m.batch_tokens, batch_size=m.batch_size, keep_hidden=True,
                      keep_kv="word_order" in config.signals)
        from mtqa.heads import build_detector

        scorer = cls(config, model, lm, build_signals(config, lm), build_combiner(config, model.name),
                     build_detector(model.name, prior=config.scoring.mt_prior))
        if config.progress:
            log(f"mtqa: model loaded in {time.perf_counter() - t0:.1f} s")
        return scorer

    @property
    def columns(self):
        return [c for s in self.signals for c in s.columns]

    @property
    def labels(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.signals:
            out.update(s.labels)
        out.update(self.combiner.labels)
        return out

    def signature(self) -> str:
        return build_signature(
            model=self.model.name, weights_sha256=self.model.weights_sha256,
            dtype=self.dtype_name, device=self.lm.device,
            segmenter=segmenter_signature(), unit=self.config.unit,
            signals=[s.signature() for s in self.signals], combiner=self.combiner.signature(),
            detector=self.detector.signature() if self.detector is not None else None,
        )

    @property
    def dtype_name(self) -> str:
        name = str(self.lm.dtype).replace("torch.", "")
        return name + ("+int8" if self.config.model.quantize == "int8" else "")

    def describe(self) -> dict[str, Any]:
        """What run.json records about the scorer (also sent back by remote engines)."""
        return {
            "signature": self.signature(),
            "model": {"name": self.model.name, "path": self.model.path, "weights_sha256": self.model.weights_sha256,
                      "licence": self.model.licence, "dtype": self.dtype_name, "device": self.lm.device},
            "columns": list(self.columns),
            "labels": self.labels,
            # reference-mode metrics carry their own reproducibility signatures (sacrebleu's)
            "sacrebleu": next((s.metric_signatures() for s in self.signals if hasattr(s, "metric_signatures")), None),
        }

    def score_chunk(self, articles: Sequence[Article],
                    on_step: StepCallback | None = None) -> tuple[list[dict], list[dict]]:
        """Score articles whose ``sentences`` are set; return (sentence rows, article rows).

        The LM's text cache is cleared first, so a chunk's numbers depend on the chunk alone
        (the same whether the job ran whole, was resumed, sharded or run on Ray).

        ``on_step`` is called after each signal and after the detector with the share of the
        chunk done, so a progress display moves *within* a chunk. The share is weighted by
        the time each step took on the previous chunk (equal steps for the first one): the
        LM passes dominate, the artefact rules cost next to nothing.
        """
        self.lm.clear_cache()
        clock = _StepClock(self.step_seconds, len(self.signals) + 1, on_step)
        n = sum(len(a.sentences) for a in articles)
        merged = SignalOutput.empty(n)
        for signal in self.signals:
            out = signal.compute(articles)
            merged.columns.update(out.columns)
            merged.vectors.update(out.vectors)
            for i in range(n):
                for flag in out.flags[i] if out.flags else ():
                    if flag not in merged.flags[i]:
                        merged.flags[i].append(flag)
                if out.spans:
                    merged.spans[i].extend(out.spans[i])
            clock.step()
        # the base pass's token scores (cache hits in the LM: the LM signal scored these
        # sentences moments ago) and their pooled states, once for the combiner and the detector
        texts = [s.text for a in articles for s in a.sentences]
        scores = self.lm.score(texts) if texts else []
        pooled = None
        if "lm_pooled" in self.combiner.vectors or getattr(self.detector, "uses_pooled", False):
            from mtqa.heads.detector import pooled_states

            pooled = pooled_states(scores, self.lm.model.config.hidden_size)
            merged.vectors["lm_pooled"] = list(pooled)
        quality, merged.flags = self.combiner.combine(merged.columns, merged.flags, merged.vectors)
        sentence_rows, article_rows = [], []
        i = 0
        for article in articles:
            first = i
            for s in article.sentences:
                row = {
                    "article_id": s.article_id, "sentence_id": s.sentence_id, "paragraph_id": s.paragraph_id,
                    "start": s.start, "end": s.end, "text": s.text, "quality": quality[i],
                    "flags": merged.flags[i],
                    "spans": [sp.as_dict() for sp in sorted(merged.spans[i], key=lambda x: (x.start, x.end))],
                }
                for name, values in merged.columns.items():
                    row[name] = values[i]
                sentence_rows.append(row)
                i += 1
            article_rows.append(aggregate(article, sentence_rows[len(sentence_rows) - (i - first):]))
        self.detect(sentence_rows, article_rows, scores, pooled)
        clock.step()
        self.step_seconds = clock.seconds
        for name, seconds in zip([s.name for s in self.signals] + ["combine+detector"], clock.seconds):
            self.step_totals[name] = self.step_totals.get(name, 0.0) + seconds
        return sentence_rows, article_rows

    def detect(self, sentence_rows: list[dict], article_rows: list[dict], scores: Sequence[Any],
               pooled: Any = None) -> None:
        """``mt_probability`` (sentences, articles), ``mt_evidence`` and ``language`` (articles),
        from the base pass's token ``scores`` of the sentence rows and their ``pooled`` states."""
        if self.detector is None:
            for r in sentence_rows:
                r["mt_probability"] = None
            for a in article_rows:
                a.update(mt_probability=None, mt_evidence="no MT detector ships for this model", language="")
            return
        from mtqa.heads.detector import apply

        apply(self.detector, sentence_rows, article_rows, scores, self.lm.model.config.hidden_size, pooled)


def _setup(m) -> str:
    """``float32, cpu, 2 threads``: what the model will run as, resolved before it loads."""
    import torch

    from mtqa.models.device import resolve_device, resolve_dtype

    device = resolve_device(m.device)
    dtype = str(resolve_dtype(m.dtype, device, m.quantize)).replace("torch.", "")
    if m.quantize == "int8":
        dtype += "+int8"
    if device != "cpu":
        return f"{dtype}, {device}"
    threads = m.threads or torch.get_num_threads()
    return f"{dtype}, cpu, {threads} thread{'s' if threads != 1 else ''}"


class _StepClock:
    """Times the steps of one chunk and reports the share done after each (see score_chunk)."""

    def __init__(self, previous: list[float], n_steps: int, on_step: StepCallback | None):
        self.weights = previous if len(previous) == n_steps and sum(previous) > 0 else [1.0] * n_steps
        self.on_step = on_step
        self.seconds: list[float] = []
        self.last = time.perf_counter()

    def step(self) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now
        if self.on_step is not None:
            done = len(self.seconds)
            self.on_step(1.0 if done >= len(self.weights) else sum(self.weights[:done]) / sum(self.weights))


def aggregate(article: Article, rows: list[dict]) -> dict:
    """Article-level scores.

    ``quality`` is the character-length-weighted mean of sentence quality (a long broken
    sentence weighs more than a short one); ``flagged_share`` is the share of sentences with
    at least one flag; ``worst_sentence_id`` the sentence of lowest quality.
    """
    if not rows:
        return {"article_id": article.article_id, "origin": article.origin, "n_sentences": 0, "quality": None,
                "flagged_share": None, "worst_sentence_id": None, "text": article.text}
    weights = [max(1, r["end"] - r["start"]) for r in rows]
    quality = sum(w * r["quality"] for w, r in zip(weights, rows)) / sum(weights)
    worst = min(rows, key=lambda r: r["quality"])
    return {
        "article_id": article.article_id, "origin": article.origin, "n_sentences": len(rows),
        "quality": quality, "flagged_share": sum(1 for r in rows if r["flags"]) / len(rows),
        "worst_sentence_id": worst["sentence_id"], "text": article.text,
    }


__all__ = ["Scorer", "StepCallback", "aggregate"]
