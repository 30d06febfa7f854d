"""``mtqa evaluate`` end to end on a tiny saved dataset and gold files written here."""

import csv
import json

import pytest
from datasets import Dataset

from mtqa.cli import main

TEXTS = {
    "s1": "The cat sat on the mat.",
    "s2": "He go to school yesterday.",
    "s3": "Dog the barked loud very.",
    "s4": "A fine day it is today.",
    "s5": "She has went home.",
}
QUALITY = {"s1": 0.9, "s2": 0.4, "s3": 0.1, "s4": 0.7, "s5": 0.3}
GOLD = {"s1": 90, "s2": 50, "s3": 10, "s4": 60, "s5": 40}  # same order as QUALITY
PRED_SPANS = {  # offsets into the article (= segment) text
    "s2": [{"start": 3, "end": 5, "label": "grammar", "score": 0.8, "note": ""}],  # "go"
    "s3": [{"start": 0, "end": 7, "label": "order", "score": 0.9, "note": ""}],  # "Dog the"
}
GOLD_SPANS = {"s1": [], "s2": [[3, 5]], "s3": [[0, 3]], "s4": [], "s5": [[8, 12]]}  # go / Dog / went


def _row(key, text, quality, start=0, sentence_id=0, spans=()):
    return {
        "article_id": key,
        "sentence_id": sentence_id,
        "start": start,
        "end": start + len(text),
        "text": text,
        "quality": quality,
        "flags": [],
        "spans": list(spans),
        "surprisal_mean": 1.0 - quality,
    }


@pytest.fixture
def scored(tmp_path):
    rows = [_row(k, t, QUALITY[k], spans=PRED_SPANS.get(k, [])) for k, t in TEXTS.items()]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "OUT" / "sentences"))
    return tmp_path / "OUT"


def _gold_csv(path, scores=GOLD):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "score", "system", "spans"])
        for k, t in TEXTS.items():
            w.writerow([k, t, scores[k], "A" if k in ("s1", "s2", "s3") else "B", json.dumps(GOLD_SPANS[k])])
    return path


def test_perfect_agreement_table_and_json(scored, tmp_path, capsys):
    gold = _gold_csv(tmp_path / "gold.csv")
    out_json = tmp_path / "r.json"
    rc = main(["evaluate", str(scored), "--gold", str(gold), "--group-by", "system", "--json", str(out_json), "--bootstrap", "200"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "5 matched" in out and "Spearman rho" in out and "by system:" in out
    assert "+1.000 [+1.000, +1.000]" in out
    result = json.loads(out_json.read_text())
    assert result["join"]["matched"] == 5
    corr = result["correlation"]["all"]
    assert corr["n"] == 5
    assert corr["spearman"]["value"] == pytest.approx(1.0)
    assert corr["kendall"]["value"] == pytest.approx(1.0)
    assert corr["spearman"]["ci_low"] == pytest.approx(1.0)
    groups = {r["group"]: r for r in result["correlation"]["groups"][0]["rows"]}
    assert groups["A"]["n"] == 3 and groups["B"]["n"] == 2


def test_reversed_gold_and_other_prediction_column(scored, tmp_path, capsys):
    gold = _gold_csv(tmp_path / "gold.csv", {k: -v for k, v in GOLD.items()})
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(scored), "--gold", str(gold), "--json", str(out_json), "--bootstrap", "50"]) == 0
    assert json.loads(out_json.read_text())["correlation"]["all"]["spearman"]["value"] == pytest.approx(-1.0)
    # surprisal_mean = 1 - quality: reversed again
    assert main(["evaluate", str(scored), "--gold", str(gold), "--pred-column", "surprisal_mean", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["correlation"]["all"]["spearman"]["value"] == pytest.approx(1.0)


def test_spans_word_level(scored, tmp_path, capsys):
    gold = _gold_csv(tmp_path / "gold.csv")
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(scored), "--gold", str(gold), "--spans", "--json", str(out_json), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "MCC" in out
    m = json.loads(out_json.read_text())["spans"]["all"]
    # 26 words; gold BAD: go, Dog, went; predicted BAD: go, Dog, the
    assert m["words"] == 26
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 1)
    assert m["mcc"] == pytest.approx((2 * 22 - 1 * 1) / ((3 * 3 * 23 * 23) ** 0.5))
    # only the 'grammar' spans
    assert main(["evaluate", str(scored), "--gold", str(gold), "--spans", "--span-labels", "grammar", "--json", str(out_json)]) == 0
    m = json.loads(out_json.read_text())["spans"]["all"]
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 2)


