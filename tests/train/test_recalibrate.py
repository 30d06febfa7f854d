"""Refitting the quality link on a newer MQM set (mtqa.train.recalibrate)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtqa.errors import ConfigError
from mtqa.heads.quality import QualityModel
from mtqa.evaluate.calibration import ece
from mtqa.train.cache import load_features
from mtqa.train.quality import train_quality
from mtqa.train.recalibrate import calibration_rows, log_odds, recalibrate, recalibrate_file
from tests.train.test_quality import _write_cache


def _cache_with_more_good_report_rows(folder) -> None:
    """The test_quality cache, but the report set's segments are judged free of major errors far
    more often than the training sets' (as WMT22 dev's 79% against newstest2021's 53%)."""
    _write_cache(folder, n=900)
    for p in folder.glob("chunk-*.jsonl"):
        rows = [json.loads(line) for line in p.read_text().splitlines()]
        for r in rows:
            if r["set"] == "wmt22dev" and r["gold"] is not None:
                r["no_major"] = float(r["gold"] > 0.5)
            if r["set"] == "wmt22dev" and r["seg"] % 2 == 0:  # half of them with a source
                r.update(src_pmi=r["slor"] / 3, src_logprob=-20.0, src_len_ratio=1.0, xling_cosine=0.8)
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def fitted(tmp_path):
    cache = tmp_path / "cache"
    _cache_with_more_good_report_rows(cache)
    params = tmp_path / "fit.json"
    train_quality(str(cache), str(params), log=lambda m: None)
    doc = json.loads(params.read_text())
    # a with-source head and a per-language one, as the shipped file has (copies of the target head)
    doc["heads"]["source"] = dict(doc["heads"]["target"])
    doc["heads"]["source:zh"] = dict(doc["heads"]["target"])
    params.write_text(json.dumps(doc))
    return cache, params, doc


def test_the_refit_raises_the_level_to_the_sets_error_rate_and_keeps_every_heads_order(fitted):
    cache, _, doc = fitted
    meta, arrays = load_features(cache)
    new = recalibrate(doc, meta, arrays, "wmt22dev", repeats=5, log=lambda m: None)
    rows = calibration_rows(meta, arrays, "wmt22dev")
    y = np.array([r["no_major"] for r in rows])
    before, _ = log_odds(QualityModel(doc), rows, "target")
    after, _ = log_odds(QualityModel(new), rows, "target")
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    assert abs(sig(before).mean() - y.mean()) > 0.15  # the training link is off on this set ...
    assert abs(sig(after).mean() - y.mean()) < 0.03  # ... the refit is not
    assert ece(sig(after), y) < ece(sig(before), y) / 2
    assert np.array_equal(np.argsort(before, kind="stable"), np.argsort(after, kind="stable"))  # monotone
    rec = new["recalibration"]
    assert rec["set"] == "wmt22dev" and rec["target"]["n"] == len(rows) and rec["source"]["n"] < len(rows)
    assert rec["target"]["ece_cross_fit_mean"] < rec["target"]["ece_before"]
    for name in ("target", "source", "source:zh"):  # every head of both families is refitted
        cal = new["heads"][name]["calibration"]
        family = "target" if name == "target" else "source"
        assert cal["fitted"] == doc["heads"][name]["calibration"]
        assert cal["a"] == pytest.approx(rec[family]["alpha"] * cal["fitted"]["a"], rel=1e-5)
    assert new["heads"]["source:zh"]["calibration"] == new["heads"]["source"]["calibration"]


def test_recalibrating_twice_gives_the_same_file_and_too_few_rows_is_a_clear_error(fitted, tmp_path):
    cache, params, _ = fitted
    once, twice = tmp_path / "once.json", tmp_path / "twice.json"
    sha1 = recalibrate_file(str(params), str(cache), str(once), log=lambda m: None)
    sha2 = recalibrate_file(str(once), str(cache), str(twice), log=lambda m: None)
    assert sha1 == sha2 and once.read_bytes() == twice.read_bytes()
    with pytest.raises(ConfigError, match="mlqe-ro-train: 0 rows"):
        recalibrate_file(str(params), str(cache), str(tmp_path / "x.json"), "mlqe-ro-train", log=lambda m: None)
    with pytest.raises(ConfigError, match="not a readable parameter file"):
        recalibrate_file(str(tmp_path / "missing.json"), str(cache), str(tmp_path / "x.json"), log=lambda m: None)


def test_train_quality_calibrate_on_equals_fit_then_recalibrate(fitted, tmp_path):
    cache, _, _ = fitted
    fit, direct, two_step = tmp_path / "f.json", tmp_path / "d.json", tmp_path / "t.json"
    train_quality(str(cache), str(fit), log=lambda m: None)
    train_quality(str(cache), str(direct), calibrate_on="wmt22dev", log=lambda m: None)
    recalibrate_file(str(fit), str(cache), str(two_step), log=lambda m: None)
    assert direct.read_bytes() == two_step.read_bytes()


def test_the_command_needs_the_cache_and_says_so_in_one_line(capsys, tmp_path):
    from mtqa.cli import main

    try:
        code = main(["train", "--recalibrate", str(tmp_path / "params.json")])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == ["mtqa: error: --recalibrate PARAMS needs --quality FEATURES (the cache holding "
                                        "the calibration set)"]
