"""Combiners: the learned one (shipped parameters), the heuristic fallback, the low_quality flag."""

from __future__ import annotations

import math

import pytest

from mtqa.combine import FallbackHeuristic, HeuristicCombiner, LearnedCombiner, build_combiner, resource_path
from mtqa.config import JobConfig
from mtqa.train.model import fit_model  # training fits the parameters the (inference) combiner applies
from mtqa.train.run import write_params
from tests.train.test_model import synthetic_rows


def columns_of(rows):
    names = {k for r in rows for k in r if k not in ("id", "group", "gold", "no_major", "flags")}
    return {n: [r.get(n) for r in rows] for n in sorted(names)}


@pytest.fixture
def learned(tmp_path):
    path = tmp_path / "quality-test.json"
    write_params(fit_model(synthetic_rows()), path)
    return LearnedCombiner.from_file(path, flag_quality=0.5)


def test_learned_combiner_rows_flags_and_signature(learned, tmp_path):
    rows = synthetic_rows(50, 11)
    flags = [[] for _ in rows]
    flags[0] = ["repeated_sentence"]
    q, new_flags = learned.combine(columns_of(rows), flags)
    assert len(q) == 50 and all(0 <= x <= 1 for x in q)
    for x, fl in zip(q, new_flags):
        assert ("low_quality" in fl) == (x < 0.5)
    assert new_flags[0][0] == "repeated_sentence"  # the signals' flags come first, kept
    sig = learned.signature()
    assert sig.startswith("learned:2(params=quality-test.json,sha256=") and "heads=source+target" in sig
    # another parameter file, another signature
    path2 = tmp_path / "quality-other.json"
    write_params(fit_model(synthetic_rows(seed=3)), path2)
    assert LearnedCombiner.from_file(path2).signature().split("sha256=")[1] != sig.split("sha256=")[1]


def test_flags_never_raise_quality(learned):
    rows = synthetic_rows(20, 5)
    cols = columns_of(rows)
    plain = learned.combine(cols, [[] for _ in rows]).quality
    flagged = learned.combine(cols, [["doubled_word"] for _ in rows]).quality
    assert all(f < p for f, p in zip(flagged, plain))


def test_unscorable_row_is_neutral(learned):
    cols = {"lm_tokens": [0], "surprisal_mean": [float("nan")], "slor": [float("nan")], "src_pmi": [float("nan")]}
    assert learned.combine(cols, [[]]).quality == [0.5]


def test_unknown_model_falls_back_to_the_heuristic():
    c = build_combiner(JobConfig(), "some/unknown-model")
    assert isinstance(c, FallbackHeuristic) and isinstance(c, HeuristicCombiner)
    assert "no learned parameters for some/unknown-model" in c.signature()
    q, fl = c.combine({"slor": [-3.0], "excess_surprisal": [0.0]}, [[]])
    assert q[0] < 0.5 and fl == [["low_quality"]]


def test_default_model_ships_learned_parameters():
    res = resource_path("gemma-3-270m")
    assert res is not None, "mtqa/resources/quality-gemma-3-270m.json is missing (python -m mtqa train)"
    c = build_combiner(JobConfig(), "gemma-3-270m")
    assert isinstance(c, LearnedCombiner)
    assert {"target", "source"} <= set(c.model.heads)
    assert all(h.startswith("source:") for h in set(c.model.heads) - {"target", "source"})  # per-language heads
    assert math.isfinite(c.model.heads["target"]["calibration"]["a"])


# ---- flags that count (issue 13): every major-error flag puts the sentence below flag_quality
import pytest as _pytest  # noqa: E402

from mtqa.combine import MAJOR_FLAGS, NOT_ENGLISH_QUALITY, HeuristicCombiner as _H, LearnedCombiner as _L, resource_path as _res  # noqa: E402


def _fluent_columns(n: int) -> dict:
    # a sentence the heads find very fluent (high SLOR, low surprisal): quality near the top
    return {"slor": [4.0] * n, "excess_surprisal": [0.5] * n, "lm_tokens": [20] * n, "lm_logprob": [-30.0] * n,
            "surprisal_mean": [1.5] * n, "surprisal_max": [5.0] * n, "surprisal_p90": [3.0] * n,
            "entropy_mean": [1.0] * n, "src_pmi": [float("nan")] * n, "src_logprob": [float("nan")] * n,
            "src_len_ratio": [float("nan")] * n}


@_pytest.mark.parametrize("flag", sorted(MAJOR_FLAGS))
@_pytest.mark.parametrize("which", ["heuristic", "learned"])
def test_a_major_flag_puts_the_sentence_below_flag_quality(flag, which):
    comb = _H("gemma-3-270m", 0.5) if which == "heuristic" else _L.from_file(_res("gemma-3-270m"), 0.5)
    clean = comb.combine(_fluent_columns(1), [[]]).quality[0]
    assert clean > 0.5, "the fixture must be a sentence the heads call good, or the test proves nothing"
    quality, flags = comb.combine(_fluent_columns(1), [[flag]])
    q = quality[0]
    assert q < 0.5 and "low_quality" in flags[0]
    if flag == "not_english":
        assert q <= NOT_ENGLISH_QUALITY


def _poor_states(comb):
    """A pooled-state vector the shipped state head scores far below its training mean (each
    dimension 3 standard deviations to the side its weight calls worse), as it scores garbled
    sentences: without it the head sees an average sentence's states."""
    import numpy as np

    state = comb.model.states["lm_state_score"]
    return (np.array(state["mean"]) - 3 * np.sign(state["coef"]) * np.array(state["std"])).astype(np.float32)


# ---- combiners return flags; the caller's lists are never changed
@_pytest.mark.parametrize("which", ["heuristic", "learned"])
def test_combine_returns_new_flags_and_leaves_the_callers_lists_alone(which):
    comb = _H("gemma-3-270m", 0.5) if which == "heuristic" else _L.from_file(_res("gemma-3-270m"), 0.5)
    cols = _fluent_columns(3)
    # the last two are poor in every LM column: low_quality
    cols["slor"] = [4.0, -3.0, -3.0]
    cols["surprisal_mean"] = [1.5, 9.0, 9.0]
    cols["lm_logprob"] = [-30.0, -180.0, -180.0]
    cols["surprisal_max"] = [5.0, 15.0, 15.0]
    cols["surprisal_p90"] = [3.0, 12.0, 12.0]
    cols["excess_surprisal"] = [0.5, 5.0, 5.0]
    given = [[], ["doubled_word"], ["low_quality"]]
    snapshot = [list(fl) for fl in given]
    # the shipped head reads mostly the pooled states' score (lm_state_score); poor states too
    vectors = {"lm_pooled": [None] + [_poor_states(comb)] * 2} if which == "learned" else None
    quality, flags = comb.combine(cols, given, vectors)
    assert given == snapshot, "combine changed the caller's flag lists"
    assert all(new is not old for new, old in zip(flags, given))
    assert quality[0] > 0.5 and flags[0] == []
    assert quality[1] < 0.5 and flags[1] == ["doubled_word", "low_quality"]
    assert flags[2] == ["low_quality"]  # never twice
    # the same input twice: the same output (nothing accumulated between calls)
    assert comb.combine(cols, given, vectors) == (quality, flags)
