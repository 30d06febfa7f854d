"""The signal registry: names, the `signals:` config key, and a job that runs only some signals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mtqa.config import JobConfig, load_config
from mtqa.errors import ConfigError
from mtqa.signals import build_signals, registry
from mtqa.signals.base import Column
from tests.conftest import DATA, fresh_python, run_mtqa

ALL = ["lm", "word_order", "artefacts", "source", "xling", "reference"]
#: registered, not run by default
OPT_IN = ["source_reverse"]


def _stub_lm(max_tokens: int = 512):
    """What building a signal reads of the LM (no model: building does not score)."""
    return SimpleNamespace(max_tokens=max_tokens)


def test_names_defaults_and_classes_agree():
    assert registry.names() == ALL + OPT_IN
    assert list(registry.DEFAULT_SIGNALS) == ALL == JobConfig().signals
    for name in registry.names():
        cls = registry.signal_class(name)
        assert cls.name == name, f"{name} is registered as {cls.__name__}, whose name is {cls.name}"
        assert cls.columns, f"{name} declares no columns"
    declared = [c.name for c in registry.declared_columns()]
    assert len(declared) == len(set(declared)), "two signals declare the same column"


def test_columns_declare_their_role():
    assert registry.columns_with_role("suggestion") == ["word_order_suggestion"]
    assert "slor" in registry.columns_with_role("score")
    with pytest.raises(ValueError, match="role 'shown' is not one of"):
        Column("x", "float32", "doc", role="shown")
    with pytest.raises(ValueError, match="holds text"):
        Column("x", "float32", "doc", role="suggestion")


def test_build_uses_the_scoring_settings_in_the_order_given():
    config = JobConfig(signals=["artefacts", "lm"], scoring={"spike_z": 2.5, "word_order_threshold": 3.0})
    signals = build_signals(config, _stub_lm())
    assert [s.name for s in signals] == ["artefacts", "lm"]
    assert signals[1].spike_z == 2.5
    full = build_signals(JobConfig(scoring={"word_order_threshold": 3.0}), _stub_lm())
    assert [s.name for s in full] == ALL
    assert full[1].threshold == 3.0
    opt_in = build_signals(JobConfig(signals=["lm", "source", "source_reverse"], unit="article"), _stub_lm())
    assert [s.name for s in opt_in] == ["lm", "source", "source_reverse"] and opt_in[2].unit == "article"


@pytest.mark.parametrize("signals, message", [
    (["lm", "wordorder"], "unknown signal 'wordorder' (did you mean 'word_order'?); known signals: "
                          "lm, word_order, artefacts, source, xling, reference"),
    (["lm", "xyz"], "unknown signal 'xyz'; known signals: lm, word_order"),
    (["artefacts"], "'lm' is required"),
    (["lm", "artefacts", "lm"], "lm listed more than once"),
])
def test_a_bad_signal_list_is_one_config_error(signals, message):
    with pytest.raises(ConfigError, match="'signals': ") as err:
        load_config(None, {"signals": signals})
    assert message in str(err.value) and "\n" not in str(err.value)
    # the registry says the same to direct callers
    with pytest.raises(ConfigError, match="signals: "):
        registry.check_names(signals)


def test_a_comma_list_is_a_list_and_enters_the_resume_key():
    from mtqa.writers import job_key

    config = load_config(None, {"signals": "lm, artefacts"})
    assert config.signals == ["lm", "artefacts"]
    assert job_key(config.model_dump(mode="json")) != job_key(JobConfig().model_dump(mode="json"))


def test_an_unknown_signal_in_a_config_file_stops_the_job_before_the_model(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("signals: [lm, artefact]\n", encoding="utf-8")
    proc = run_mtqa("score", str(DATA / "sample-mt-article.txt"), "-o", str(tmp_path / "out"), "--config", str(cfg),
                    timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "unknown signal 'artefact' (did you mean 'artefacts'?)" in proc.stderr
    assert "Traceback" not in proc.stderr and "loading" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_registry_and_signal_columns_load_no_model_code():
    """Checking a config and reading declared columns stays cheap (no torch) for light signals."""
    code = ("import sys; from mtqa.config import load_config; from mtqa.signals import registry; "
            "load_config(None, {'signals': ['lm', 'artefacts']}); "
            "registry.declared_columns(['artefacts', 'reference']); import mtqa.writers; "
            "print('torch' in sys.modules)")
    assert fresh_python(code).strip() == "False"


def test_training_extracts_the_signals_it_always_did():
    """The feature cache is keyed by the signals' signatures: built through the registry, unchanged."""
    from mtqa.signals.artefacts import ArtefactSignal
    from mtqa.signals.lm import LMSignal
    from mtqa.signals.source import SourceSignal
    from mtqa.train.features import feature_signals, signals_key

    from mtqa.signals.xling import XlingSignal

    lm = _stub_lm()
    before = [LMSignal(lm), ArtefactSignal(), SourceSignal(lm, unit="segment"), XlingSignal(unit="segment")]
    assert signals_key(feature_signals(lm)) == signals_key(before)


