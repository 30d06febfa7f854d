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


# --- issue 10, item 9: bounded work per paragraph ---------------------------------------------------------

import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import mtqa.segment as seg  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-mt-article.txt"


def _one_line(n: int, punctuation: bool = True) -> str:
    """``n`` characters of the sample article as one paragraph (optionally without any punctuation)."""
    text = " ".join(SAMPLE.read_text(encoding="utf-8").split())
    if not punctuation:
        text = re.sub(r"[.!?;:,…]", "", text)
    return ((text + " ") * (n // len(text) + 1))[:n].strip()


@pytest.fixture
def pysbd_calls(monkeypatch):
    """Record the length of every text pysbd is given."""
    lengths: list[int] = []
    real = seg._segmenter()

    class Recording:
        def segment(self, text):
            lengths.append(len(text))
            return real.segment(text)

    monkeypatch.setattr(seg, "_segmenter", lambda: Recording())
    return lengths


def test_unpunctuated_run_is_cut_into_bounded_marked_pieces(pysbd_calls):
    text = "Title\n\n" + _one_line(30_000, punctuation=False) + "\nLast line."
    sents = segment(_art(text))
    assert max(pysbd_calls) <= 5_000  # before: pysbd got the whole 30,000-char paragraph
    assert all(text[s.start:s.end] == s.text and s.text == s.text.strip() for s in sents)
    body = [s for s in sents if s.paragraph_id == 1]
    assert len(body) >= 30_000 // seg.MAX_CHARS and all(s.cut for s in body)
    assert not sents[0].cut and not sents[-1].cut and sents[-1].text == "Last line."
    # every non-space character is in exactly one piece, in order
    assert "".join(s.text for s in body).replace(" ", "") == text.split("\n")[2].replace(" ", "")


def test_run_without_any_whitespace_keeps_offsets():
    text = "Start. " + "x" * 12_000 + "é\u0301" * 10 + " end."
    sents = segment(_art(text))
    assert all(text[s.start:s.end] == s.text for s in sents)
    assert "".join(s.text for s in sents).replace(" ", "") == text.replace(" ", "")
    assert all(len(s.text) <= seg.MAX_CHARS for s in sents) and any(s.cut for s in sents)


def test_long_punctuated_paragraph_is_segmented_as_a_whole_would_be(pysbd_calls):
    text = ("Mr. Smith paid $3.5 million to the U.S. government on Jan. 5. Then he left. \"Go!\" he said. "
            + _one_line(20_000))
    whole = list(seg._sentence_spans(text))
    pysbd_calls.clear()
    sents = segment(_art(text))
    assert max(pysbd_calls) <= seg.MAX_CHARS
    assert [(s.start, s.end) for s in sents] == whole and not any(s.cut for s in sents)


@pytest.mark.parametrize("limit", [300, 517, 1000])
def test_window_phase_never_changes_an_uncut_sentence(limit):
    """Whatever the window size, every sentence not marked as cut is one pysbd finds in the whole paragraph."""
    text = _one_line(6_000)
    for shift in (0, 17, 101):
        t = text[shift:].lstrip()
        whole = set(seg._sentence_spans(t))
        got = list(seg.paragraph_spans(t, limit))
        assert all((s, e) in whole for s, e, cut in got if not cut)


def test_short_paragraphs_are_unchanged_and_signature_names_the_bound():
    assert seg.segmenter_signature().endswith(f"(max_chars={seg.MAX_CHARS})")
    text = _one_line(seg.MAX_CHARS)
    assert [(s.start, s.end) for s in segment(_art(text))] == list(seg._sentence_spans(text))


@pytest.mark.slow
def test_megabyte_line_without_punctuation_is_linear():
    """Before: pysbd on the whole line (200k chars: 67 s; 1 MB: about half an hour). Now about 20-30 µs/char."""
    text = _one_line(1_000_000, punctuation=False)
    t0 = time.perf_counter()
    sents = segment(_art(text))
    elapsed = time.perf_counter() - t0
    assert all(s.cut for s in sents) and sum(len(s.text) for s in sents) > 0.9 * len(text)
    assert elapsed < 120, f"1 MB line took {elapsed:.0f} s"


def test_has_text_says_whether_segmentation_finds_anything():
    """Engines that segment in their workers report the skipped texts with has_text, so it must
    agree with segment() on every text, both units: blanks of every kind, symbols pysbd drops, ..."""
    import random

    from mtqa.segment import has_text

    pieces = ["", " ", "\n", "\t", "\u00a0", "\u2003", "\r\n", "\u3000", "\x0b", "...", "—", "•", "#", "a", "Word.",
              "Back to top button", "“", "\u200b", "$ 40", "?!", "\u0301"]
    rng = random.Random(7)
    texts = pieces + ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(400)]
    for text in texts:
        for unit in ("article", "segment"):
            assert has_text(text) == bool(segment(_art(text), unit)), (repr(text), unit)