def test_article_level_rows_are_aggregated_and_spans_use_article_offsets(tmp_path, capsys):
    article = "He go home. It was fine."
    rows = [
        _row("a1", "He go home.", 0.2, start=0, sentence_id=0, spans=[{"start": 3, "end": 5, "label": "x", "score": 1.0, "note": ""}]),
        _row("a1", "It was fine.", 0.6, start=12, sentence_id=1, spans=[{"start": 19, "end": 23, "label": "x", "score": 1.0, "note": ""}]),
        _row("a2", "All good here.", 0.9),
        _row("a3", "Bad bad bad.", 0.1),
    ]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "OUT" / "sentences"))
    gold = tmp_path / "g.jsonl"
    gold.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "a1", "text": article, "score": 0.5, "spans": [[3, 5]]},
                {"id": "a2", "text": "All good here.", "score": 0.9, "spans": []},
                {"id": "a3", "text": "Bad bad bad.", "score": 0.0, "spans": [[0, 12]]},
                {"id": "zz", "text": "not scored", "score": 0.3, "spans": []},
            ]
        ),
        encoding="utf-8",
    )
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(tmp_path / "OUT"), "--gold", str(gold), "--spans", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "aggregated by mean" in out and "1 gold" in out
    r = json.loads(out_json.read_text())
    assert r["join"]["matched"] == 3 and r["join"]["unmatched_gold"] == 1
    assert r["correlation"]["all"]["spearman"]["value"] == pytest.approx(1.0)  # a1 mean 0.4
    m = r["spans"]["all"]
    # a1 "He go home. It was fine.": gold BAD {go}, predicted {go, fine.}; a3: 3 gold BAD missed
    assert (m["tp"], m["fp"], m["fn"], m["words"]) == (1, 1, 3, 12)


def test_join_by_order(scored, tmp_path, capsys):
    gold = tmp_path / "g.csv"
    gold.write_text("score\n" + "\n".join(str(GOLD[k]) for k in TEXTS) + "\n", encoding="utf-8")
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(scored), "--gold", str(gold), "--join", "order", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["correlation"]["all"]["pearson"]["value"] > 0.9


def test_no_match_is_a_clear_error(scored, tmp_path, capsys):
    gold = tmp_path / "g.csv"
    gold.write_text("id,score\nx1,1\nx2,2\n", encoding="utf-8")
    assert main(["evaluate", str(scored), "--gold", str(gold)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtqa: error: no prediction matched") and "'x1'" in err and "'s1'" in err
    assert "Traceback" not in err


def test_bad_arguments_are_one_line_errors(scored, tmp_path, capsys):
    gold = _gold_csv(tmp_path / "gold.csv")
    assert main(["evaluate", str(scored), "--gold", str(gold), "--pred-column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert main(["evaluate", str(scored), "--gold", str(gold), "--group-by", "lp"]) == 2
    assert "--group-by" in capsys.readouterr().err
    assert main(["evaluate", str(scored)]) == 2
    assert "--gold" in capsys.readouterr().err


def test_export_gold_then_evaluate_joins_on_id(tmp_path, capsys):
    # the main workflow: export the gold MT output, score it per segment, evaluate by id
    mqm = tmp_path / "mqm.tsv"
    mqm.write_text(
        "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\n"
        "S\ttalk.1\t1\t1\tr1\t源\tA <v>bad</v> one.\tStyle/Awkward\tMajor\n"
        "S\ttalk.1\t1\t2\tr1\t源\tA good one.\tNo-error\tNo-error\n"
        "S\ttalk.1\t1\t3\tr1\t源\t<v>Meh</v> one.\tFluency/Grammar\tMinor\n",
        encoding="utf-8",
    )
    seg = tmp_path / "segments.jsonl"
    assert main(["evaluate", "--export-gold", str(mqm), "-o", str(seg)]) == 0
    assert "wrote 3 segments" in capsys.readouterr().out
    lines = [json.loads(x) for x in seg.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["S:1:1", "S:1:2", "S:1:3"]
    assert lines[0]["text"] == "A bad one." and lines[0]["source"] == "源"
    # what `mtqa score segments.jsonl --unit segment` produces, one row per line
    quality = {"S:1:1": 0.1, "S:1:2": 0.9, "S:1:3": 0.5}
    rows = [_row(x["id"], x["text"], quality[x["id"]], spans=[{"start": 2, "end": 5, "label": "x", "score": 1.0, "note": ""}] if x["id"] == "S:1:1" else []) for x in lines]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "OUT" / "sentences"))
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(tmp_path / "OUT"), "--gold", str(mqm), "--spans", "--json", str(out_json)]) == 0
    r = json.loads(out_json.read_text())
    assert r["gold"]["format"] == "mqm-ted" and r["join"]["matched"] == 3
    assert r["correlation"]["all"]["spearman"]["value"] == pytest.approx(1.0)
    assert r["spans"]["all"]["tp"] == 1 and r["spans"]["all"]["fn"] == 1


def test_few_rows_warn_that_the_intervals_are_unreliable(scored, tmp_path, capsys):
    gold = _gold_csv(tmp_path / "gold.csv")
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(scored), "--gold", str(gold), "--group-by", "system", "--bootstrap", "50",
                 "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("mtqa: warning: bootstrap intervals from fewer than 30 rows")
    assert "all rows (n=5)" in err_lines[0] and "2 of 2 groups by system" in err_lines[0]
    assert "warning: bootstrap intervals from fewer than 30 rows" in captured.out
    assert json.loads(out_json.read_text())["warnings"] == [err_lines[0].removeprefix("mtqa: warning: ")]
    # no intervals, nothing to warn about
    assert main(["evaluate", str(scored), "--gold", str(gold), "--bootstrap", "0"]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "warning" not in captured.out


def test_thirty_rows_do_not_warn(tmp_path, capsys):
    keys = [f"k{i}" for i in range(30)]
    rows = [_row(k, f"Sentence {i}.", i / 30) for i, k in enumerate(keys)]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "OUT" / "sentences"))
    gold = tmp_path / "g.csv"
    gold.write_text("id,score\n" + "".join(f"{k},{(i * 7) % 30}\n" for i, k in enumerate(keys)), encoding="utf-8")
    assert main(["evaluate", str(tmp_path / "OUT"), "--gold", str(gold), "--bootstrap", "50"]) == 0
    captured = capsys.readouterr()
    assert "30 matched" in captured.out
    assert "warning" not in captured.err and "warning" not in captured.out


