"""Learned heads: signal columns (and the LM's pooled states) in, scores out.

* :mod:`mtqa.heads.quality` -- the learned ``quality`` head (:mod:`mtqa.combine` applies it,
  with the major-error caps and the ``low_quality`` flag);
* :mod:`mtqa.heads.detector` -- ``mt_probability``: does the sentence / article look machine-made?

Each head's parameters ship as a JSON file under ``mtqa/resources/`` whose sha256 enters
the run signature. Heads are inference only: fitting them is :mod:`mtqa.train`, which
imports from here, never the reverse (``tests/heads/test_quality.py`` checks it).
"""

from __future__ import annotations


def detector_resource(model_name: str):
    """The shipped detector parameter file for ``model_name`` (a Traversable), or None."""
    from importlib import resources

    f = resources.files("mtqa") / "resources" / f"detector-{model_name}.json"
    return f if f.is_file() else None


def build_detector(model_name: str, prior: float = 0.5):
    """The detector for ``model_name`` assuming a share ``prior`` of machine-made text, or None
    when no parameters ship for that model."""
    from mtqa.heads.detector import MTDetector

    res = detector_resource(model_name)
    return MTDetector(res.read_bytes(), res.name, prior=prior) if res is not None else None
