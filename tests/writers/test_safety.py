"""The output-folder rules on real folders, without a model: what OUT may be, what
``--overwrite`` may delete (:mod:`mtqa.writers.safety`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtqa.errors import OutputError
from mtqa.writers import OutputLock, check_output, check_target, clear_output, foreign_entries


def fake_output(folder: Path, *, formats=("parquet",), report=True) -> Path:
    """A folder laid out exactly as a finished mtqa output (the files' contents do not matter here)."""
    for kind in ("sentences", "articles"):
        (folder / kind).mkdir(parents=True)
        for name in ("data-00000-of-00001.arrow", "dataset_info.json", "state.json"):
            (folder / kind / name).write_text("x")
        for fmt in formats:
            (folder / f"{kind}.{fmt}").write_text("x")
    (folder / "run.json").write_text(json.dumps({"mtqa_version": "0.1.0", "signature": "mtqa:0.1.0|..."}))
    if report:
        (folder / "report.html").write_text("<html></html>")
    return folder


def test_a_finished_output_is_recognised_and_holds_nothing_foreign(tmp_path):
    out = fake_output(tmp_path / "out")
    assert foreign_entries(out) == []
    check_target(out, [], overwrite=True)  # may be replaced
    with pytest.raises(OutputError, match="output folder exists"):
        check_output(out, overwrite=False)


@pytest.mark.parametrize("extra", ["thesis.docx", "sub/notes.md", "sentences/mine.txt", ".hidden"])
def test_overwrite_refuses_a_folder_with_files_mtqa_did_not_write(tmp_path, extra):
    out = fake_output(tmp_path / "out")
    (out / extra).parent.mkdir(parents=True, exist_ok=True)
    (out / extra).write_text("the user's")
    with pytest.raises(OutputError, match="files mtqa did not write"):
        check_output(out, overwrite=True)
    with pytest.raises(OutputError, match="files mtqa did not write"):
        clear_output(out)  # the last line of defence, run just before deleting
    assert (out / extra).read_text() == "the user's"


def test_overwrite_refuses_a_folder_that_is_not_an_mtqa_output(tmp_path):
    """Only mtqa-named entries but no run.json/manifest written by mtqa: not recognisably ours."""
    out = tmp_path / "out"
    (out / "sentences").mkdir(parents=True)
    (out / "sentences" / "data.arrow").write_text("x")
    (out / "run.json").write_text('{"my": "own run.json"}')
    with pytest.raises(OutputError, match="not an mtqa output"):
        check_output(out, overwrite=True)


def test_a_symlink_in_the_output_is_never_followed(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.arrow").write_text("keep")
    out = fake_output(tmp_path / "out")
    import shutil

    shutil.rmtree(out / "articles")
    (out / "articles").symlink_to(precious)
    with pytest.raises(OutputError, match="articles/"):
        check_output(out, overwrite=True)
    assert (precious / "data.arrow").read_text() == "keep"


@pytest.mark.parametrize("where", [".", "..", "../.."])
def test_the_working_directory_and_its_parents_are_refused(tmp_path, monkeypatch, where):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="working directory"):
            check_output(Path(where), overwrite)


def test_an_output_holding_or_being_an_input_is_refused(tmp_path):
    src = tmp_path / "proj" / "in" / "a.txt"
    src.parent.mkdir(parents=True)
    src.write_text("An article.")
    for out in (tmp_path / "proj", tmp_path / "proj" / "in", src):
        with pytest.raises(OutputError, match="input"):
            check_output(out, True, inputs=[str(src)])
    with pytest.raises(OutputError, match="is the input"):
        check_output(tmp_path / "proj" / "in", True, inputs=[str(tmp_path / "proj" / "in")])
    # next to the inputs is fine
    assert check_output(tmp_path / "proj" / "out", False, inputs=[str(src)]) is False


def test_clear_output_deletes_only_mtqa_files_and_keeps_the_folder_and_lock(tmp_path):
    out = fake_output(tmp_path / "out", formats=("parquet", "csv", "jsonl"))
    (out / ".mtqa" / "shards").mkdir(parents=True)
    (out / ".mtqa" / "manifest.json").write_text("{}")
    with OutputLock(out):
        clear_output(out)
        assert out.is_dir() and [p.name for p in out.iterdir()] == [".mtqa"]
        assert [p.name for p in (out / ".mtqa").iterdir()] == ["lock"]
    assert out.is_dir() and not (out / ".mtqa").exists()  # our own empty state folder is tidied, OUT stays
