"""Import torch without its Python meta-kernel registrations until something needs them.

``import torch`` ends with ``from torch import _meta_registrations``: Python "meta" kernels
(shape functions for tracing, ``torch.compile``, fake tensors, the ``meta`` device) and the
decomposition/reference libraries they pull in (``torch._decomp``, ``torch._refs``,
``torch._prims``). That is 0.35-0.45 s of torch's 1.2-1.3 s import on a 2-core machine, and
eager inference on real tensors never uses them: mtqa's own Gemma decoder
(:mod:`mtqa.models.gemma3`) runs plain CPU/CUDA kernels.

So the processes ``mtqa score`` and ``mtqa serve`` start (nowhere else: a program that
imports mtqa keeps torch as it comes) import torch through :func:`import_torch_deferred`,
which puts a placeholder in ``sys.modules`` for exactly the duration of ``import torch``.
Afterwards the registrations load on first need, in the order torch itself uses:

* :func:`complete_torch` imports them before the paths that need the kernels without
  importing anything of torch's tracing stack: transformers (a model mtqa's decoder does not
  cover, ``AutoTokenizer``, its caches; transformers builds models on the ``meta`` device),
  dynamic int8 quantisation, the model conversion;
* any import of the modules they pull in (``torch._decomp``, ``torch._refs``,
  ``torch._prims``: ``torch.compile``, ``torch.export``'s tracing, ...) completes them first
  (:class:`_CompleteFirst`): imported before the registrations, those modules fail on their
  circular imports.

Scores are the same bit for bit (``tests/models/test_lazy_torch.py`` compares a job with and
without). ``MTQA_FULL_TORCH=1`` turns the deferral off.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types

_NAME = "torch._meta_registrations"
#: what the registrations import that ``import torch`` alone does not: imported later on its own,
#: each completes them first (torch._decomp, _refs and _prims fail on circular imports otherwise)
_PULLED_IN = ("torch._decomp", "torch._refs", "torch._prims", "torch._prims_common.wrappers",
              "torch.utils._content_store", "torch.testing._internal.common_dtype")


class _CompleteThenUse(importlib.abc.Loader):
    """Loads one of :data:`_PULLED_IN` by importing the registrations, which import it in torch's
    order; the import system then hands out the module they made (the ``sys.modules``
    replacement its loaders may do)."""

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        name = module.__name__
        del sys.modules[name]  # the stand-in the import system made: the real one comes next
        complete_torch()
        if name not in sys.modules:
            importlib.import_module(name)


class _CompleteFirst(importlib.abc.MetaPathFinder):
    """Routes the first import of a module of :data:`_PULLED_IN` through :class:`_CompleteThenUse`."""

    def find_spec(self, name, path=None, target=None):
        if name not in _PULLED_IN or not deferred():
            return None  # while the registrations import (deferred() is False then): the usual way
        return importlib.machinery.ModuleSpec(name, _CompleteThenUse())


_FINDER = _CompleteFirst()


def import_torch_deferred() -> bool:
    """Import torch without its meta-kernel registrations, if it has not been imported yet and
    ``MTQA_FULL_TORCH`` is not set; True if the registrations were left out."""
    if "torch" in sys.modules or _NAME in sys.modules or os.environ.get("MTQA_FULL_TORCH", "") not in ("", "0"):
        return False
    sys.modules[_NAME] = types.ModuleType(_NAME, "placeholder while torch is imported (mtqa.models.lazy_torch)")
    try:
        import torch
    finally:
        del sys.modules[_NAME]
    torch.__dict__.pop("_meta_registrations", None)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    return True


def deferred() -> bool:
    """Whether torch is imported and its registrations are not."""
    return "torch" in sys.modules and _NAME not in sys.modules


def complete_torch() -> None:
    """Import the registrations now if torch was imported without them (idempotent; cheap when not)."""
    if deferred():
        importlib.import_module(_NAME)
