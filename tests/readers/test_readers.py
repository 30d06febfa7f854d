import json

import pytest

from mtqa.config import Columns
from mtqa.readers import InputFile, read_inputs
from mtqa.readers.text import decode
from mtqa.errors import InputError


def _read(paths, columns=Columns()):
    errors, inventory = [], []
    arts = list(read_inputs([str(p) for p in paths], columns, errors.append, inventory))
    return arts, errors, inventory


def test_txt_article_id_is_file_stem(tmp_path):
    f = tmp_path / "story.txt"
    f.write_text("Title\n\nBody text here.", encoding="utf-8")
    (a,), errors, inv = _read([f])
    assert a.article_id == "story" and a.text.startswith("Title") and not errors
    assert inv[0].size == f.stat().st_size and len(inv[0].sha256) == 64 and inv[0].articles == 1


def test_jsonl_rows_ids_source_reference_and_broken_row(tmp_path):
    f = tmp_path / "batch.jsonl"
    f.write_text("\n".join([
        json.dumps({"id": "x1", "text": "One.", "source": "Eins.", "reference": "One!"}),
        "{not json",
        json.dumps({"text": "Two."}),
        json.dumps({"text": ""}),
    ]) + "\n", encoding="utf-8")
    arts, errors, _ = _read([f])
    assert [a.article_id for a in arts] == ["x1", "batch:3"]
    assert arts[0].source == "Eins." and arts[0].reference == "One!" and arts[1].source is None
    assert len(errors) == 2
    assert "row 2" in str(errors[0]) and "not valid JSON" in str(errors[0])
    assert "row 4" in str(errors[1]) and "empty" in str(errors[1])


def test_csv_tsv_parquet_and_custom_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.csv").write_text('doc,body\nd1,"Hello, world."\nd2,Second row.\n', encoding="utf-8")
    (tmp_path / "b.tsv").write_text("doc\tbody\nd3\tTabbed.\n", encoding="utf-8")
    pq.write_table(pa.table({"doc": ["d4"], "body": ["Parquet text."]}), tmp_path / "c.parquet")
    arts, errors, inv = _read([tmp_path], Columns(text="body", id="doc"))
    assert [a.article_id for a in arts] == ["d1", "d2", "d3", "d4"] and not errors
    assert arts[0].text == "Hello, world." and len(inv) == 3


def test_datasets_folder(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"text": "A row."}, {"text": "B row."}]).save_to_disk(str(tmp_path / "ds"))
    arts, errors, _ = _read([tmp_path / "ds"])
    assert [a.article_id for a in arts] == ["ds:1", "ds:2"] and not errors


def test_csv_without_text_column_is_one_error(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("id,content\n1,abc\n", encoding="utf-8")
    arts, errors, _ = _read([f])
    assert arts == [] and len(errors) == 1 and "no 'text' column" in str(errors[0]) and "bad.csv" in str(errors[0])


def test_duplicate_ids_keep_first_and_report(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": "same", "text": "First."}\n{"id": "same", "text": "Second."}\n', encoding="utf-8")
    arts, errors, _ = _read([f])
    assert [a.text for a in arts] == ["First."]
    assert len(errors) == 1 and "duplicate id 'same'" in str(errors[0]) and "row 2" in str(errors[0])


def test_empty_binary_missing_and_unsupported(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "x.docx").write_bytes(b"PK")
    arts, errors, _ = _read([tmp_path / "empty.txt", tmp_path / "blob.txt", tmp_path / "nope.txt", tmp_path / "x.docx"])
    assert arts == []
    by_file = {e.where.rsplit("/", 1)[-1]: e.message for e in errors}
    assert len(errors) == 4
    assert "empty file" in by_file["empty.txt"] and "binary" in by_file["blob.txt"]
    assert "no such file" in by_file["nope.txt"] and "unsupported file type" in by_file["x.docx"]


def test_cp1252_is_decoded_with_a_warning_and_gbk_refused(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Caf\u00e9 prices rose \u2013 a lot.".encode("cp1252"))
    (tmp_path / "gbk.txt").write_bytes("中文的文章内容在这里".encode("gbk") + b" and some English")
    arts, errors, inv = _read([tmp_path / "latin.txt", tmp_path / "gbk.txt"])
    assert [a.text for a in arts] == ["Caf\u00e9 prices rose \u2013 a lot."]
    assert errors[0].warning and "cp1252" in str(errors[0])
    assert not errors[1].warning and "not UTF-8" in str(errors[1]) and "gbk.txt" in str(errors[1])
    assert inv[0].note and "cp1252" in inv[0].note


def test_decode_utf8_with_bom():
    assert decode("\ufeffHello".encode("utf-8"), "x") == ("Hello", None)
    with pytest.raises(InputError):
        decode(b"\x00\x01\x02", "x")


def test_csv_in_cp1252_is_decoded(tmp_path):
    f = tmp_path / "w.csv"
    f.write_bytes("id,text\n1,Caf\u00e9 \u2013 open\n".encode("cp1252"))
    arts, errors, _ = _read([f])
    assert [a.text for a in arts] == ["Caf\u00e9 \u2013 open"]
    assert len(errors) == 1 and errors[0].warning and "cp1252" in errors[0].message
