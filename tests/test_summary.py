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


# --------------------------------------------------------------------------- MT probability (issue 12)

INFO = {"counts": {"articles": 4, "sentences": 6}, "model": {"name": "gemma-3-270m"},
        "timings": {"score_s": 1.0, "sentences_per_s": 6.0}, "output": "out"}
NAN = float("nan")


def _mt_tables(evidence_of_top: str = "sentence 0 (p=0.97): flags fused_sentence; mean token surprisal"):
    """Four articles: two English of different MT probability, one not English (NaN), one English
    article whose probability is missing (null); quality deliberately in another order."""
    sentences = datasets.Dataset.from_list([
        {"article_id": "mt-high", "sentence_id": 0, "quality": 0.8, "flags": ["fused_sentence"],
         "text": "The minister has the law yesterday presented.", "mt_probability": 0.97},
        {"article_id": "mt-high", "sentence_id": 1, "quality": 0.9, "flags": [], "text": "Fine.", "mt_probability": 0.6},
        {"article_id": "mt-low", "sentence_id": 0, "quality": 0.2, "flags": ["low_quality"],
         "text": "Written by a person, badly.", "mt_probability": 0.1},
        {"article_id": "german", "sentence_id": 0, "quality": 0.05, "flags": ["not_english"],
         "text": "Das ist kein Englisch.", "mt_probability": NAN},
        {"article_id": "german", "sentence_id": 1, "quality": 0.06, "flags": ["not_english"],
         "text": "Wirklich nicht.", "mt_probability": NAN},
        {"article_id": "unscored", "sentence_id": 0, "quality": 0.5, "flags": [], "text": "x", "mt_probability": None},
    ])
    articles = datasets.Dataset.from_list([
        {"article_id": "german", "quality": 0.05, "flagged_share": 1.0, "n_sentences": 2, "mt_probability": NAN,
         "mt_evidence": "2 of 2 sentences are not English: not judged as machine-translated English",
         "language": "not-en"},
        {"article_id": "mt-low", "quality": 0.2, "flagged_share": 1.0, "n_sentences": 1, "mt_probability": 0.08,
         "mt_evidence": "0 of 1 English sentences look machine-made (p > 0.5)", "language": "en"},
        {"article_id": "unscored", "quality": 0.5, "flagged_share": 0.0, "n_sentences": 1, "mt_probability": None,
         "mt_evidence": "", "language": "en"},
        {"article_id": "mt-high", "quality": 0.85, "flagged_share": 0.5, "n_sentences": 2, "mt_probability": 0.95,
         "mt_evidence": f"2 of 2 English sentences look machine-made (p > 0.5) | {evidence_of_top}",
         "language": "en"},
    ])
    return sentences, articles


def _article_rows(text: str) -> list[str]:
    """The article ids of the ranking table, in order."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("MT prob  quality"))
    ids = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("..."):
            break
        if not line.lstrip().startswith("·"):
            ids.append(line.rsplit("  ", 1)[1])
    return ids


def test_articles_ranked_by_mt_probability_not_english_last():
    text = format_summary(INFO, *_mt_tables())
    # mt_probability highest first; without one last, whatever their quality (german has the lowest)
    assert _article_rows(text) == ["mt-high", "mt-low", "german", "unscored"]
    assert "1 of 2 English article(s) look machine-translated (mt_probability > 0.5); 2 not judged" in text
    rows = {line.rsplit("  ", 1)[1]: line for line in text.splitlines() if line.endswith(("mt-high", "mt-low", "german",
                                                                                             "unscored"))}
    assert rows["mt-high"].split()[:2] == ["0.95", "0.850"]  # MT probability next to quality
    assert rows["german"].lstrip().startswith("not English") and rows["unscored"].lstrip().startswith("no score")
    assert "nan" not in text.lower()


def test_top_articles_show_their_evidence():
    text = format_summary(INFO, *_mt_tables())
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("  mt-high"))
    assert lines[at + 1].strip() == "· 2 of 2 English sentences look machine-made (p > 0.5)"
    assert lines[at + 2].strip() == "· sentence 0 (p=0.97): flags fused_sentence; mean token surprisal"
    # no evidence printed for an article outside the ranking
    assert "are not English: not judged" not in text
    assert len(format_summary(INFO, *_mt_tables(), evidence_articles=0).splitlines()) == len(lines) - 3


def test_evidence_is_escaped():
    text = format_summary(INFO, *_mt_tables(evidence_of_top=FORGED))
    assert "\r" not in text and "\x1b" not in text
    assert not any(line.startswith("mtqa: error") for line in text.splitlines())
    # _clip folds the \r\n (whitespace) into a space; the escape sequence is shown, not sent
    assert "· evil mtqa: error: everything failed\\x1b[2J" in text


def test_sentences_by_mt_probability_with_flags():
    text = format_summary(INFO, *_mt_tables(), worst=3)
    lines = text.splitlines()
    at = lines.index("Worst 3 sentence(s) by MT probability (most machine-like first):")
    assert lines[at + 2].split() == ["0.97", "0.800", "mt-high#0", "[fused_sentence]"]
    assert lines[at + 3].strip() == "The minister has the law yesterday presented."
    assert lines[at + 4].split()[:3] == ["0.60", "0.900", "mt-high#1"]
    assert lines[at + 6].split()[:3] == ["0.10", "0.200", "mt-low#0"]
    assert "german#" not in text and "unscored#" not in text  # no probability: not listed
    # more asked for than have a probability: only those
    assert "Worst 3 sentence(s) by MT probability" in format_summary(INFO, *_mt_tables(), worst=10)


def test_output_without_mt_columns_falls_back_to_quality():
    sentences, articles = _mt_tables()
    old = format_summary(INFO, sentences.remove_columns("mt_probability"),
                         articles.remove_columns(["mt_probability", "mt_evidence", "language"]))
    assert "MT prob" not in old and "machine" not in old
    lines = old.splitlines()
    at = lines.index("quality  flagged  sents  article")
    assert [line.rsplit("  ", 1)[1] for line in lines[at + 1: at + 5]] == ["german", "mt-low", "unscored", "mt-high"]
    assert "Worst 5 sentence(s):" in old and lines[lines.index("Worst 5 sentence(s):") + 1].split()[1] == "german#0"


def test_no_sentence_has_a_probability():
    # every sentence not English: the articles say so, the sentences fall back to quality
    sentences, articles = _mt_tables()
    sentences = sentences.filter(lambda r: r["article_id"] == "german")
    articles = articles.filter(lambda r: r["article_id"] == "german")
    text = format_summary(INFO, sentences, articles)
    assert "0 of 0 English article(s) look machine-translated (mt_probability > 0.5); 1 not judged" in text
    assert "Worst 2 sentence(s):" in text and "german#0" in text
