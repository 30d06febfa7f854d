"""The quality head at inference (mtqa.heads.quality), and that scoring imports no training code."""

from __future__ import annotations

import json
import math

import pytest

from mtqa.combine import resource_path
from mtqa.heads.quality import FLAG_WEIGHTS, QualityModel, n_flags
from tests.conftest import fresh_python

FLUENT = {"lm_tokens": 20, "lm_logprob": -30.0, "surprisal_mean": 1.5, "surprisal_max": 5.0, "surprisal_p90": 3.0,
          "entropy_mean": 1.0, "excess_surprisal": 0.5, "slor": 4.0}
POOR = {**FLUENT, "lm_logprob": -140.0, "surprisal_mean": 7.0, "surprisal_max": 14.0, "surprisal_p90": 11.0,
        "excess_surprisal": 4.0, "slor": -1.0}


@pytest.fixture(scope="module")
def shipped() -> QualityModel:
    res = resource_path("gemma-3-270m")
    assert res is not None, "mtqa/resources/quality-gemma-3-270m.json is missing"
    return QualityModel(json.loads(res.read_bytes()))


def test_shipped_parameters_order_sentences_sensibly(shipped):
    good, bad = shipped.quality(FLUENT), shipped.quality(POOR)
    assert 0 < bad < good < 1
    assert shipped.quality({**FLUENT, "surprisal_mean": math.nan}) == 0.5  # nothing scored: neutral


def test_head_choice_and_missing_columns(shipped):
    assert shipped.head_for(FLUENT) == "target"
    assert shipped.head_for({**FLUENT, "src_pmi": 1.2, "src_logprob": -20.0, "src_len_ratio": 0.1}) == "source"
    # a source language with its own head uses it; one without falls back to the pooled head
    assert shipped.head_for({**FLUENT, "src_pmi": 1.2, "src_lang": "zh"}) == "source:zh"
    assert shipped.head_for({**FLUENT, "src_pmi": 1.2, "src_lang": "de"}) == "source"
    # a column a switched-off signal did not write reads as the training mean: a value, not an error
    partial = {k: v for k, v in FLUENT.items() if k not in ("surprisal_p90", "entropy_mean")}
    assert 0 < shipped.quality(partial) < 1


def test_flags_lower_quality_with_their_weights(shipped):
    # the target head learned its flag weights from the judgements (never positive: a flag
    # never raises quality; the major-error cap is the combiner's, tests/test_combine.py)
    target = shipped.heads["target"]
    learned = dict(zip(target["features"], target["coef"]))
    assert all(learned[f] <= 0 for f in ("n_major_flags", "n_minor_flags") if f in learned)
    plain = shipped.quality(FLUENT)
    assert shipped.quality(FLUENT, ["doubled_word"]) <= plain and shipped.quality(FLUENT, ["boilerplate"]) <= plain
    assert shipped.quality(FLUENT, ["truncated", "low_quality"]) == plain  # not artefact evidence
    # every with-source head (pooled and per language) learned its flag weights too: never
    # positive (a flag feature the data would weigh positively is dropped from the pooled head
    # and so from its language heads: since session 10's xling state head, n_major_flags, whose
    # weight without it was -0.002), and a flag never raises quality. Major errors are capped
    # below flag_quality by the combiner whatever the head says: tests/test_combine.py
    src = {**FLUENT, "src_pmi": 1.2, "src_logprob": -20.0, "src_len_ratio": 0.1, "xling_cosine": 0.85}
    assert "n_minor_flags" in shipped.heads["source"]["features"]
    for head in (h for h in shipped.heads if h.startswith("source")):
        coef = dict(zip(shipped.heads[head]["features"], shipped.heads[head]["coef"]))
        assert coef.get("n_major_flags", -1) < 0 and coef.get("n_minor_flags", 0) <= 0, head
        assert ("n_major_flags" in coef) == ("n_major_flags" in shipped.heads["source"]["features"]), head
        plain_s = shipped.quality(src, head=head)
        assert shipped.quality(src, ["boilerplate"], head=head) <= plain_s, head
        assert shipped.quality(src, ["doubled_word"], head=head) < plain_s, head  # a minor flag
    # files with a fixed flag penalty (flag_logit) weigh the heavier flags more
    assert n_flags(["boilerplate", "doubled_word", "doubled_word"]) == FLAG_WEIGHTS["boilerplate"] + 1