def test_the_corpus_cache_builds_its_signals_as_it_always_did():
    """mtqa.train.extract builds its target signals through the registry: the same signatures
    (the cache refuses a folder whose signature changed) as the classes built by hand."""
    from mtqa.config import JobConfig
    from mtqa.signals.artefacts import ArtefactSignal
    from mtqa.signals.lm import LMSignal
    from mtqa.signals.word_order import WordOrderSignal
    from mtqa.train.extract import TARGET_SIGNALS

    lm = SimpleNamespace(max_tokens=512, rescoring_dtype=lambda: "float32")
    built = registry.build(TARGET_SIGNALS, JobConfig(signals=list(TARGET_SIGNALS)), lm)
    assert [s.signature() for s in built] == [s.signature() for s in (LMSignal(lm), WordOrderSignal(lm), ArtefactSignal())]


def test_the_quality_features_are_the_declared_columns():
    from mtqa.train.model import SOURCE_FEATURES, TARGET_FEATURES

    lm_float = [c.name for c in registry.declared_columns(["lm"]) if c.dtype == "float32"]
    assert TARGET_FEATURES == ["log_tokens", *lm_float] and "slor" in TARGET_FEATURES
    assert {"src_pmi", "src_logprob", "src_len_ratio"} < set(SOURCE_FEATURES)


@pytest.mark.model
def test_a_job_with_some_signals_writes_only_their_columns(tmp_path, default_model):
    import datasets

    from mtqa.pipeline import run_job
    from mtqa.report.load import load

    out = tmp_path / "out"
    config = JobConfig(inputs=[str(DATA / "sample-mt-article.txt")], output=str(out), signals=["lm", "artefacts"],
                       model={"dtype": "float32"}, progress=False)
    result = run_job(config, log=lambda msg: None)
    sentences = datasets.load_from_disk(str(out / "sentences"))
    expected = [c.name for c in registry.declared_columns(["lm", "artefacts"])]
    left_out = [c.name for c in registry.declared_columns(["word_order", "source", "xling", "reference"])]
    assert set(expected) <= set(sentences.column_names)
    assert not set(left_out) & set(sentences.column_names)
    assert list(result.run_info["columns"]) == expected
    assert len(sentences) > 5 and all(0 <= q <= 1 for q in sentences["quality"])
    assert all(f != "word_order" for fl in sentences["flags"] for f in fl)
    signature = result.run_info["signature"]
    assert "|signals:lm:1(" in signature and "+artefacts:1(" in signature
    assert "word_order" not in signature and "reference:" not in signature
    assert sentences.info.description == signature
    report = load(out)  # the report reads an output without the left-out columns
    assert report.n_sentences == len(sentences)
    assert all(s.suggestion is None for a in report.articles for s in a.sentences)
    assert not set(left_out) & set(report.signal_columns)
