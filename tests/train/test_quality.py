"""Fitting the quality head from a corpus feature cache (mtqa.train.quality)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mtqa.heads.quality import QualityModel, feature_matrix
from mtqa.train.quality import quality_rows, spearman_ci, train_quality


def _write_cache(folder, n: int = 400, seed: int = 0) -> None:
    """A two-chunk feature cache: judged MT rows of two training sets and one report set,
    whose gold follows ``slor`` (and a major flag lowers it), plus human rows (no gold)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        s = ["news21", "mlqe-ro-train", "wmt22dev"][i % 3]
        slor = float(rng.normal(2, 1))
        flags = ["fused_sentence"] if i % 17 == 0 else []
        gold = slor + rng.normal(0, 0.7) - (2.0 if flags else 0.0)
        rows.append({"set": s, "system": "hyp.X", "doc": f"d{i // 4}", "seg": i % 4, "text": f"s{i}",
                     "source": None, "machine": 1, "gold": gold, "no_major": float(gold > 2) if s != "mlqe-ro-train"
                     else None, "key": f"{s}|hyp.X|d{i // 4}|{i % 4}", "flags": flags, "lm_tokens": 12,
                     "lm_logprob": -30.0, "surprisal_mean": float(rng.normal(3, 1)), "surprisal_max": 8.0,
                     "surprisal_p90": 6.0, "entropy_mean": 3.0, "excess_surprisal": 0.5, "slor": slor,
                     "word_order_score": 0.0, "artefact_count": len(flags)})
    rows.append({**rows[0], "machine": 0, "gold": None, "key": "news21|ref.A|d0|0", "system": "ref.A"})
    folder.mkdir()
    half = len(rows) // 2
    for k, part in enumerate((rows[:half], rows[half:])):
        (folder / f"chunk-{k:05d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
        np.savez(folder / f"chunk-{k:05d}.npz", pooled=np.zeros((len(part), 4), np.float16),
                 tok_len=np.ones(len(part), np.int32), tok_logprob=np.zeros(len(part), np.float16),
                 tok_entropy=np.zeros(len(part), np.float16))


def _write_old_source_head(path) -> None:
    """A parameter file with only a with-source head (fixed flag penalty 1), to carry over."""
    old = {"format": "mtqa-quality-model", "format_version": 1, "flag_logit": 1.0, "trained_on": [{"name": "x"}],
           "heads": {"source": {"features": ["slor"], "mean": [2.0], "std": [1.0], "coef": [0.5], "intercept": 0.0,
                                "calibration": {"a": 1.0, "b": 0.0}}}}
    path.write_text(json.dumps(old))


def test_fits_on_training_sets_only_learns_the_flag_and_is_deterministic(tmp_path):
    _write_cache(tmp_path / "cache")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    sha_a = train_quality(str(tmp_path / "cache"), str(a), log=lambda m: None)
    sha_b = train_quality(str(tmp_path / "cache"), str(b), log=lambda m: None)
    assert sha_a == sha_b and a.read_bytes() == b.read_bytes()
    doc = json.loads(a.read_text())
    assert set(doc["trained_on"]) == {"news21", "mlqe-ro-train"}  # never the report set, never human rows
    head = doc["heads"]["target"]
    coef = dict(zip(head["features"], head["coef"]))
    assert coef["slor"] > 0.3 and coef["n_major_flags"] < 0  # learned from the judgements
    assert doc["flag_logit"] == 0.0 and "source" not in doc["heads"]
    model = QualityModel(doc)
    row = {"slor": 2.0, "surprisal_mean": 3.0, "lm_tokens": 12}
    assert model.quality(row, ["fused_sentence"]) < model.quality(row, [])


def test_report_rows_are_the_dev_sets(tmp_path):
    from mtqa.train.cache import load_features

    _write_cache(tmp_path / "cache")
    meta, _ = load_features(tmp_path / "cache")
    assert {r["set"] for r in quality_rows(meta, report=True)} == {"wmt22dev"}
    assert all(r["machine"] == 1 for r in quality_rows(meta))


def test_keeps_an_existing_source_head_with_its_own_flag_penalty(tmp_path):
    _write_cache(tmp_path / "cache")
    _write_old_source_head(tmp_path / "old.json")
    train_quality(str(tmp_path / "cache"), str(tmp_path / "new.json"), keep_source_head=str(tmp_path / "old.json"),
                  log=lambda m: None)
    doc = json.loads((tmp_path / "new.json").read_text())
    assert doc["heads"]["source"]["coef"] == [0.5] and doc["heads"]["source"]["flag_logit"] == 1.0
    model = QualityModel(doc)
    row = {"slor": 2.0, "surprisal_mean": 3.0, "src_pmi": 0.1}
    assert model.quality(row, ["doubled_word"], head="source") == pytest.approx(1 / (1 + math.exp(1.0)))


def test_spearman_ci_brackets_the_estimate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    rho, lo, hi = spearman_ci(x, y, np.arange(300) // 3, n=200)
    assert lo < rho < hi and 0.5 < rho < 0.8
    # with a control: the partial Spearman, resampled by the same clusters
    length = rng.normal(size=300)
    a, b = x + 2 * length, y + 2 * length
    prho, plo, phi = spearman_ci(a, b, np.arange(300) // 3, n=200, control=length)
    assert plo < prho < phi and abs(prho - rho) < 0.15 and spearman_ci(a, b, np.arange(300) // 3, n=50)[0] > 0.85


def test_refitting_with_the_shipped_file_as_source_reproduces_it(tmp_path):
    """`mtqa train --quality F --keep-source-head SHIPPED` gives SHIPPED again, byte for byte."""
    _write_cache(tmp_path / "cache")
    _write_old_source_head(tmp_path / "old.json")
    quiet = {"log": lambda m: None}
    train_quality(str(tmp_path / "cache"), str(tmp_path / "shipped.json"), keep_source_head=str(tmp_path / "old.json"), **quiet)
    train_quality(str(tmp_path / "cache"), str(tmp_path / "again.json"), keep_source_head=str(tmp_path / "shipped.json"), **quiet)
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "shipped.json").read_bytes()


def test_fit_shrunk_moves_from_the_prior_to_least_squares():
    from mtqa.train.quality import fit_shrunk

    rng = np.random.default_rng(1)
    Z = rng.normal(size=(500, 3))
    y = Z @ np.array([1.0, -0.5, 0.0]) + 0.3 + rng.normal(scale=0.1, size=500)
    prior = np.array([0.0, 0.0, 2.0])
    coef, b0 = fit_shrunk(Z, y, prior, 1e-9)
    assert np.allclose(coef, [1.0, -0.5, 0.0], atol=0.03) and b0 == pytest.approx(0.3, abs=0.03)
    coef, _ = fit_shrunk(Z, y, prior, 1e9)
    assert np.allclose(coef, prior, atol=1e-3)


def _language_rows(n: int = 1800, seed: int = 0) -> list[dict]:
    """Judged rows in three source languages: 'aa' and 'bb' follow slor, 'cc' follows the
    cross-lingual cosine only (a low-resource pair where fluency says little)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lang = ("aa", "bb", "cc")[i % 3]
        slor, cos = float(rng.normal(2, 1)), float(rng.normal(0.8, 0.05))
        gold = (slor if lang != "cc" else 20 * cos) + rng.normal(0, 0.5)
        rows.append({"set": f"mlqe-{lang}-train", "group": f"mlqe-{lang}-train", "doc": f"{lang}{i}", "gold": gold,
                     "src_lang": lang, "slor": slor, "xling_cosine": cos, "flags": []})
    return rows


def test_a_language_whose_data_disagrees_with_the_pool_gets_its_own_head():
    from mtqa.train.model import fit_ridge
    from mtqa.train.model import group_targets
    from mtqa.train.quality import language_heads

    rows = _language_rows()
    names = ["slor", "xling_cosine"]
    pooled = {"features": names, **fit_ridge(feature_matrix(rows, names), group_targets(rows), 10.0),
              "calibration": {"a": 1.0, "b": 0.0}}
    heads = language_heads(rows, pooled, 10.0)
    assert "source:cc" in heads, "the cosine-only language must get its own head"
    cc = dict(zip(names, heads["source:cc"]["coef"]))
    assert cc["xling_cosine"] > abs(cc["slor"])
    assert heads["source:cc"]["mean"] == pooled["mean"] and heads["source:cc"]["n_train"] == 600
    model = QualityModel({"format": "mtqa-quality-model", "heads": {"target": pooled, "source": pooled, **heads}})
    assert model.head_for({"src_pmi": 0.1, "src_lang": "cc"}) == "source:cc"
    assert model.head_for({"src_pmi": 0.1, "src_lang": "zz"}) == "source"  # no head for it: the pooled one
    assert model.head_for({"src_pmi": float("nan"), "src_lang": "cc"}) == "target"


def test_a_language_found_only_inside_other_sets_gets_no_head():
    """Detector errors are not data: a language that is no training set's main language gets
    no head however many rows it has (as Nepali sources called Hindi would, at 7,000 rows)."""
    from mtqa.train.model import fit_ridge, group_targets
    from mtqa.train.quality import MIN_LANGUAGE_ROWS, language_heads, main_languages

    rows = _language_rows(n=2400)  # 800 rows per language, each its own set
    cc = [r for r in rows if r["src_lang"] == "cc"][:MIN_LANGUAGE_ROWS + 100]
    rows = [r for r in rows if r["src_lang"] != "cc"] + [{**r, "group": "mlqe-bb-train"} for r in cc]
    assert main_languages(rows) == {"aa", "bb"}
    names = ["slor", "xling_cosine"]
    pooled = {"features": names, **fit_ridge(feature_matrix(rows, names), group_targets(rows), 10.0),
              "calibration": {"a": 1.0, "b": 0.0}}
    logged = []
    heads = language_heads(rows, pooled, 10.0, log=logged.append)
    assert "source:cc" not in heads
    assert any("source:cc" in m and "no head" in m for m in logged)


def test_a_cache_with_source_columns_fits_the_source_head_itself(tmp_path):
    """With a source pass in the cache (source-*.jsonl), the with-source head is fitted from
    it, learns the cross-lingual cosine, and an old head given to carry over is not used."""
    from mtqa.train.quality import MIN_SOURCE_ROWS

    _write_cache(tmp_path / "cache", n=3 * MIN_SOURCE_ROWS)
    rng = np.random.default_rng(3)
    lines = []
    for k in range(2):
        for line in (tmp_path / "cache" / f"chunk-{k:05d}.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r["machine"] == 1:
                # the cosine carries what slor does not: the gold's noise
                lines.append(json.dumps({"key": r["key"], "src_pmi": float(rng.normal()), "src_logprob": -20.0,
                                         "src_len_ratio": 0.0, "src_lang": "xx", "src_rev_pmi": r["slor"] / 2,
                                         "xling_cosine": r["gold"] - r["slor"] + float(rng.normal(0, 0.1))}))
    (tmp_path / "cache" / "source-00000.jsonl").write_text("\n".join(lines) + "\n")
    _write_old_source_head(tmp_path / "old.json")
    train_quality(str(tmp_path / "cache"), str(tmp_path / "new.json"), keep_source_head=str(tmp_path / "old.json"),
                  log=lambda m: None)
    doc = json.loads((tmp_path / "new.json").read_text())
    src = doc["heads"]["source"]
    assert "origin" not in src and src["n_train"] >= MIN_SOURCE_ROWS
    coef = dict(zip(src["features"], src["coef"]))
    assert coef["xling_cosine"] > 0.3 and coef["slor"] > 0.3
    # an ablation (--without): the same fit less a feature, in every head, and said in the file
    train_quality(str(tmp_path / "cache"), str(tmp_path / "less.json"), without=["xling_cosine", "slor"],
                  log=lambda m: None)
    less = json.loads((tmp_path / "less.json").read_text())
    assert less["without"] == ["slor", "xling_cosine"]
    for head in less["heads"].values():
        assert "xling_cosine" not in head["features"] and "slor" not in head["features"]
    assert "surprisal_mean" in less["heads"]["source"]["features"]
    # a cached column of an opt-in signal, added to the with-source head only (--add-source-feature)
    train_quality(str(tmp_path / "cache"), str(tmp_path / "more.json"), add_source=["src_rev_pmi"], log=lambda m: None)
    more = json.loads((tmp_path / "more.json").read_text())
    assert more["added_to_source_head"] == ["src_rev_pmi"]
    assert "src_rev_pmi" in more["heads"]["source"]["features"] and "src_rev_pmi" not in more["heads"]["target"]["features"]
    assert "src_rev_pmi" not in src["features"]  # not there unless asked for


def test_state_heads_learn_from_pooled_states_out_of_fold(tmp_path):
    """A cache whose pooled states carry what the columns do not (the gold's noise, in one of
    16 dimensions) gets state heads: the target pass's (``lm_pooled``) and the source pass's
    (``src_pooled``, source-K.npz). The linear heads weigh their out-of-fold scores
    positively, and the fitted model ranks two otherwise equal rows by their states."""
    from mtqa.train.extract_source import write_pooled
    from mtqa.train.quality import MIN_STATE_ROWS

    n = 3 * MIN_STATE_ROWS
    _write_cache(tmp_path / "cache", n=n)
    rng = np.random.default_rng(5)
    lines, keys, src_states = [], [], []
    for k in range(2):
        path = tmp_path / "cache" / f"chunk-{k:05d}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        pooled = rng.normal(0, 1, (len(rows), 16))
        for i, r in enumerate(rows):
            if r["gold"] is not None:
                pooled[i, 3] = r["gold"] - r["slor"] + rng.normal(0, 0.3)
                lines.append(json.dumps({"key": r["key"], "src_pmi": float(rng.normal()), "src_logprob": -20.0,
                                         "src_len_ratio": 0.0, "xling_cosine": float(rng.normal())}))
                keys.append(r["key"])
                src_states.append(np.r_[pooled[i, :8], rng.normal(0, 1, 8)])
        z = dict(np.load(path.with_suffix(".npz")))
        np.savez(path.with_suffix(".npz"), **{**z, "pooled": pooled.astype(np.float16)})
    (tmp_path / "cache" / "source-00000.jsonl").write_text("\n".join(lines) + "\n")
    write_pooled(tmp_path / "cache" / "source-00000.npz", keys, src_states)
    train_quality(str(tmp_path / "cache"), str(tmp_path / "q.json"), log=lambda m: None)
    doc = json.loads((tmp_path / "q.json").read_text())
    assert set(doc["states"]) == {"lm_state_score", "src_state_score"}
    assert doc["states"]["lm_state_score"]["vector"] == "lm_pooled" and len(doc["states"]["lm_state_score"]["coef"]) == 16
    assert doc["states"]["src_state_score"]["vector"] == "src_pooled"
    for head, feature in (("target", "lm_state_score"), ("source", "src_state_score")):
        coef = dict(zip(doc["heads"][head]["features"], doc["heads"][head]["coef"]))
        assert coef[feature] > 0.1, (head, coef)  # (the source head shares it with lm_state_score)
    model = QualityModel(doc)
    assert model.vectors == ("lm_pooled", "src_pooled")
    base = {"lm_tokens": 12, "lm_logprob": -30.0, "surprisal_mean": 3.0, "slor": 2.0}
    hi, lo = np.zeros(16), np.zeros(16)
    hi[3], lo[3] = 2.0, -2.0
    assert model.quality({**base, "lm_pooled": hi}) > model.quality({**base, "lm_pooled": lo})
    # the same cache gives the same file (the state heads are deterministic too)
    train_quality(str(tmp_path / "cache"), str(tmp_path / "q2.json"), log=lambda m: None)
    assert (tmp_path / "q.json").read_bytes() == (tmp_path / "q2.json").read_bytes()


def test_the_xling_pair_vectors_get_a_state_head_for_rows_with_a_source():
    from scipy.stats import spearmanr

    from mtqa.train.quality import XLING_RIDGES, state_heads

    rng = np.random.default_rng(3)
    n, dim = 600, 1536
    w = rng.normal(size=dim)
    meta, pairs = [], {}
    for i in range(n):
        v = rng.normal(size=dim).astype(np.float32)
        key = f"mlqe-ro-train|hyp|d{i}|0"
        meta.append({"key": key, "set": "mlqe-ro-train", "group": "mlqe-ro-train", "doc": f"d{i}",
                     "gold": float(v @ w / np.sqrt(dim) + rng.normal(0, 0.5)),
                     "src_pmi": 0.1 if i % 10 else None})  # every tenth row: no source pass
        pairs[key] = v
    rows = [dict(m) for m in meta]
    states = state_heads(meta, {"pooled": np.zeros((0, 0)), "xling_pair": pairs}, rows)
    assert list(states) == ["xling_state_score"]
    head = states["xling_state_score"]
    assert head["vector"] == "xling_pair" and head["ridge"] in XLING_RIDGES and head["n_train"] == 540
    scored = [r for r in rows if r["src_pmi"] is not None]
    assert all(math.isnan(r["xling_state_score"]) for r in rows if r["src_pmi"] is None)
    oof = np.array([r["xling_state_score"] for r in scored])
    assert spearmanr(oof, [r["gold"] for r in scored]).statistic > 0.2  # out of fold (chance: 0 +- 0.04), yet it learned


def test_balance_gives_each_training_set_the_same_weight_only_when_asked():
    """``balance=True`` (what BALANCE_SETS switches on for ``mtqa train``; what
    benchmarks/quality_transfer.py compares) weighs a small set up: its own direction then
    shows in the fit. Off, every row counts once. Passed as an argument, not a module global."""
    from mtqa.train.quality import fit_state

    rng = np.random.default_rng(3)
    rows, X = [], []
    for i in range(1200):
        big = i < 1000  # 1,000 rows where y follows x0, 200 where it follows x1
        x = rng.normal(size=2)
        rows.append({"set": "big" if big else "small", "group": "big" if big else "small", "doc": f"d{i // 5}",
                     "gold": float(x[0] if big else x[1]) + rng.normal(0, 0.1)})
        X.append(x)
    X = np.array(X)
    plain, _ = fit_state(rows, X, penalties=(1.0,))
    balanced, _ = fit_state(rows, X, penalties=(1.0,), balance=True)
    share = lambda p: abs(p["coef"][1]) / (abs(p["coef"][0]) + abs(p["coef"][1]))  # noqa: E731
    assert share(plain) == pytest.approx(200 / 1200, abs=0.05)
    assert share(balanced) == pytest.approx(0.5, abs=0.05)
