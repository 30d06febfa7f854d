"""Combiners: signal columns and flags -> the headline ``quality`` in [0, 1] (higher = better).

``LearnedCombiner`` (the default for models with shipped parameters, i.e. ``gemma-3-270m``):
two linear heads fitted on human judgements by ``python -m mtqa train`` (applied by
``mtqa.heads.quality``), shipped as ``mtqa/resources/quality-<model>.json``; each row uses the
with-source head when its source PMI could be computed, the target-only head otherwise;
``quality`` is calibrated as the probability that an expert (MQM) finds no major error, and
each distinct artefact flag lowers its log-odds. The file's sha256 enters the signature.

``HeuristicCombiner`` (the fallback for models without shipped parameters):

    logit   = a * (slor - slor_mid) - b * max(0, excess_surprisal - excess_mid)
    quality = sigmoid(logit) * flag_penalty ** (number of distinct artefact flags)

It is monotone: quality never rises when SLOR falls, when excess surprisal rises, or when
another artefact flag fires. The constants are per model (an LM's surprisal scale depends on
its tokenizer) and come from measurements on fluent human English vs. MT output (see the
README); unknown models fall back to the defaults, which the signature records.
A sentence below ``flag_quality`` also gets the flag ``low_quality``.

``combine(columns, flags)`` returns a :class:`Combined`: the quality per row and each row's
flags with the combiner's own added, as new lists; the caller's lists are never changed
(a caller that reuses them, or scores the same rows twice, sees what it passed in).

Scoring loads no training code: the learned head's inference half is
:mod:`mtqa.heads.quality` (``mtqa.train.model`` fits it and imports it, not the reverse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from typing import Any, NamedTuple, Protocol, Sequence

from mtqa.heads.quality import FLAG_WEIGHTS, MAJOR_FLAGS, OWN_FLAGS, QualityModel, sigmoid

# MAJOR_FLAGS (mtqa.heads.quality) mark a *major* error in MQM's sense: whatever the learned
# heads say, such a sentence ends below ``flag_quality`` (at most MAJOR_SHARE of it), and a
# sentence that is not English at all (an untranslated segment, MQM's worst category) at
# most NOT_ENGLISH_QUALITY: near 0, never "good English".
MAJOR_SHARE = 0.8
NOT_ENGLISH_QUALITY = 0.02


def gate(q: float, flags: Sequence[str], flag_quality: float) -> float:
    """Cap ``q`` for major-error flags (see MAJOR_FLAGS); monotone: a flag never raises quality."""
    if "not_english" in flags:
        q = min(q, NOT_ENGLISH_QUALITY)
    if MAJOR_FLAGS.intersection(flags):
        q = min(q, MAJOR_SHARE * flag_quality)
    return q


# Flags that do not count as artefact evidence in the penalty (the combiner's own, and
# `truncated`, which says how much of the sentence was scored, not what is wrong with it).
_OWN_FLAGS = OWN_FLAGS


class Combined(NamedTuple):
    """What a combiner returns: ``quality`` per row, and each row's flags plus the combiner's own."""

    quality: list[float]
    flags: list[list[str]]


def _with_low_quality(q: float, fl: Sequence[str], flag_quality: float) -> list[str]:
    """A new list: ``fl`` plus ``low_quality`` when ``q`` is below ``flag_quality``."""
    out = list(fl)
    if q < flag_quality and "low_quality" not in out:
        out.append("low_quality")
    return out


@dataclass(frozen=True)
class HeuristicParams:
    slor_mid: float
    slor_scale: float  # a
    excess_mid: float
    excess_scale: float  # b
    flag_penalty: float = 0.6


# Per-model constants, read off SLOR / excess-surprisal distributions (nats) measured on 300
# fluent English Wikipedia sentences (../shared/data/fluent-en), WMT22 zh-en MT with MQM 100
# vs <= 70, and the seed article. For Gemma 3 270M: fluent-en SLOR percentiles 5/10/25/50 =
# 0.25/0.71/1.43/2.25 (rare names pull Wikipedia down), MT 3.2-3.5 median, the seed's broken
# sentences 1.0-1.2 vs its fluent ones >= 3.0. Excess surprisal is *lower* for MT than for
# human text in general (MT is predictable), so it only penalises the far tail (> the fluent
# 95th percentile, 3.0), where garbled fragments and boilerplate sit.
PARAMS: dict[str, HeuristicParams] = {
    "gemma-3-270m": HeuristicParams(slor_mid=1.0, slor_scale=1.5, excess_mid=3.0, excess_scale=1.0),
    "smollm2-135m": HeuristicParams(slor_mid=0.5, slor_scale=1.5, excess_mid=3.5, excess_scale=1.0),
}
DEFAULT_PARAMS = PARAMS["gemma-3-270m"]


class HeuristicCombiner:
    name = "heuristic"
    version = "2"  # 2: major-error flags cap quality below flag_quality
    labels = {"low_quality": "the sentence's quality score is below the job's flag_quality threshold"}

    def __init__(self, model_name: str, flag_quality: float = 0.5):
        self.params = PARAMS.get(model_name, DEFAULT_PARAMS)
        self.flag_quality = flag_quality

    def signature(self) -> str:
        settings = ",".join(f"{k}={v}" for k, v in asdict(self.params).items())
        return (f"{self.name}:{self.version}({settings},flag_quality={self.flag_quality},"
                f"major_cap={MAJOR_SHARE},not_english_cap={NOT_ENGLISH_QUALITY})")

    #: the heuristic reads no vectors
    vectors: tuple[str, ...] = ()

    def combine(self, columns: dict[str, Sequence[Any]], flags: Sequence[Sequence[str]],
                vectors: dict[str, Sequence[Any]] | None = None) -> Combined:
        p = self.params
        out, new_flags = [], []
        for i, fl in enumerate(flags):
            slor, excess = columns["slor"][i], columns["excess_surprisal"][i]
            if slor is None or math.isnan(slor):
                base = 0.5  # nothing the LM could score (e.g. only symbols): neutral
            else:
                logit = p.slor_scale * (slor - p.slor_mid) - p.excess_scale * max(0.0, excess - p.excess_mid)
                base = sigmoid(logit)
            n_flags = len(set(fl) - _OWN_FLAGS)
            q = gate(base * p.flag_penalty ** n_flags, fl, self.flag_quality)
            out.append(float(min(1.0, max(0.0, q))))
            new_flags.append(_with_low_quality(q, fl, self.flag_quality))
        return Combined(out, new_flags)


class Combiner(Protocol):
    """What the pipeline needs of a combiner."""

    labels: dict[str, str]
    #: the per-sentence vectors the combiner reads (``lm_pooled``: the base pass's mean last
    #: hidden state; ``src_pooled``: the source signal's pooled conditioned states)
    vectors: tuple[str, ...]

    def signature(self) -> str: ...

    def combine(self, columns: dict[str, Sequence[Any]], flags: Sequence[Sequence[str]],
                vectors: dict[str, Sequence[Any]] | None = None) -> Combined:
        """Quality per row and each row's new flags; ``flags`` is left as it was."""
        ...


