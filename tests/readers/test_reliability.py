"""Issue 10: a problem in an input costs only its own row or file, is always reported, and never hangs.

Real files throughout (a real FIFO too); unreadable files are simulated when running as root
(root reads chmod-000 files anyway) and tested for real otherwise.
"""

import builtins
import json
import os
import threading
from pathlib import Path

import pytest

from mtqa.config import Columns
from mtqa.readers import read_inputs


def _read(paths, columns=Columns(), exclude=()):
    errors, inventory = [], []
    arts = list(read_inputs([str(p) for p in paths], columns, errors.append, inventory, exclude=exclude))
    return arts, errors, inventory


def _only(errors, warning=False):
    return [e for e in errors if e.warning == warning]


# --- item 2: TSV fields are literal; no reader merges rows silently ---------------------------------


def test_tsv_quotes_are_text_and_rows_never_merge(tmp_path):
    f = tmp_path / "quotes.tsv"
    f.write_text(
        "id\ttext\n"
        't1\t"An unbalanced quote opens this row\n'
        "t2\tThe second row stands alone.\n"
        "t3\tSo does the third.\n"
        't4\t"We will win," he said.\n', encoding="utf-8")
    arts, errors, _ = _read([f])
    assert not errors
    assert [(a.article_id, a.text) for a in arts] == [
        ("t1", '"An unbalanced quote opens this row'),
        ("t2", "The second row stands alone."),
        ("t3", "So does the third."),
        ("t4", '"We will win," he said.'),
    ]


def test_tsv_crlf_and_a_tab_inside_a_field(tmp_path):
    f = tmp_path / "tabs.tsv"
    f.write_bytes(b"id\ttext\r\na\tFirst row.\r\nb\tcut here\tand this would be lost\r\nc\tThird row.\t\r\n")
    arts, errors, _ = _read([f])
    assert [(a.article_id, a.text) for a in arts] == [("a", "First row."), ("c", "Third row.")]
    (err,) = errors
    assert "row 2" in str(err) and "3 fields but the header has 2" in err.message and not err.warning


def test_csv_stray_quote_is_a_row_error_not_a_rewritten_row(tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('id,text\n1,"We will win," he said.\n2,Plain row.\n3,"Properly ""quoted"", with comma"\n',
                 encoding="utf-8")
    arts, errors, _ = _read([f])
    assert [(a.article_id, a.text) for a in arts] == [("2", "Plain row."), ("3", 'Properly "quoted", with comma')]
    (err,) = errors
    assert "row 1" in str(err) and "malformed CSV in line 2" in err.message


def test_csv_unclosed_quote_names_the_lines_it_swallowed(tmp_path):
    f = tmp_path / "open.csv"
    f.write_text('id,text\n1,First row.\n2,"never closed\n3,would be merged\n4,so would this\n', encoding="utf-8")
    arts, errors, _ = _read([f])
    assert [a.text for a in arts] == ["First row."]
    (err,) = errors
    assert "row 2" in str(err) and "lines 3-5" in err.message


def test_csv_multiline_quoted_field_is_still_one_row(tmp_path):
    f = tmp_path / "ml.csv"
    f.write_bytes(b'id,text\r\n1,"Para one.\r\n\r\nPara two."\r\n2,Next.\r\n')
    arts, errors, _ = _read([f])
    assert not errors and [a.text for a in arts] == ["Para one.\r\n\r\nPara two.", "Next."]


def test_csv_unquoted_comma_is_a_row_error_not_a_cut_text(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("id,text\n1,Hello, world\n2,Fine.\n", encoding="utf-8")
    arts, errors, _ = _read([f])
    assert [a.text for a in arts] == ["Fine."]
    (err,) = errors
    assert "row 1" in str(err) and "3 fields but the header has 2" in err.message


# --- item 11: decide per row; decode per line; .json arrays ---------------------------------------------


def test_jsonl_first_row_without_text_costs_only_that_row(tmp_path):
    f = tmp_path / "rows.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "body": "no text field here"},
        {"id": "b", "text": "Second row is scored."},
        {"id": "c", "body": "nor here"},
        {"id": "d", "text": "Fourth row is scored."},
    ]) + "\n", encoding="utf-8")
    arts, errors, _ = _read([f])
    assert [a.article_id for a in arts] == ["b", "d"]
    assert [e.where.rsplit(": ", 1)[-1] for e in errors] == ["row 1", "row 3"]
    assert all("'text' is missing" in e.message for e in errors)


def test_jsonl_without_the_text_field_anywhere_is_one_line(tmp_path):
    f = tmp_path / "wrong.jsonl"
    f.write_text("".join(json.dumps({"id": i, "body": "x"}) + "\n" for i in range(50)), encoding="utf-8")
    arts, errors, _ = _read([f])
    assert arts == []
    (err,) = errors
    assert "no row has a 'text' field" in err.message and "50 row(s)" in err.message and "id, body" in err.message