def test_a_file_of_another_format_is_refused():
    with pytest.raises(ValueError, match="not an mtqa quality model file"):
        QualityModel({"format": "mtqa-mt-detector", "heads": {}})


def test_training_applies_the_same_model():
    """Training re-exports the inference class; it does not keep a copy that could drift."""
    import mtqa.heads.quality as heads
    import mtqa.train.model as train

    assert train.QualityModel is heads.QualityModel and train.FLAG_WEIGHTS is heads.FLAG_WEIGHTS


def test_inference_imports_no_training_code():
    code = ("import sys, mtqa.combine, mtqa.heads, mtqa.heads.quality, mtqa.heads.detector; "
            "from mtqa.combine import build_combiner; from mtqa.config import JobConfig; "
            "c = build_combiner(JobConfig(), 'gemma-3-270m'); assert type(c).__name__ == 'LearnedCombiner'; "
            "print(sorted(m for m in sys.modules if m == 'mtqa.train' or m.startswith('mtqa.train.')))")
    assert fresh_python(code).strip() == "[]"


def test_state_heads_read_the_pooled_vectors(shipped):
    """The shipped file's state heads: the base pass's pooled state for every head, the
    conditioned pass's for the with-source heads. A state score moves quality; a row without
    the vector (or with zeros: nothing scored) reads as the training mean, exactly as if the
    feature were absent."""
    from mtqa.heads.quality import state_score

    assert shipped.vectors == ("lm_pooled", "src_pooled", "xling_pair")
    lm_state, src_state = shipped.states["lm_state_score"], shipped.states["src_state_score"]
    assert len(lm_state["coef"]) == 640 and len(src_state["coef"]) == 3 * 640
    assert "lm_state_score" in shipped.heads["target"]["features"]
    assert "src_state_score" in shipped.heads["source"]["features"]
    assert math.isnan(state_score(lm_state, None)) and math.isnan(state_score(lm_state, [0.0] * 640))
    assert math.isnan(state_score(lm_state, [1.0] * 10))  # another model's width: no score, not an error
    # a vector that is the training mean gives the head's intercept
    assert state_score(lm_state, lm_state["mean"]) == pytest.approx(lm_state["intercept"])
    coef = shipped.heads["target"]["coef"][shipped.heads["target"]["features"].index("lm_state_score")]
    assert coef > 0  # the state score predicts the judgement: a higher one raises quality
    std = [s if s > 0 else 1.0 for s in lm_state["std"]]
    up = [m + 0.5 * s * math.copysign(1.0, c) for m, s, c in zip(lm_state["mean"], std, lm_state["coef"])]
    down = [m - 0.5 * s * math.copysign(1.0, c) for m, s, c in zip(lm_state["mean"], std, lm_state["coef"])]
    assert shipped.quality({**FLUENT, "lm_pooled": down}) < shipped.quality(FLUENT) < shipped.quality({**FLUENT, "lm_pooled": up})
    assert shipped.quality({**FLUENT, "lm_pooled": lm_state["mean"]}) == pytest.approx(
        shipped.quality({**FLUENT, "lm_pooled": None}), abs=0.05)


def test_the_xling_state_head_reads_the_embedding_pair(shipped):
    """Session 10's third state head: the with-source heads read ``xling_state_score`` from the
    xling signal's ``[s, t, s*t, |s-t|]``; the target-only head does not, so a row without a
    source is unaffected by it."""
    from mtqa.heads.quality import state_score

    xl = shipped.states["xling_state_score"]
    assert xl["vector"] == "xling_pair" and len(xl["coef"]) == 4 * 384
    assert "xling_state_score" not in shipped.heads["target"]["features"]
    head = shipped.heads["source"]
    assert head["coef"][head["features"].index("xling_state_score")] > 0
    assert state_score(xl, xl["mean"]) == pytest.approx(xl["intercept"])
    std = [s if s > 0 else 1.0 for s in xl["std"]]
    up = [m + 0.5 * s * math.copysign(1.0, c) for m, s, c in zip(xl["mean"], std, xl["coef"])]
    src = {**FLUENT, "src_pmi": 1.2, "src_logprob": -20.0, "src_len_ratio": 0.1, "xling_cosine": 0.85}
    assert shipped.quality({**src, "xling_pair": up}, head="source") > shipped.quality(src, head="source")
    assert shipped.quality({**FLUENT, "xling_pair": up}) == shipped.quality(FLUENT)  # target-only
