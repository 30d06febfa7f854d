"""The scoring pipeline: articles stream in chunks through segmentation, signals and the combiner.

    readers -> segment -> [signal.compute(chunk) for each signal] -> combiner -> ShardWriter

The model is loaded once per job; a bad input is reported and skipped, never fatal.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from mtqa import __version__
from mtqa.combine import Combiner, build_combiner
from mtqa.config import JobConfig
from mtqa.errors import InputError, MtqaError
from mtqa.models import ResolvedModel, resolve
from mtqa.models.lm import CausalLM
from mtqa.readers import InputFile, read_inputs
from mtqa.segment import segment, segmenter_signature
from mtqa.signals import Signal, SignalOutput, build_signals
from mtqa.signature import build_signature, package_versions
from mtqa.types import Article
from mtqa.writers import ShardWriter, check_output


@dataclass
class Scorer:
    """Everything that turns articles into scored rows: built once per job, reused by chunk."""

    config: JobConfig
    model: ResolvedModel
    lm: CausalLM
    signals: list[Signal]
    combiner: Combiner

    @classmethod
    def build(cls, config: JobConfig, log: Callable[[str], None] = print) -> "Scorer":
        m = config.model
        model = resolve(m.name, log=log)
        lm = CausalLM(model.path, device=m.device, dtype=m.dtype, threads=m.threads, max_tokens=m.max_tokens)
        return cls(config, model, lm, build_signals(config, lm), build_combiner(config, model.name))

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
            dtype=str(self.lm.dtype).replace("torch.", ""), device=self.lm.device,
            segmenter=segmenter_signature(), unit=self.config.unit,
            signals=[s.signature() for s in self.signals], combiner=self.combiner.signature(),
        )

    def score_chunk(self, articles: Sequence[Article]) -> tuple[list[dict], list[dict]]:
        """Score articles whose ``sentences`` are set; return (sentence rows, article rows)."""
        n = sum(len(a.sentences) for a in articles)
        merged = SignalOutput.empty(n)
        for signal in self.signals:
            out = signal.compute(articles)
            merged.columns.update(out.columns)
            for i in range(n):
                for flag in out.flags[i] if out.flags else ():
                    if flag not in merged.flags[i]:
                        merged.flags[i].append(flag)
                if out.spans:
                    merged.spans[i].extend(out.spans[i])
        quality = self.combiner.combine(merged.columns, merged.flags)
        sentence_rows, article_rows = [], []
        i = 0
        for article in articles:
            first = i
            for s in article.sentences:
                row = {
                    "article_id": s.article_id, "sentence_id": s.sentence_id, "paragraph_id": s.paragraph_id,
                    "start": s.start, "end": s.end, "text": s.text, "quality": quality[i],
                    "flags": merged.flags[i], "spans": [sp.as_dict() for sp in sorted(merged.spans[i], key=lambda x: (x.start, x.end))],
                }
                for name, values in merged.columns.items():
                    row[name] = values[i]
                sentence_rows.append(row)
                i += 1
            article_rows.append(aggregate(article, sentence_rows[len(sentence_rows) - (i - first):]))
        return sentence_rows, article_rows


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


def chunks(items: Iterable[Article], size: int) -> Iterator[list[Article]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@dataclass
class JobResult:
    out: Path
    run_info: dict[str, Any]
    errors: list[InputError] = field(default_factory=list)
    datasets: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_inputs(self) -> int:
        return sum(1 for e in self.errors if not e.warning)


def run_job(config: JobConfig, *, log: Callable[[str], None] | None = None,
            on_error: Callable[[InputError], None] | None = None, progress=None) -> JobResult:
    """Score every input of ``config`` into ``config.output``."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if not config.inputs:
        raise MtqaError("no inputs: give files or folders to score (or `inputs:` in the config)")
    if not config.output:
        raise MtqaError("no output folder: pass -o OUT (or `output:` in the config)")
    out = Path(config.output)
    check_output(out, config.overwrite)
    errors: list[InputError] = []

    def report(err: InputError) -> None:
        errors.append(err)
        if on_error:
            on_error(err)

    t0 = time.perf_counter()
    scorer = Scorer.build(config, log=log)
    t_loaded = time.perf_counter()
    writer = ShardWriter(out, scorer.columns, overwrite=config.overwrite)
    inventory: list[InputFile] = []
    if progress is not None:
        progress(0, 0)  # scoring starts: open the progress display
    n_articles = n_sentences = n_tokens = 0
    for chunk in chunks(read_inputs(config.inputs, config.columns, report, inventory), config.articles_per_chunk):
        for article in chunk:
            article.sentences = segment(article, config.unit)
            if not article.sentences:
                report(InputError(article.origin, "no text to score after segmentation (skipped)"))
        chunk = [a for a in chunk if a.sentences]
        if not chunk:
            continue
        sentence_rows, article_rows = scorer.score_chunk(chunk)
        writer.write_chunk(sentence_rows, article_rows)
        n_articles += len(chunk)
        n_sentences += len(sentence_rows)
        n_tokens += sum(r["lm_tokens"] for r in sentence_rows)
        if progress is not None:
            progress(len(chunk), len(sentence_rows))
    t_scored = time.perf_counter()
    signature = scorer.signature()
    run_info = {
        "mtqa_version": __version__,
        "signature": signature,
        "model": {"name": scorer.model.name, "path": scorer.model.path, "weights_sha256": scorer.model.weights_sha256,
                  "licence": scorer.model.licence, "dtype": str(scorer.lm.dtype).replace("torch.", ""),
                  "device": scorer.lm.device},
        "segmenter": segmenter_signature(),
        "packages": package_versions(),
        "config": config.model_dump(mode="json"),
        "inputs": [i.as_dict() for i in inventory],
        "counts": {"articles": n_articles, "sentences": n_sentences, "lm_tokens": n_tokens,
                   "input_errors": sum(1 for e in errors if not e.warning),
                   "input_warnings": sum(1 for e in errors if e.warning)},
        "errors": [{"where": e.where, "message": e.message, "warning": e.warning} for e in errors],
        "columns": {c.name: c.doc for c in scorer.columns},
        "labels": scorer.labels,
    }
    datasets_out = writer.finish(run_info | {"timings": {}}, config.formats, signature)
    t_done = time.perf_counter()
    score_s = t_scored - t_loaded
    run_info["timings"] = {
        "load_model_s": round(t_loaded - t0, 3), "score_s": round(score_s, 3),
        "write_s": round(t_done - t_scored, 3), "total_s": round(t_done - t0, 3),
        "sentences_per_s": round(n_sentences / score_s, 2) if score_s > 0 else None,
        "tokens_per_s": round(n_tokens / score_s, 1) if score_s > 0 else None,
    }
    from mtqa.writers import write_json_atomic

    write_json_atomic(out / "run.json", run_info)
    return JobResult(out, run_info, errors, datasets_out)