def test_latin1_byte_after_8kb_loses_no_rows(tmp_path):
    rows = [f'{i},"Row {i} is plain ASCII text, padded to take some room in the file."' for i in range(200)]
    rows[150] = '150,"Caf\u00e9 prices rose \u2013 a lot."'  # ~11 KB into the file
    f = tmp_path / "latin.csv"
    data = ("id,text\n" + "\n".join(rows) + "\n").encode("cp1252")
    assert data.index(b"\xe9") > 8192
    f.write_bytes(data)
    arts, errors, _ = _read([f])
    assert len(arts) == 200 and arts[150].text == "Caf\u00e9 prices rose \u2013 a lot."
    (warn,) = errors
    assert warn.warning and "cp1252" in warn.message and "line 152" in warn.message


def test_mixed_utf8_and_cp1252_lines_keep_both_intact(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(
        json.dumps({"text": "Zürich – déjà vu."}, ensure_ascii=False).encode("utf-8") + b"\n"
        + json.dumps({"text": "Caf\u00e9 \u2013 open."}, ensure_ascii=False).encode("cp1252") + b"\n"
        + "{\"text\": \"中文的文章内容在这里中文的文章内容\"}".encode("gbk") + b"\n"
        + json.dumps({"text": "Last row."}).encode() + b"\n")
    arts, errors, _ = _read([f])
    assert [a.text for a in arts] == ["Zürich – déjà vu.", "Caf\u00e9 \u2013 open.", "Last row."]
    bad = _only(errors)
    assert len(bad) == 1 and "row 3" in str(bad[0]) and "not UTF-8" in bad[0].message
    (warn,) = _only(errors, warning=True)
    assert "1 line(s)" in warn.message and "line 2" in warn.message


def test_json_array_of_objects_is_read_as_rows(tmp_path):
    f = tmp_path / "arr.json"
    f.write_text(json.dumps([{"id": "x", "text": "First article."}, 7, {"text": "Third article."}], indent=2),
                 encoding="utf-8")
    arts, errors, inv = _read([f])
    assert [(a.article_id, a.text) for a in arts] == [("x", "First article."), ("arr:3", "Third article.")]
    (err,) = errors
    assert "row 2" in str(err) and "not a JSON object" in err.message
    assert inv[0].kind == "json" and inv[0].articles == 2


def test_json_object_holding_one_array_and_json_lines_in_a_json_file(tmp_path):
    (tmp_path / "wrapped.json").write_text(json.dumps({"meta": {"n": 2}, "data": [{"text": "A."}, {"text": "B."}]}),
                                           encoding="utf-8")
    (tmp_path / "lines.json").write_text('{"text": "C."}\n{"text": "D."}\n', encoding="utf-8")
    arts, errors, _ = _read([tmp_path / "wrapped.json", tmp_path / "lines.json"])
    assert not errors and [a.text for a in arts] == ["A.", "B.", "C.", "D."]


def test_other_json_is_refused_in_one_line(tmp_path):
    (tmp_path / "s.json").write_text('"just a string"', encoding="utf-8")
    (tmp_path / "two.json").write_text(json.dumps({"a": [{"text": "x"}], "b": [{"text": "y"}]}), encoding="utf-8")
    (tmp_path / "broken.json").write_text('[{"text": "x"},\n  {"text": ]', encoding="utf-8")
    arts, errors, _ = _read([tmp_path / "s.json", tmp_path / "two.json", tmp_path / "broken.json"])
    assert arts == [] and len(errors) == 3
    msgs = {Path(e.where).name: e.message for e in errors}
    assert "holds a JSON string" in msgs["s.json"]
    assert "2 arrays of objects (a, b)" in msgs["two.json"]
    assert "not valid JSON" in msgs["broken.json"] and "line 2" in msgs["broken.json"]


# --- item 6: mtqa outputs are not inputs ----------------------------------------------------------------


def _fake_output(out: Path, finished: bool = True) -> None:
    """The layout of an mtqa output folder: datasets with a `text` column, run.json, the manifest."""
    import datasets

    (out / ".mtqa").mkdir(parents=True)
    (out / ".mtqa" / "manifest.json").write_text(json.dumps({"version": 1, "chunks": {}}))
    if finished:
        datasets.Dataset.from_list([{"article_id": "a", "text": "A sentence."}]).save_to_disk(str(out / "sentences"))
        datasets.Dataset.from_list([{"article_id": "a", "text": "A sentence."}]).save_to_disk(str(out / "articles"))
        (out / "sentences.jsonl").write_text('{"text": "A sentence."}\n')
        (out / "run.json").write_text(json.dumps({"mtqa_version": "0.1.0", "signature": "x"}))
        (out / ".mtqa" / "manifest.json").unlink()
        (out / ".mtqa").rmdir()


def test_an_output_folder_inside_an_input_folder_is_not_read(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text("The only real article.", encoding="utf-8")
    _fake_output(corpus / "out")  # a finished earlier run
    _fake_output(corpus / "sub" / "running", finished=False)  # a job in progress
    arts, errors, inv = _read([corpus], exclude=[corpus / "out"])
    assert [a.article_id for a in arts] == ["story"] and [i.path for i in inv] == [str(corpus / "story.txt")]
    (warn,) = errors  # the job's own output is left out silently; another output with a warning
    assert warn.warning and "running" in warn.where and "mtqa output" in warn.message
    arts, errors, _ = _read([corpus])  # without the exclude, both outputs are still left out
    assert [a.article_id for a in arts] == ["story"] and len(errors) == 2 and all(e.warning for e in errors)


def test_an_output_folder_given_as_input_is_refused(tmp_path):
    _fake_output(tmp_path / "out")
    arts, errors, _ = _read([tmp_path / "out", tmp_path / "out" / "articles"], exclude=[tmp_path / "elsewhere"])
    assert [a.text for a in arts] == ["A sentence."]  # OUT/articles is a datasets folder: rescoring it is fine
    (err,) = errors
    assert not err.warning and "is an mtqa output folder" in err.message
    arts, errors, _ = _read([tmp_path / "out" / "articles"], exclude=[tmp_path / "out"])
    assert arts == [] and "this job's output folder" in errors[0].message


# --- item 8: unreadable files and FIFOs -------------------------------------------------------------------


def _run_with_timeout(fn, timeout=20.0):
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(value=fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    return thread.is_alive(), result.get("value")


def test_fifo_is_skipped_with_a_line_never_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("A good article.", encoding="utf-8")
    in_folder = folder / "pipe.txt"
    os.mkfifo(in_folder)
    named = tmp_path / "named.jsonl"  # given on the command line
    os.mkfifo(named)
    hung, value = _run_with_timeout(lambda: _read([folder, named]))
    if hung:  # unblock the reader stuck in open() so that the test process can end
        for f in (in_folder, named):
            try:
                os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert not hung, "reading a FIFO hung"
    arts, errors, inv = value
    assert [a.article_id for a in arts] == ["good"] and [Path(i.path).name for i in inv] == ["good.txt"]
    assert sorted(Path(e.where).name for e in errors) == ["named.jsonl", "pipe.txt"]
    assert all("not a regular file (a FIFO" in e.message and not e.warning for e in errors)


def _deny(monkeypatch, denied: Path):
    """Make every way of opening ``denied`` fail as chmod 000 would for a normal user."""
    real_os_open, real_open = os.open, builtins.open

    def is_denied(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)) == str(denied)

    def os_open(path, *args, **kwargs):
        if is_denied(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_os_open(path, *args, **kwargs)

    def open_(file, *args, **kwargs):
        if is_denied(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)


@pytest.mark.parametrize("name", ["locked.txt", "locked.jsonl", "locked.csv", "locked.parquet"])
def test_unreadable_file_is_one_error_and_the_rest_is_read(tmp_path, monkeypatch, name):
    (tmp_path / "a.txt").write_text("First article.", encoding="utf-8")
    (tmp_path / "z.txt").write_text("Last article.", encoding="utf-8")
    locked = tmp_path / name
    locked.write_bytes(b"text\nSecret.\n")
    _deny(monkeypatch, locked)
    arts, errors, inv = _read([tmp_path])
    assert [a.article_id for a in arts] == ["a", "z"] and len(inv) == 2
    (err,) = errors
    assert err.where == str(locked) and "Permission denied" in err.message and not err.warning


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads chmod-000 files (simulated above)")
def test_chmod_000_file_for_real(tmp_path):
    (tmp_path / "a.txt").write_text("Readable.", encoding="utf-8")
    locked = tmp_path / "b.txt"
    locked.write_text("Not readable.", encoding="utf-8")
    locked.chmod(0)
    try:
        arts, errors, _ = _read([tmp_path])
    finally:
        locked.chmod(0o644)
    assert [a.article_id for a in arts] == ["a"]
    (err,) = errors
    assert "b.txt" in err.where and "Permission denied" in err.message


# --- item 12: what is printed from the input is escaped ------------------------------------------------


def test_control_characters_in_file_names_do_not_reach_the_terminal(tmp_path):
    f = tmp_path / "evil\r\nmtqa: error: forged\x1b[2J.jsonl"
    f.write_text('{"text": ""}\n', encoding="utf-8")
    _, errors, _ = _read([f])
    (err,) = errors
    line = f"mtqa: error: {err}"
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "evil\\r\\nmtqa: error: forged\\x1b[2J.jsonl: row 1" in line
    assert err.where.startswith(str(tmp_path)) and "\r\n" in err.where  # run.json keeps the raw name
