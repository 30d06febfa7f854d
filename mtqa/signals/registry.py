"""The signal registry: one table from a signal's name to its class and how a job builds it.

``signals:`` in a job config names the signals to run, in order (default: all of
``DEFAULT_SIGNALS``). Entries name their class as ``module:Class`` and import it only when
needed, so checking a config or reading the declared columns of a light signal loads no
model code. Every class already declares ``name``, ``version``, ``columns`` and ``labels``;
the table adds only how to build one from a job's settings (the ``scoring:`` keys keep their
meaning). ``register`` adds an entry (a plugin, a test).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from mtqa.errors import ConfigError

if TYPE_CHECKING:
    from mtqa.config import JobConfig
    from mtqa.models.lm import CausalLM
    from mtqa.signals.base import Column, Signal

#: builds a signal from its class, the job's settings and the loaded LM
Builder = Callable[["type[Signal]", "JobConfig", "CausalLM"], "Signal"]


@dataclass(frozen=True)
class Entry:
    """A registered signal: its name, its class (``module:Class``, imported on demand), its builder."""

    name: str
    target: str
    build: Builder

    def load(self) -> "type[Signal]":
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, Entry] = {}


def register(name: str, target: str, build: Builder) -> Entry:
    """Add (or replace) the signal ``name``; its class's ``name`` must be the same (checked on build)."""
    entry = Entry(name, target, build)
    _REGISTRY[name] = entry
    return entry


def _encoder(config: "JobConfig"):
    from mtqa.models.encoder import SentenceEncoder

    return SentenceEncoder(threads=config.model.threads)


register("lm", "mtqa.signals.lm:LMSignal",
         lambda cls, c, lm: cls(lm, spike_z=c.scoring.spike_z, spike_min=c.scoring.spike_min))
register("word_order", "mtqa.signals.word_order:WordOrderSignal",
         lambda cls, c, lm: cls(lm, threshold=c.scoring.word_order_threshold))
register("artefacts", "mtqa.signals.artefacts:ArtefactSignal", lambda cls, c, lm: cls())
register("source", "mtqa.signals.source:SourceSignal", lambda cls, c, lm: cls(lm, unit=c.unit))
register("xling", "mtqa.signals.xling:XlingSignal",
         lambda cls, c, lm: cls(unit=c.unit, encoder=_encoder(c)))
register("reference", "mtqa.signals.reference:ReferenceSignal", lambda cls, c, lm: cls(unit=c.unit))
register("source_reverse", "mtqa.signals.source_reverse:SourceReverseSignal", lambda cls, c, lm: cls(lm, unit=c.unit))

#: what a job runs without ``signals:``, in this order (the order of the output columns);
#: ``source_reverse`` is opt-in (a second conditional pass that ``quality`` does not read)
DEFAULT_SIGNALS: tuple[str, ...] = ("lm", "word_order", "artefacts", "source", "xling", "reference")
#: signals a job cannot leave out: ``quality``, ``mt_probability`` and the token counts read the LM's columns
REQUIRED_SIGNALS: tuple[str, ...] = ("lm",)


def names() -> list[str]:
    """Every registered signal name, in registration order."""
    return list(_REGISTRY)


def check_names(requested: Iterable[str]) -> list[str]:
    """``requested`` as a list, or a ConfigError: unknown (with a did-you-mean), repeated, or a required one missing."""
    requested = list(requested)
    for name in requested:
        if name not in _REGISTRY:
            raise _unknown(name)
    repeated = sorted({n for n in requested if requested.count(n) > 1})
    if repeated:
        raise ConfigError(f"signals: {', '.join(repeated)} listed more than once")
    missing = [n for n in REQUIRED_SIGNALS if n not in requested]
    if missing:
        raise ConfigError(f"signals: '{missing[0]}' is required (quality, mt_probability and the token counts "
                          f"are computed from its columns); add it to the list")
    return requested


def _unknown(name: object) -> ConfigError:
    known = names()
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"signals: unknown signal '{name}'{hint}; known signals: {', '.join(known)}")


def signal_class(name: str) -> "type[Signal]":
    """The class registered as ``name`` (imported now), or a ConfigError naming the known ones."""
    if name not in _REGISTRY:
        raise _unknown(name)
    return _REGISTRY[name].load()


def build(requested: Sequence[str], config: "JobConfig", lm: "CausalLM") -> list["Signal"]:
    """The signals ``requested`` (checked), built from ``config``'s settings, in that order."""
    out = []
    for name in check_names(requested):
        entry = _REGISTRY[name]
        signal = entry.build(entry.load(), config, lm)
        if signal.name != name:
            raise ConfigError(f"signals: '{name}' is registered as {entry.target}, whose name is '{signal.name}'")
        out.append(signal)
    return out


def declared_columns(requested: Iterable[str] | None = None) -> list["Column"]:
    """The columns the signals ``requested`` (default: every registered one) declare, in order.

    Imports the signal classes (not the model); no signal is built."""
    return [c for name in (names() if requested is None else requested) for c in signal_class(name).columns]


def columns_with_role(role: str, requested: Iterable[str] | None = None) -> list[str]:
    """Names of the declared columns with ``role`` (see :class:`mtqa.signals.base.Column`)."""
    return [c.name for c in declared_columns(requested) if c.role == role]
