"""Issue 10, item 12: nothing from the input reaches the terminal unescaped."""

from __future__ import annotations

import datasets

from mtqa.summary import format_summary
from mtqa.text import printable

FORGED = "evil\r\nmtqa: error: everything failed\x1b[2J"


def _tables():
    sentences = datasets.Dataset.from_list([
        {"article_id": FORGED, "sentence_id": 0, "quality": 0.1, "flags": ["low_quality"],
         "text": "Bad\x1b[31m red\u202e txet desrever\u2028next"},
        {"article_id": "fine", "sentence_id": 0, "quality": 0.9, "flags": [], "text": "Zürich – 北京 👍."},
    ])
    articles = datasets.Dataset.from_list([
        {"article_id": FORGED, "quality": 0.1, "flagged_share": 1.0, "n_sentences": 1},
        {"article_id": "fine", "quality": 0.9, "flagged_share": 0.0, "n_sentences": 1},
    ])
    return sentences, articles


def test_summary_escapes_ids_texts_and_paths():
    info = {"counts": {"articles": 2, "sentences": 2}, "model": {"name": "gemma-3-270m"},
            "timings": {"score_s": 1.0, "sentences_per_s": 2.0}, "output": "out\ndir"}
    text = format_summary(info, *_tables())
    assert "\r" not in text and "\x1b" not in text and "\u202e" not in text and "\u2028" not in text
    assert not any(line.startswith("mtqa: error") for line in text.splitlines())
    assert "evil\\r\\nmtqa: error: everything failed\\x1b[2J" in text
    assert "Bad\\x1b[31m red\\u202e txet desrever next" in text  # _clip folds U+2028 (whitespace) into a space
    assert "Zürich – 北京 👍." in text and "Output: out\\ndir" in text
    assert len(text.splitlines()) == 13  # as many lines as with plain ids: none forged


def test_printable_escapes_only_what_can_move_the_cursor_or_hide_text():
    assert printable("Zürich – 北京 👍 C:\\path\u00a0x") == "Zürich – 北京 👍 C:\\path\u00a0x"
    assert printable("a\tb\r\n\x00\x7f\x9b") == "a\\tb\\r\\n\\x00\\x7f\\x9b"
    assert printable("rtl\u202eoverride \u200b zero-width") == "rtl\\u202eoverride \\u200b zero-width"
    assert printable("bad\udcffname") == "bad\\udcffname"  # a file name with an undecodable byte
    assert printable("C:\\new\n") == "C:\\\\new\\n"  # once escaping, a backslash is doubled: unambiguous
    assert printable(3) == "3"