def test_quality_against_mqm_gold_gets_a_calibration_table(tmp_path, capsys):
    # WMT QE 2022 rows: score 100 = no error, one major error costs 5 (score <= 95)
    scores = [100, 100, 99, 90, 100, 80, 100, 97, 100, 94] * 4
    quality = [0.95, 0.85, 0.95, 0.35, 0.75, 0.25, 0.95, 0.85, 0.65, 0.45] * 4  # no value on a bin edge
    gold = tmp_path / "qe22.csv"
    with open(gold, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["lp", "annotator", "seg_id", "src", "mt", "score", "z_score"])
        for i, s in enumerate(scores):
            w.writerow(["zh-en", "r1", i, "源", f"Sentence {i}.", s, (s - 95) / 5])
    rows = [_row(str(i), f"Sentence {i}.", q) for i, q in enumerate(quality)]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "OUT" / "sentences"))
    out_json = tmp_path / "r.json"
    assert main(["evaluate", str(tmp_path / "OUT"), "--gold", str(gold), "--join", "order", "--bootstrap", "0",
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "Calibration of quality as P(no major error) against the gold (40 segments" in out
    cal = json.loads(out_json.read_text())["calibration"]
    no_major = [float(s > 95) for s in scores]
    assert cal["n"] == 40 and cal["observed_rate"] == pytest.approx(sum(no_major) / 40)
    assert cal["mean_probability"] == pytest.approx(sum(quality) / 40)
    high = [b for b in cal["bins"] if b["low"] >= 0.8][0]  # quality 0.85-0.95: all free of major errors
    assert high["n"] == 20 and high["observed"] == 1.0 and high["mean_probability"] == pytest.approx(0.91)
    # each distinct quality value falls in its own of the 10 ECE bins
    expected = sum(quality.count(v) / 40 * abs(v - sum(y for q, y in zip(quality, no_major) if q == v) / quality.count(v))
                   for v in set(quality))
    assert cal["ece"] == pytest.approx(expected)
    # another column is not a probability of that event: no table
    assert main(["evaluate", str(tmp_path / "OUT"), "--gold", str(gold), "--join", "order", "--bootstrap", "0",
                 "--pred-column", "surprisal_mean", "--json", str(out_json)]) == 0
    assert "calibration" not in json.loads(out_json.read_text()) and "Calibration" not in capsys.readouterr().out
