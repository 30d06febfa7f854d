"""The run signature: one string that makes every number reproducible (after sacrebleu).

    mtqa:0.1.3|model:gemma-3-270m@cf4e53823019|dtype:float32|device:cpu|seg:pysbd-0.3.4|unit:article|
    signals:lm:1(max_tokens=512,...)+artefacts:1(...)|combiner:heuristic:1|detector:mt-detector:2(...)|torch:2.13.0|transformers:5.24.0|wordfreq:3.1.1

The model is named with the first 12 hex digits of its weights' sha256 (run.json has all 64).
``signals:`` lists the signals the job ran (the config's ``signals:``, in order), each with its
version and settings: a signal switched off is absent, so its runs never compare equal to a
full run's.
Two runs with equal signatures and inputs give the same scores.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from mtqa import __version__

PACKAGES = ("torch", "transformers", "datasets", "pysbd", "wordfreq", "sacrebleu", "numpy")


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def build_signature(*, model: str, weights_sha256: str, dtype: str, device: str, segmenter: str, unit: str,
                    signals: list[str], combiner: str, detector: str | None = None) -> str:
    v = package_versions()
    parts = [
        f"mtqa:{__version__}",
        f"model:{model}@{weights_sha256[:12]}",
        f"dtype:{dtype}",
        f"device:{device}",
        f"seg:{segmenter}",
        f"unit:{unit}",
        "signals:" + "+".join(signals),
        f"combiner:{combiner}",
        f"detector:{detector or 'none'}",
        f"torch:{v['torch']}",
        f"transformers:{v['transformers']}",
        f"wordfreq:{v['wordfreq']}",
    ]
    return "|".join(parts)
