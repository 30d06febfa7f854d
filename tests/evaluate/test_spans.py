"""Word tags, span metrics, and the gold parsers for span-annotated formats."""

import pytest

from mtqa.evaluate.gold import detect_format, load_gold, parse_marked, parse_wmtqe23_line, read_mqm_ted
from mtqa.evaluate.spans import SpanCounts, bad_words, compare, span_metrics, tags_to_spans, words


def test_words_have_offsets():
    assert words("  The cat\tsat. ") == [(2, 5), (6, 9), (10, 14)]


def test_a_word_is_bad_when_it_overlaps_a_span():
    text = "The cat sat on the mat."
    assert bad_words(text, [(4, 7)]) == [False, True, False, False, False, False]
    assert bad_words(text, [(5, 10)]) == [False, True, True, False, False, False]  # partial overlaps
    assert bad_words(text, [(7, 8)]) == [False] * 6  # only the space
    assert bad_words(text, [(0, len(text))]) == [True] * 6


def test_zero_length_span_marks_the_word_at_or_before_it():
    text = "The cat sat."
    assert bad_words(text, [(5, 5)]) == [False, True, False]  # inside "cat"
    assert bad_words(text, [(7, 7)]) == [False, True, False]  # just after "cat"
    assert bad_words(text, [(12, 12)]) == [False, False, True]  # end of text


def test_tags_to_spans():
    text = "a bb ccc"
    assert tags_to_spans(text, ["OK", "BAD", "bad"]) == [(2, 4), (5, 8)]
    # WMT style with gap tags around the words
    assert tags_to_spans(text, ["OK", "OK", "OK", "BAD", "OK", "OK", "OK"]) == [(2, 4)]
    with pytest.raises(ValueError):
        tags_to_spans(text, ["OK"])


def test_mcc_on_hand_made_examples():
    # gold: BAD BAD OK OK ; pred: BAD OK BAD OK -> tp=1 fp=1 fn=1 tn=1 -> MCC 0
    c = SpanCounts()
    c.add([True, True, False, False], [True, False, True, False])
    m = c.metrics()
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 1)
    assert m["mcc"] == pytest.approx(0.0)
    assert m["f1_bad"] == pytest.approx(0.5)
    # tp=2 fp=1 fn=0 tn=3: MCC = (6-0)/sqrt(3*2*4*3) = 6/sqrt(72)
    m = span_metrics(2, 1, 0, 3)
    assert m["mcc"] == pytest.approx(6 / 72**0.5)
    assert m["precision_bad"] == pytest.approx(2 / 3)
    assert m["recall_bad"] == pytest.approx(1.0)
    assert m["f1_bad"] == pytest.approx(0.8)
    # perfect and inverted
    assert span_metrics(3, 0, 0, 5)["mcc"] == pytest.approx(1.0)
    assert span_metrics(0, 5, 3, 0)["mcc"] == pytest.approx(-1.0)
    # nothing predicted: MCC 0, precision undefined
    m = span_metrics(0, 0, 2, 4)
    assert m["mcc"] == 0.0 and m["precision_bad"] is None and m["f1_bad"] is None


def test_compare_pools_words_of_one_segment():
    c = compare("He go to school", gold_spans=[(3, 5)], pred_spans=[(3, 5), (9, 15)])
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 0, 2)


def test_mqm_marker_parser():
    plain, spans = parse_marked("I want you to <v>take a moment</v> to consider it.")
    assert plain == "I want you to take a moment to consider it."
    assert spans == [(14, 27)]
    assert plain[14:27] == "take a moment"
    plain, spans = parse_marked("<v>A</v> b <v>c</v>")
    assert plain == "A b c" and spans == [(0, 1), (4, 5)]
    assert parse_marked("no markers") == ("no markers", [])


MQM_TSV = (
    "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\n"
    "SysA\ttalk.2\t1\t84\trater3\t源\tI want you to <v>take a moment</v> to think.\tStyle/Awkward\tMajor\n"
    "SysA\ttalk.2\t1\t84\trater3\t源\tI want you to take a moment to think<v>.</v>\tFluency/Punctuation\tMinor\n"
    "SysA\ttalk.2\t1\t84\trater3\t源\tI want you to take a moment to think.\tAccuracy/Omission\tMinor\n"
    'SysB\ttalk.2\t1\t84\trater7\t源\tI hope you "think".\tNo-error\tNo-error\n'
)