def resource_path(model_name: str):
    """The shipped parameter file for ``model_name`` (a Traversable), or None."""
    from importlib import resources

    f = resources.files("mtqa") / "resources" / f"quality-{model_name}.json"
    return f if f.is_file() else None


class LearnedCombiner:
    name = "learned"
    version = "2"  # 2: major-error flags cap quality below flag_quality
    labels = {"low_quality": "the sentence's quality score is below the job's flag_quality threshold"}

    def __init__(self, params_bytes: bytes, params_name: str, flag_quality: float = 0.5):
        import hashlib
        import json

        self.sha256 = hashlib.sha256(params_bytes).hexdigest()
        self.params_name = params_name
        self.model = QualityModel(json.loads(params_bytes.decode("utf-8")))
        self.flag_quality = flag_quality
        self.vectors = self.model.vectors

    @classmethod
    def from_file(cls, path, flag_quality: float = 0.5) -> "LearnedCombiner":
        from pathlib import Path

        p = Path(str(path)) if not hasattr(path, "read_bytes") else path
        return cls(p.read_bytes(), p.name, flag_quality)

    def signature(self) -> str:
        heads = "+".join(sorted(self.model.heads))
        return (f"{self.name}:{self.version}(params={self.params_name},sha256={self.sha256[:16]},"
                f"heads={heads},flag_logit={self.model.flag_logit},flag_weights={FLAG_WEIGHTS},"
                f"major_cap={MAJOR_SHARE},not_english_cap={NOT_ENGLISH_QUALITY},"
                f"flag_quality={self.flag_quality})")

    def combine(self, columns: dict[str, Sequence[Any]], flags: Sequence[Sequence[str]],
                vectors: dict[str, Sequence[Any]] | None = None) -> Combined:
        names = list(columns)
        vectors = vectors or {}
        out, new_flags = [], []
        for i, fl in enumerate(flags):
            row = {k: columns[k][i] for k in names}
            row.update((k, v[i]) for k, v in vectors.items())
            q = gate(float(min(1.0, max(0.0, self.model.quality(row, fl)))), fl, self.flag_quality)
            out.append(q)
            new_flags.append(_with_low_quality(q, fl, self.flag_quality))
        return Combined(out, new_flags)


class FallbackHeuristic(HeuristicCombiner):
    """The heuristic, for a model without learned parameters (the signature says so)."""

    def signature(self) -> str:
        return super().signature() + f"[no learned parameters for {self.model_name}]"

    def __init__(self, model_name: str, flag_quality: float = 0.5):
        super().__init__(model_name, flag_quality)
        self.model_name = model_name


def build_combiner(config, model_name: str) -> Combiner:
    """The job's combiner (the one place that chooses it): learned where parameters ship."""
    res = resource_path(model_name)
    if res is not None:
        return LearnedCombiner(res.read_bytes(), res.name, config.scoring.flag_quality)
    return FallbackHeuristic(model_name, config.scoring.flag_quality)
