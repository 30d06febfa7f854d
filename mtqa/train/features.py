"""Feature extraction for training: the pipeline's own signals, cached on disk.

Each data spec's examples are scored in fixed chunks (``chunk`` examples, file order) by
the same signal classes the pipeline runs (``--unit segment``), and every chunk is written
as one JSONL file under ``{features_dir}/{model}/{spec.name}-{spec.key()}-{signals}/``.
A finished chunk is never recomputed, so an interrupted extraction resumes, and re-fitting
reads only the cache. The cache key covers the spec (file, split, subsample, seed) and the
signals' signatures, so a changed signal or sample never mixes with old features.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from mtqa.signals.base import Signal
from mtqa.train.data import DataSpec, Example, load_examples
from mtqa.types import Article, Sentence


#: the signals the quality heads learn from (registry names, in the pipeline's order): the LM,
#: source and xling columns are the heads' features (``mtqa.train.model``), the artefact flags
#: their penalty. The quality model's feature lists are derived from these signals' declared columns.
FEATURE_SIGNALS: tuple[str, ...] = ("lm", "artefacts", "source", "xling")


def feature_signals(lm) -> list[Signal]:
    """The signals whose columns the combiner learns from, built as a ``--unit segment`` job with
    default settings builds them (batch sizes are the model's own settings)."""
    from mtqa.config import JobConfig
    from mtqa.signals.registry import build

    return build(FEATURE_SIGNALS, JobConfig(unit="segment", signals=list(FEATURE_SIGNALS)), lm)


def _article(ex: Example) -> Article:
    a = Article(ex.id, ex.text, f"train:{ex.id}", source=ex.source)
    a.sentences = [Sentence(ex.id, 0, 0, 0, len(ex.text), ex.text)]
    return a


def extract_rows(examples: list[Example], signals: list[Signal]) -> list[dict]:
    """One row per example: id, gold, group, no_major, flags and every signal column."""
    arts = [_article(e) for e in examples]
    rows = [{"id": e.id, "gold": e.gold, "group": e.group, "no_major": e.no_major,
             "has_source": e.source is not None, "n_chars": len(e.text), "n_words": len(e.text.split()),
             "flags": []} for e in examples]
    for sig in signals:
        out = sig.compute(arts)
        for i, row in enumerate(rows):
            for name, values in out.columns.items():
                v = values[i]
                row[name] = None if isinstance(v, float) and v != v else v
            for f in out.flags[i] if out.flags else ():
                if f not in row["flags"]:
                    row["flags"].append(f)
    return rows


def signals_key(signals: list[Signal]) -> str:
    return hashlib.sha256("|".join(s.signature() for s in signals).encode()).hexdigest()[:8]


def cache_dir(features_dir: str | os.PathLike, model: str, spec: DataSpec, signals: list[Signal]) -> Path:
    safe = model.replace("/", "_")
    return Path(features_dir) / safe / f"{spec.name}-{spec.key()}-{signals_key(signals)}"


def extract(spec: DataSpec, signals: list[Signal], features_dir, model: str, *, chunk: int = 64,
            log: Callable[[str], None] = print, budget_s: float | None = None) -> list[dict]:
    """Rows of ``spec``, computed chunk by chunk or read from the cache."""
    examples = load_examples(spec)
    folder = cache_dir(features_dir, model, spec, signals)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps({"spec": spec.__dict__, "signals": [s.signature() for s in signals]}, indent=1))
    rows: list[dict] = []
    t0 = time.perf_counter()
    n_chunks = (len(examples) + chunk - 1) // chunk
    for c in range(n_chunks):
        path = folder / f"chunk-{c:04d}.jsonl"
        part = examples[c * chunk:(c + 1) * chunk]
        if path.is_file():
            got = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if [g["id"] for g in got] == [e.id for e in part]:
                rows.extend(got)
                continue
        if budget_s is not None and time.perf_counter() - t0 > budget_s:
            log(f"  {spec.name}: time budget spent after chunk {c}/{n_chunks}; using {len(rows)} rows")
            break
        t = time.perf_counter()
        new = extract_rows(part, signals)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new), encoding="utf-8")
        tmp.replace(path)
        rows.extend(new)
        log(f"  {spec.name}: chunk {c + 1}/{n_chunks} ({len(part)} segments, {time.perf_counter() - t:.1f}s)")
    return rows
