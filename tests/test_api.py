"""The in-memory API (mtqa.load / QualityScorer.score) on the real default model.

Two scorers are built per module (unit article and unit segment), float32 like the CLI run
they are compared with.
"""

from __future__ import annotations

import math

import pytest

from mtqa.errors import ConfigError, MtqaError
from tests.conftest import DATA, fresh_python, run_mtqa
from tests.test_pipeline import tiny_model  # noqa: F401

SAMPLES = [DATA / "sample-mt-article.txt", DATA / "sample-fluent-article.txt"]


def _same(a, b) -> bool:
    """Equal values, NaN equal to NaN, recursively through lists and dicts."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _assert_same_table(api, cli, key):
    assert api.column_names == cli.column_names
    assert api.features == cli.features
    assert len(api) == len(cli) > 0
    for got, want in zip(api, cli):
        for col in cli.column_names:
            assert _same(got[col], want[col]), (key, got["article_id"], col, got[col], want[col])


@pytest.fixture(scope="module")
def article_scorer(default_model):
    import mtqa

    return mtqa.load(model={"dtype": "float32"})


@pytest.fixture(scope="module")
def segment_scorer(default_model):
    import mtqa

    return mtqa.load(unit="segment", model={"dtype": "float32"}, articles_per_chunk=2)


@pytest.mark.model
def test_result_equals_what_mtqa_score_writes(article_scorer, tmp_path):
    import datasets

    out = tmp_path / "out"
    proc = run_mtqa("score", *map(str, SAMPLES), "-o", str(out), "--dtype", "float32", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    # ids and origins as the text reader gives them: the file stem and the path as passed
    items = [{"id": p.stem, "text": p.read_bytes().decode("utf-8"), "origin": str(p)} for p in SAMPLES]
    result = article_scorer.score(items)
    _assert_same_table(result.sentences, datasets.load_from_disk(str(out / "sentences")), "sentences")
    _assert_same_table(result.articles, datasets.load_from_disk(str(out / "articles")), "articles")
    run_signature = (out / "run.json").read_text()
    assert article_scorer.signature in run_signature and article_scorer.signature.startswith("mtqa:")
    assert result.sentences.info.description == article_scorer.signature
    assert result.skipped == [] and result.errors == []


@pytest.mark.model
def test_strings_dicts_source_reference_and_bad_items(segment_scorer):
    items = ["The council approved the budget on Monday.",
             {"id": "de", "text": "The minister visited the flooded villages yesterday.",
              "source": "Der Minister besuchte gestern die überfluteten Dörfer.",
              "reference": "Yesterday the minister visited the flooded villages."},
             {"text": "   "},
             {"text": "Discuss the financial attitude of the ministry the.", "reference": ""}]
    result = segment_scorer.score(items)
    s = result.sentences
    # ids: the item's id, else its position; the blank item is skipped and reported
    assert s["article_id"] == ["0", "de", "3"] and result.articles["article_id"] == ["0", "de", "3"]
    assert result.skipped == ["2"] and "empty" in result.errors[0].message and result.errors[0].where == "item 2"
    assert result.articles["origin"] == ["item 0", "item 1", "item 3"]
    rows = {r["article_id"]: r for r in s}
    assert all(0.0 <= r["quality"] <= 1.0 for r in s)
    assert not math.isnan(rows["de"]["src_pmi"]) and math.isnan(rows["0"]["src_pmi"])
    assert 0 <= rows["de"]["ref_chrf"] <= 100 and math.isnan(rows["3"]["ref_chrf"])  # blank reference = none
    assert rows["3"]["quality"] < rows["0"]["quality"]

    with pytest.raises(MtqaError, match="duplicate id '1'"):
        segment_scorer.score([{"id": "1", "text": "One."}, "Two."])  # position 1 collides with the id "1"
    with pytest.raises(MtqaError, match="list of items"):
        segment_scorer.score("A single string.")
    empty = segment_scorer.score([])
    assert len(empty.sentences) == 0 and empty.sentences.column_names == s.column_names
    with pytest.raises(ConfigError, match="output"):
        __import__("mtqa").load(output="out")


@pytest.mark.model
def test_dataset_map_batched(segment_scorer):
    import datasets

    texts = ["The council approved the budget on Monday.", "", "Discuss the financial attitude of the ministry the.",
             "The museum reopened after two years of repairs.", "Prices rose sharply in March."]
    ds = datasets.Dataset.from_dict({"text": texts, "lang": ["en"] * len(texts)})
    fn = segment_scorer.map_fn(columns=["quality", "mt_probability", "flags"], prefix="mtqa_")
    mapped = ds.map(fn, batched=True, batch_size=4)  # batch_size a multiple of articles_per_chunk (2)
    assert mapped.column_names == ["text", "lang", "mtqa_quality", "mtqa_mt_probability", "mtqa_flags"]
    assert mapped[1]["mtqa_quality"] is None and mapped[1]["mtqa_flags"] is None  # blank row: no score
    # the same numbers as scoring the rows directly (same chunks: batches of 4, chunks of 2)
    direct = segment_scorer.score([{"text": t} for t in texts[:4]]).sentences
    assert mapped["mtqa_quality"][:4:2] == direct["quality"][:2] and mapped["mtqa_quality"][3] == direct["quality"][2]
    assert mapped["mtqa_mt_probability"][0] == direct["mt_probability"][0]
    assert all(0.0 <= q <= 1.0 for i, q in enumerate(mapped["mtqa_quality"]) if i != 1)
    with pytest.raises(ConfigError, match="no column 'n_sentences'"):
        segment_scorer.map_fn(columns=["n_sentences"])


def test_import_mtqa_does_not_import_torch():
    """``import mtqa`` stays cheap, and looking up ``mtqa.load`` imports mtqa.api but not torch yet."""
    code = ("import sys, mtqa; heavy = ('torch', 'transformers', 'datasets', 'mtqa.api'); "
            "print(sorted(m for m in heavy if m in sys.modules)); mtqa.load; "
            "print('mtqa.api' in sys.modules, 'torch' in sys.modules)")
    out = fresh_python(code)
    assert out.splitlines() == ["[]", "True False"], out


def test_score_files_streams_to_disk_with_the_loaded_model(tmp_path, tiny_model, monkeypatch):
    """``score_files`` runs the job of ``mtqa score`` around the scorer already loaded (no second
    load), and what it writes equals what ``score`` returns for the same texts."""
    import datasets

    import mtqa
    from mtqa.progress import ProgressState
    from mtqa.scorer import Scorer

    scorer = mtqa.load(model={"name": tiny_model, "device": "cpu", "dtype": "float32"}, log=lambda m: None)
    monkeypatch.setattr(Scorer, "build", classmethod(lambda cls, *a, **kw: pytest.fail("the model was loaded again")))
    folder = tmp_path / "in"
    folder.mkdir()
    texts = {"a": "The council met on Monday. It approved the budget.", "b": "Prices rose sharply in March."}
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    states: list[ProgressState] = []
    out = tmp_path / "out"
    job = scorer.score_files([folder / "a.txt", folder / "b.txt"], out, progress=states.append, formats=["jsonl"],
                             log=lambda m: None)
    assert job.run_info["signature"] == scorer.signature and job.failed_inputs == 0
    assert (out / "sentences.jsonl").is_file() and states[-1].finished and states[-1].done == 2
    in_memory = scorer.score([{"id": k, "text": t, "origin": str(folder / f"{k}.txt")} for k, t in texts.items()])
    _assert_same_table(in_memory.sentences, datasets.load_from_disk(str(out / "sentences")), "sentences")
    _assert_same_table(in_memory.articles, datasets.load_from_disk(str(out / "articles")), "articles")
    with pytest.raises(ConfigError, match="unit cannot change after load"):
        scorer.score_files([folder], tmp_path / "o2", unit="segment")
    with pytest.raises(MtqaError, match="output folder exists"):
        scorer.score_files([folder], out, progress=False)


def test_from_config_refuses_the_ray_engine():
    from mtqa.api import from_config
    from mtqa.config import JobConfig

    with pytest.raises(ConfigError, match="engine: ray"):
        from_config(JobConfig.model_validate({"engine": "ray"}))
