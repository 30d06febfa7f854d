"""The MT detector's head: features, article aggregation (monotone, length-calibrated), evidence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mtqa.heads.detector import SCALAR_FEATURES, MTDetector, evidence, scalar_features
from mtqa.train.detector import Table, fit_aggregator, fit_detector, fit_flag_weights, logistic_fit


def _synthetic_table(n_docs: int = 40, per_doc: int = 8, seed: int = 0) -> Table:
    """Documents of human (0) and machine (1) sentences whose features differ by a shift."""
    rng = np.random.default_rng(seed)
    meta, sc, pooled, y = [], [], [], []
    for d in range(n_docs):
        label = d % 2
        system = "hyp.A" if label else "ref.A"
        for s in range(per_doc):
            meta.append({"set": "news21", "system": system, "doc": f"d{d // 2}", "seg": s, "machine": label,
                         "flags": [], "lm_tokens": 10})
            sc.append(rng.normal(0.6 * label, 1.0, len(SCALAR_FEATURES)))
            pooled.append(rng.normal(0.3 * label, 1.0, 16))
            y.append(label)
    return Table(meta, np.array(sc), np.array(pooled, np.float32), np.array(y, float), np.ones(len(y), bool))


@pytest.fixture(scope="module")
def detector() -> MTDetector:
    doc = fit_detector(_synthetic_table(), k_pca=4, l2=1.0)
    return MTDetector(json.dumps(doc).encode(), "synthetic.json")


def test_logistic_fit_recovers_a_separating_direction():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] - X[:, 2] + rng.normal(scale=0.5, size=400) > 0).astype(float)
    coef, _ = logistic_fit(X, y, np.ones(400), l2=1e-3)
    assert coef[0] > 1 and coef[2] < -1 and abs(coef[1]) < 0.5


def test_sentence_probabilities_separate_the_classes(detector):
    t = _synthetic_table(seed=7)
    p = detector.probabilities(t.scalars, t.pooled)
    assert p[t.y == 1].mean() > p[t.y == 0].mean() + 0.2
    assert ((p >= 0) & (p <= 1)).all()


def test_article_probability_never_falls_when_a_sentence_gets_more_suspicious(detector):
    rng = np.random.default_rng(3)
    for _ in range(200):
        logits = rng.normal(0, 2, size=rng.integers(1, 30))
        base = detector.article_probability(logits)
        i = rng.integers(len(logits))
        worse = logits.copy()
        worse[i] += abs(rng.normal(0, 2)) + 1e-3
        assert detector.article_probability(worse) >= base - 1e-12


def test_evidence_accumulates_with_more_suspicious_sentences(detector):
    agg = detector.agg
    assert agg["b"] > 0 and 0 <= agg["g"] <= 1
    one = detector.article_probability([2.0])
    many = detector.article_probability([2.0] * 20)
    if agg["g"] > 0.05:
        assert many > one
    else:
        assert many == pytest.approx(one)


def test_non_english_or_unscored_sentences_are_left_out(detector):
    assert math.isnan(detector.article_probability([]))
    assert math.isnan(detector.article_probability([float("nan")]))
    assert detector.article_probability([1.0, float("nan")]) == pytest.approx(detector.article_probability([1.0]))


def test_fit_aggregator_learns_that_longer_consistent_articles_are_surer():
    rng = np.random.default_rng(0)
    groups, ys = [], []
    for n in (1, 3, 10, 30):
        for _ in range(150):
            y = rng.integers(2)
            groups.append(rng.normal(0.8 if y else -0.8, 1.5, size=n))
            ys.append(y)
    agg = fit_aggregator(groups, np.array(ys, float))
    assert agg["b"] > 0 and agg["g"] > 0.3


def test_scalar_features_read_the_token_profile():
    row = {"text": "The cat sat, on the mat 42.", "slor": 2.0, "surprisal_mean": 3.0, "flags": ["word_order", "lm_spike"],
           "word_order_score": 6.0}
    f = dict(zip(SCALAR_FEATURES, scalar_features(row, np.array([-0.1, -2.0, -9.0]), np.array([1.0, 2.0, 3.0]))))
    assert f["share_predictable"] == pytest.approx(1 / 3) and f["share_surprising"] == pytest.approx(1 / 3)
    assert "n_artefacts" not in f  # flags enter as naive-Bayes weights (test below)
    assert f["word_order_score"] == 6.0 and f["digit_share"] > 0


def test_evidence_names_the_sentences_and_their_flags(detector):
    t = _synthetic_table(n_docs=2, seed=5)
    logits = detector.logits(t.scalars[:8], t.pooled[:8])
    logits[2] = 5.0
    flags = [[] for _ in range(8)]
    flags[2] = ["fused_sentence"]
    text = evidence(detector, list(range(8)), logits, flags, t.scalars[:8], t.pooled[:8])
    assert "English sentences look machine-made" in text
    assert "sentence 2 (p=0.99): flags fused_sentence" in text


def test_flag_weights_are_rate_ratios_never_negative_and_bounded():
    t = _synthetic_table(n_docs=40, per_doc=10)
    machine = [i for i in range(len(t.y)) if t.y[i] == 1]
    human = [i for i in range(len(t.y)) if t.y[i] == 0]
    for i in machine[:40]:
        t.meta[i]["flags"] = ["number_spacing"]  # 40 of 200 machine sentences, no human one
    for i in human[:30]:
        t.meta[i]["flags"] = ["punct_spacing"]  # a human-typical quirk: never evidence of "human"
    for i in machine[:2] + human[:2]:
        t.meta[i]["flags"] = t.meta[i]["flags"] + ["doubled_word"]  # as common in both classes
    t.meta[human[0]]["flags"] = t.meta[human[0]]["flags"] + ["lm_spike"]  # not an artefact flag
    w = fit_flag_weights(t.meta)
    # 40.5/201 vs 0.5/201: log(81) = 4.39, clipped to 3
    assert w["number_spacing"] == pytest.approx(3.0)
    assert "doubled_word" not in w and "punct_spacing" not in w and "lm_spike" not in w
    for i in machine[:38]:
        t.meta[i]["flags"] = []  # 2 of 200: a modest weight, log(2.5 / 0.5)
    assert fit_flag_weights(t.meta)["number_spacing"] == pytest.approx(math.log(5.0), rel=1e-6)


def test_flags_raise_a_sentence_logit_by_their_weight(detector):
    t = _synthetic_table(n_docs=2, seed=5)
    det = MTDetector(json.dumps({**detector.doc, "flags": {"number_spacing": 2.0, "boilerplate": 1.0}}).encode(), "x")
    plain = det.logits(t.scalars[:3], t.pooled[:3])
    flagged = det.logits(t.scalars[:3], t.pooled[:3], [["number_spacing"], ["number_spacing", "boilerplate", "lm_spike"], []])
    np.testing.assert_allclose(flagged - plain, [2.0, 3.0, 0.0])


def test_census_supplies_the_rule_flags_and_the_table_the_lm_flags():
    from mtqa.train.detector import flag_weights

    t = _synthetic_table(n_docs=40, per_doc=10)
    machine = [i for i in range(len(t.y)) if t.y[i] == 1]
    for i in machine[:5]:
        t.meta[i]["flags"] = ["word_order", "number_spacing"]  # the table: both flags on 5 of 200
    census = [{"set": "news21", "machine": m, "flags": ["number_spacing"] if m and j < 2 else []}
              for m in (0, 1) for j in range(1000)]  # the census: number_spacing on 2 of 1000
    w = flag_weights(t, census)
    assert w["word_order"] == pytest.approx(math.log(5.5 / 0.5))
    assert w["number_spacing"] == pytest.approx(math.log(2.5 / 0.5))  # the census rate, not the table's
    assert flag_weights(t, None)["number_spacing"] == pytest.approx(math.log(5.5 / 0.5))


def test_a_known_prior_shifts_every_log_odds_once_and_keeps_the_ranking(detector):
    t = _synthetic_table(n_docs=4, seed=9)
    rare = MTDetector(json.dumps(detector.doc).encode(), "synthetic.json", prior=0.1)
    shift = math.log(0.1 / 0.9)
    even, low = detector.logits(t.scalars, t.pooled), rare.logits(t.scalars, t.pooled)
    np.testing.assert_allclose(low - even, shift)
    assert (np.argsort(low) == np.argsort(even)).all()
    lm = detector.lm_logits(t.scalars[:10], t.pooled[:10])
    # once per article, not once per sentence: a 10-sentence article moves by the same shift
    assert rare.article_logit(lm) - detector.article_logit(lm) == pytest.approx(shift)
    assert rare.article_probability(lm) < detector.article_probability(lm)
    assert "prior=0.5)" in detector.signature() and "prior=0.1)" in rare.signature()
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(ValueError, match="between 0 and 1"):
            MTDetector(json.dumps(detector.doc).encode(), "x", prior=bad)


def test_apply_writes_probabilities_at_the_prior(detector):
    from types import SimpleNamespace

    from mtqa.heads.detector import apply

    t = _synthetic_table(n_docs=2, seed=4)
    n = 6
    rows = [{"article_id": "a", "sentence_id": i, "text": "Some words here.", "flags": [], "slor": 1.0} for i in range(n)]
    scores = [SimpleNamespace(logprobs=np.array([-1.0, -2.0, -3.0]), entropies=np.array([1.0, 1.5, 2.0]), hidden=None)
              for _ in range(n)]
    out = {}
    for prior in (0.5, 0.9):
        det = MTDetector(json.dumps(detector.doc).encode(), "x", prior=prior)
        s_rows, a_rows = [dict(r) for r in rows], [{"article_id": "a"}]
        apply(det, s_rows, a_rows, scores, 16, pooled=t.pooled[:n])
        out[prior] = ([r["mt_probability"] for r in s_rows], a_rows[0]["mt_probability"])
    odds = lambda p: p / (1 - p)  # noqa: E731
    for p_even, p_high in zip(out[0.5][0], out[0.9][0]):
        assert odds(p_high) / odds(p_even) == pytest.approx(9.0, rel=1e-6)
    assert odds(out[0.9][1]) / odds(out[0.5][1]) == pytest.approx(9.0, rel=1e-6)
