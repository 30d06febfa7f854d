"""Gold readers for score-only formats, export, and (optionally) the real files in ../shared/data."""

import io
import json
import tarfile
from pathlib import Path

import pytest

from mtqa.errors import ConfigError, MtqaError
from mtqa.evaluate.gold import detect_format, export_segments, load_gold


def test_generic_csv_with_tags_and_duplicates(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(
        'id,mt,z,sys,tags\n1,"a, b c",0.5,A,OK BAD OK\n2,d e,-1,B,\n1,"a, b c",1.5,A,OK BAD OK\n', encoding="utf-8"
    )
    gold = load_gold(str(path), score="z")
    assert [r.id for r in gold.records] == ["1", "2"]
    one = gold.records[0]
    assert one.text == "a, b c" and one.scores["z"] == pytest.approx(1.0)
    assert one.spans == [(3, 4, "BAD")]
    assert gold.records[1].spans is None
    assert one.fields["sys"] == "A"
    assert any("merged" in n for n in gold.notes)


def test_generic_needs_a_score_column(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a", "text": "x", "p": 1, "q": 2}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="--gold-column"):
        load_gold(str(path))
    assert load_gold(str(path), score="q").records[0].scores["q"] == 2


def test_wmtqe22_ids_are_the_row_index(tmp_path):
    path = tmp_path / "wmtqe22.csv"
    path.write_text(
        ",lp,annotator,seg_id,src,mt,score,z_score\n"
        "0,zh-CN_en,r,0,源,\"Hello, world.\",100.0,0.4\n"
        "1,zh-CN_en,r,1,源,Bye.,50.0,-1.2\n"
        "2,zh-CN_en,r,0,源,Next doc.,75.0,0.1\n",
        encoding="utf-8",
    )
    assert detect_format(str(path)) == "wmtqe22"
    gold = load_gold(str(path))
    assert [r.id for r in gold.records] == ["0", "1", "2"]
    assert [r.fields["doc"] for r in gold.records] == ["0", "0", "1"]
    assert gold.default_score == "z_score" and gold.records[0].text == "Hello, world."


def test_mlqe_tarball(tmp_path):
    tsv = (
        "index\toriginal\ttranslation\tscores\tmean\tz_scores\tz_mean\tmodel_scores\n"
        '0\tPe 17 iunie\tOn 17 June, "he" said.\t[70, 60]\t65.0\t[0.1, -0.2]\t-0.05\t-0.3\n'
        "1\tDischetele\tThe disks.\t[20, 5]\t12.5\t[-1.6, -2.1]\t-1.85\t-0.4\n"
    ).encode()
    path = tmp_path / "mlqepe-ro-en-dev.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("ro-en-dev/dev.roen.df.short.tsv")
        info.size = len(tsv)
        tar.addfile(info, io.BytesIO(tsv))
    gold = load_gold(str(path))
    assert gold.format == "mlqe"
    assert [r.id for r in gold.records] == ["ro-en:0", "ro-en:1"]
    assert gold.records[0].text == 'On 17 June, "he" said.'
    assert gold.records[1].scores["z_mean"] == pytest.approx(-1.85)
    out = tmp_path / "seg.jsonl"
    assert export_segments(gold, str(out)) == 2
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"id": "ro-en:0", "text": 'On 17 June, "he" said.', "source": "Pe 17 iunie"}


def test_missing_gold_file():
    with pytest.raises(MtqaError, match="not found"):
        load_gold("/nonexistent/gold.csv")


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL = [
    ("mqm/wmtqe22-zhen-dev.csv", "wmtqe22", 1019),
    ("mqm/google-mqm-ted-zhen.tsv", "mqm-ted", 529 * 15),
    ("mqm/wmtqe23-newstest2021-zhen-spans.tsv", "wmtqe23-spans", 9614),
    ("da/mlqepe-ro-en-dev.tar.gz", "mlqe", 1000),
    ("da/mlqepe-ru-en-dev.tar.gz", "mlqe", 1000),
]


@pytest.mark.parametrize("name,fmt,count", REAL)
def test_real_gold_files_parse(name, fmt, count):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not present (the shared data folder is optional)")
    gold = load_gold(str(path))
    assert gold.format == fmt
    assert len(gold.records) == count
    assert len({r.id for r in gold.records}) == count
    for r in gold.records:
        for s, e, *_ in r.spans or []:
            assert 0 <= s <= e <= len(r.text)
