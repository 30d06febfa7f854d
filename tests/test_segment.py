from mtqa.segment import segment
from mtqa.types import Article


def _art(text: str) -> Article:
    return Article("a", text, "test")


def test_offsets_hold_and_paragraphs_count():
    text = "Title line here\n\nFirst sentence is here. Second one follows!\nA new paragraph starts.\n\n\nLast words"
    sents = segment(_art(text))
    assert [s.text for s in sents] == [
        "Title line here", "First sentence is here.", "Second one follows!", "A new paragraph starts.", "Last words"]
    assert [s.paragraph_id for s in sents] == [0, 1, 1, 2, 3]
    assert [s.sentence_id for s in sents] == [0, 1, 2, 3, 4]
    for s in sents:
        assert text[s.start:s.end] == s.text


def test_abbreviations_and_numbers_do_not_split():
    text = "Mr. Smith paid $3.5 million to the U.S. government on Jan. 5. Then he left."
    sents = segment(_art(text))
    assert [s.text for s in sents] == ["Mr. Smith paid $3.5 million to the U.S. government on Jan. 5.", "Then he left."]


def test_offsets_survive_odd_whitespace_and_unicode():
    text = "  Ünïcödé “quotes” here.\u00a0Next — dash…  \r\n\tTabbed line.  "
    sents = segment(_art(text))
    assert sents and all(text[s.start:s.end] == s.text for s in sents)
    assert all(s.text == s.text.strip() for s in sents)
    assert [s.text for s in sents] == ["Ünïcödé “quotes” here.", "Next — dash…", "Tabbed line."]


def test_segment_unit_keeps_row_whole():
    text = "  One sentence. Another sentence.  "
    (s,) = segment(_art(text), "segment")
    assert s.text == "One sentence. Another sentence." and text[s.start:s.end] == s.text


def test_blank_text_has_no_sentences():
    assert segment(_art(" \n \n")) == []
    assert segment(_art("   "), "segment") == []
