"""Job progress (mtqa.progress): the total counted from the inputs, updates within a chunk, the bar."""

from __future__ import annotations

import io
import json

import pytest

from mtqa.progress import ProgressBar, ProgressState, estimate_articles, shard_share
from tests.test_pipeline import config, tiny_model, write_corpus  # noqa: F401


def test_estimate_counts_rows_of_every_input_kind(tmp_path):
    import datasets

    (tmp_path / "a.txt").write_text("One article.\n\nTwo paragraphs.\n", encoding="utf-8")
    # the last line has no newline
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n{"text": "y"}\n{"text": "z"}', encoding="utf-8")
    (tmp_path / "c.csv").write_text("id,text\n1,x\n2,y\n", encoding="utf-8")
    (tmp_path / "d.tsv").write_text("id\ttext\n1\tx\n", encoding="utf-8")
    (tmp_path / "e.json").write_text(json.dumps({"data": [{"text": "x"}, {"text": "y"}]}), encoding="utf-8")
    datasets.Dataset.from_dict({"text": ["p", "q", "r", "s"]}).to_parquet(str(tmp_path / "f.parquet"))
    datasets.Dataset.from_dict({"text": ["u", "v", "w", "x", "y"]}).save_to_disk(str(tmp_path / "g"))
    assert estimate_articles([str(tmp_path / "a.txt")]) == 1
    assert estimate_articles([str(tmp_path / "b.jsonl")]) == 3
    assert estimate_articles([str(tmp_path / "c.csv"), str(tmp_path / "d.tsv")]) == 3
    assert estimate_articles([str(tmp_path / "e.json")]) == 2
    assert estimate_articles([str(tmp_path / "f.parquet")]) == 4
    assert estimate_articles([str(tmp_path / "g")]) == 5
    assert estimate_articles([str(tmp_path)]) == 1 + 3 + 3 + 2 + 4 + 5  # a folder: its members
    assert estimate_articles([str(tmp_path)], exclude=[tmp_path / "g"]) == 13  # the job's output is no input
    assert estimate_articles([str(tmp_path / "nosuch.txt")]) == 0  # reported by the readers, not here


def test_shard_share_is_the_articles_of_this_shards_chunks():
    # 10 articles in chunks of 4: chunks 0 (4), 1 (4), 2 (2)
    assert [shard_share(10, 4, 2, i) for i in range(2)] == [4 + 2, 4]
    assert [shard_share(10, 4, 3, i) for i in range(3)] == [4, 4, 2]
    assert shard_share(10, 4, 1, 0) == 10 and shard_share(0, 4, 2, 1) == 0


def test_run_job_progress_has_a_total_and_moves_within_chunks(tmp_path, tiny_model):
    """On a real job: the first update already knows the total (the corpus has 60 good rows and one
    broken line, so the estimate is 61), updates come within each chunk (fractional counts), the
    count never goes back, and the last update is the real count."""
    from mtqa.pipeline import run_job

    corpus = write_corpus(tmp_path / "in", n_files=2, rows_per_file=10, seed=1)  # 21 lines, 20 good rows
    states: list[ProgressState] = []
    result = run_job(config([corpus], tmp_path / "out", tiny_model), progress=states.append, log=lambda m: None)
    assert states[0] == ProgressState(21, 0, 0)
    assert all(s.total == 21 for s in states[:-1])
    done = [s.done for s in states]
    assert done == sorted(done)
    within = [s for s in states if s.done != int(s.done)]
    assert within, "no update inside a chunk"
    # chunks of 4: the first update after the start is inside chunk 0, before its rows are written
    assert 0 < states[1].done < 4 and states[1].sentences == 0
    last = states[-1]
    assert last.finished and last.total == last.done == 20
    assert last.sentences == result.run_info["counts"]["sentences"]


def test_resumed_chunks_leave_the_total_and_do_not_inflate_the_rate(tmp_path, tiny_model, monkeypatch):
    from mtqa.pipeline import run_job
    from mtqa.writers import ShardWriter

    corpus = write_corpus(tmp_path / "in", n_files=2, rows_per_file=10, seed=1)
    out = tmp_path / "out"
    real = ShardWriter.write_chunk
    calls = {"n": 0}

    class Killed(Exception):
        pass

    def dying(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed()
        return real(self, *a, **kw)

    monkeypatch.setattr(ShardWriter, "write_chunk", dying)
    with pytest.raises(Killed):
        run_job(config([corpus], out, tiny_model), log=lambda m: None)
    monkeypatch.setattr(ShardWriter, "write_chunk", real)
    states: list[ProgressState] = []
    run_job(config([corpus], out, tiny_model), progress=states.append, log=lambda m: None)
    # two chunks of 4 were done: 13 of the 21 counted rows are left (the total shrinks as they are met)
    assert states[-2].total == 13 and states[-1].done == 12 and states[-1].finished


def test_bar_on_a_terminal_shows_total_rate_and_eta():
    stream = io.StringIO()
    bar = ProgressBar(stream, tty=True)
    bar(ProgressState(40, 0, 0))
    bar(ProgressState(40, 2.5, 0))
    bar(ProgressState(40, 4, 31))
    bar(ProgressState(40, 40, 300, finished=True))
    bar.close()
    text = stream.getvalue()
    assert "/40 articles" in text and "articles/s" in text and "<" in text  # elapsed<remaining: the ETA
    assert "40.0/40" in text and "300 sentences" in text


def test_bar_elsewhere_prints_one_final_line_only():
    stream = io.StringIO()
    bar = ProgressBar(stream, tty=False)
    for state in (ProgressState(40, 0, 0), ProgressState(40, 2.5, 0), ProgressState(40, 40, 300, finished=True)):
        bar(state)
    assert stream.getvalue() == ""
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtqa: scored 40 article(s), 300 sentence(s) in ")
    failed = io.StringIO()
    bar = ProgressBar(failed, tty=False)
    bar(ProgressState(40, 2.5, 0))  # the job died: its error line is the last word, not a summary
    bar.close()
    assert failed.getvalue() == ""
