"""Signals: each turns a batch of articles' sentences into named columns, flags and spans.

``build_signals`` is the one place that decides which signals a job runs, in order: those
named in the config's ``signals:`` (default: all, see :mod:`mtqa.signals.registry`). A
signal left out writes none of its columns; its entry is absent from the run signature.
This package imports no model code: the LM type is only an annotation here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtqa.signals.base import Column, Signal, SignalOutput

if TYPE_CHECKING:
    from mtqa.config import JobConfig
    from mtqa.models.lm import CausalLM


def build_signals(config: "JobConfig", lm: "CausalLM") -> list[Signal]:
    from mtqa.signals import registry

    return registry.build(config.signals, config, lm)


__all__ = ["Column", "Signal", "SignalOutput", "build_signals"]