def test_mqm_ted_reader(tmp_path):
    path = tmp_path / "mqm.tsv"
    path.write_text(MQM_TSV, encoding="utf-8")
    assert detect_format(str(path)) == "mqm-ted"
    gold = read_mqm_ted(str(path))
    assert [r.id for r in gold.records] == ["SysA:1:84", "SysB:1:84"]
    a, b = gold.records
    assert a.text == "I want you to take a moment to think."
    assert a.scores["mqm"] == pytest.approx(-(5 + 0.1 + 1))
    assert [a.text[s:e] for s, e, _ in a.spans] == ["take a moment", "."]
    assert a.fields["system"] == "SysA" and a.fields["rater"] == "rater3"
    assert b.scores["mqm"] == 0 and b.spans == [] and b.text == 'I hope you "think".'


def test_wmtqe23_line_parser_with_errors_and_error_free_rows():
    line = "hyp.X\tdoc.1\t3\trater2\t源文\tThe plan crashed into a floor.\t4 24\t8 29\tmajor minor\n"
    row = parse_wmtqe23_line(line)
    assert (row["system"], row["doc"], row["seg_id"], row["rater"]) == ("hyp.X", "doc.1", "3", "rater2")
    assert [row["target"][s:e] for s, e, _ in row["spans"]] == ["plan", "floor"]
    assert row["severities"] == ["major", "minor"]
    clean = parse_wmtqe23_line("hyp.X\tdoc.1\t4\trater2\t源文\tAll good.\t-1\t-1\tno-error\n")
    assert clean["spans"] == [] and clean["severities"] == []
    # a document name split over two columns pushes the rater out
    split = parse_wmtqe23_line("hyp.X\thunan\tribao-zh.6028\t1\t源\tText here.\t0\t4\tminor\n")
    assert (split["doc"], split["seg_id"], split["rater"]) == ("hunan ribao-zh.6028", "1", "")


def test_wmtqe23_reader(tmp_path):
    path = tmp_path / "spans.tsv"
    path.write_text(
        "hyp.X\tdoc.1\t1\trater2\t源\tThe plan crashed.\t4\t8\tmajor\n"
        "hyp.X\tdoc.1\t2\trater2\t源\tAll good.\t-1\t-1\tno-error\n"
        "hyp.X\ta\tb\tc\t源\tFirst.\t0\t5\tminor\n"
        "hyp.X\ta\tb\tc\t源\tSecond.\t-1\t-1\tno-error\n",
        encoding="utf-8",
    )
    assert detect_format(str(path)) == "wmtqe23-spans"
    gold = load_gold(str(path))
    assert [r.id for r in gold.records] == ["hyp.X:doc.1:1", "hyp.X:doc.1:2", "hyp.X:a b c:1", "hyp.X:a b c:2"]
    assert [r.scores["mqm"] for r in gold.records] == [-5, 0, -1, 0]
    assert gold.records[0].spans == [(4, 8, "major")]
    assert gold.records[1].spans == []
    assert gold.notes  # the lost seg ids are reported


def test_predicted_spans_move_to_gold_offsets_or_fall_back_on_word_positions():
    from mtqa.evaluate.benchmark import predicted_tags
    from mtqa.evaluate.predictions import Predictions

    def pred(rows):
        cols = {k: [r[k] for r in rows] for k in ("text", "start", "spans")}
        return Predictions("p", cols, len(rows))

    span = lambda s, e, label="x": {"start": s, "end": e, "label": label}
    # the segment unit strips leading whitespace: row start 2, spans in article offsets
    p = pred([{"text": "He go.", "start": 2, "spans": [span(5, 7)]}])
    assert predicted_tags("  He go.", p, [0], None) == [False, True]
    assert predicted_tags("  He go.", p, [0], {"other"}) == [False, False]
    # text normalised on reading (double space collapsed): matched by word position
    p = pred([{"text": "He go home.", "start": 0, "spans": [span(3, 5)]}])
    assert predicted_tags("He  go home.", p, [0], None) == [False, True, False]
    # different words: cannot be compared
    assert predicted_tags("She goes home.", p, [0], None) is None
