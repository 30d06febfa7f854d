"""Signals: each turns a batch of articles' sentences into named columns, flags and spans.

``build_signals`` is the one place that decides which signals a job runs, in order.
"""

from __future__ import annotations

from mtqa.config import JobConfig
from mtqa.models.lm import CausalLM
from mtqa.signals.base import Column, Signal, SignalOutput


def build_signals(config: JobConfig, lm: CausalLM) -> list[Signal]:
    from mtqa.signals.artefacts import ArtefactSignal
    from mtqa.signals.lm import LMSignal
    from mtqa.signals.reference import ReferenceSignal
    from mtqa.signals.source import SourceSignal
    from mtqa.signals.word_order import WordOrderSignal

    return [
        LMSignal(lm, spike_z=config.scoring.spike_z, spike_min=config.scoring.spike_min),
        WordOrderSignal(lm, threshold=config.scoring.word_order_threshold),
        ArtefactSignal(),
        SourceSignal(lm, unit=config.unit),
        ReferenceSignal(unit=config.unit),
    ]


__all__ = ["Column", "Signal", "SignalOutput", "build_signals"]
