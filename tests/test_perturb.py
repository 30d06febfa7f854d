"""The seeded perturbation generator: determinism and what each kind does to a sentence."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from mtqa.perturb import KINDS, perturb, perturb_corpus

TEXTS = [
    "The company was founded in 1990 by John Smith in a small town near Boston.",
    "He also played for the national team in 2004, scoring 12 goals in 40 games (mostly at home).",
    "The bridge, which cost $40 million, was opened to traffic in the spring of 1,998 cars.",
    "Critics praised the album for its warm production and its honest lyrics about loss.",
    "She has written three novels and a collection of short stories set in rural Ireland.",
    "In 1862 the railway reached the town, and its population grew quickly over the next decade.",
]


def words(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text))


def punct(text: str) -> list[str]:
    return re.findall(r"[^\w\s]", text)


def first_word(text: str) -> str:
    return re.search(r"\w+", text).group()


def test_same_seed_same_output_and_other_seed_differs():
    a = perturb_corpus(TEXTS, seed=3)
    b = perturb_corpus(TEXTS, seed=3)
    c = perturb_corpus(TEXTS, seed=4)
    assert a == b
    assert any(a[k] != c[k] for k in ("adjacent_swap", "phrase_move", "shuffle"))


def test_a_sentence_perturbation_does_not_depend_on_the_others():
    whole = perturb_corpus(TEXTS, seed=1)
    part = perturb_corpus(TEXTS[:3], [k for k in KINDS if k != "fused_sentence"], seed=1)
    for kind, rows in part.items():
        assert rows == whole[kind][:3]


@pytest.mark.parametrize("kind", ["adjacent_swap", "phrase_move", "verb_final", "shuffle"])
def test_reorderings_keep_words_and_punctuation_and_the_first_word(kind):
    out = perturb_corpus(TEXTS, [kind], seed=0)[kind]
    assert sum(p is not None for p in out) >= 4
    for text, p in zip(TEXTS, out):
        if p is None:
            continue
        assert p.kind == kind and p.original == text
        assert p.text != text
        assert words(p.text) == words(text)
        assert punct(p.text) == punct(text)  # punctuation is never moved or crossed
        assert first_word(p.text) == first_word(text)
        assert len(p.text) == len(text)
        # the changed region: outside it the texts agree
        assert p.text[:p.start] == text[:p.start] and p.text[p.end:] == text[p.end:]
        assert p.text[p.start:p.end] != text[p.start:p.end]


def test_adjacent_swap_swaps_exactly_two_neighbouring_words():
    for text, p in zip(TEXTS, perturb_corpus(TEXTS, ["adjacent_swap"], seed=5)["adjacent_swap"]):
        old, new = re.findall(r"\w+", text), re.findall(r"\w+", p.text)
        diff = [i for i, (x, y) in enumerate(zip(old, new)) if x != y]
        assert len(diff) == 2 and diff[1] == diff[0] + 1
        assert old[diff[0]] == new[diff[1]] and old[diff[1]] == new[diff[0]]


def test_verb_final_moves_the_verb_group_to_the_end_of_its_clause():
    p = perturb("The company was founded in 1990 by John Smith.", "verb_final", random.Random(0))
    assert p.text == "The company in 1990 by John Smith was founded."
    assert p.text[p.start:p.end] == "in 1990 by John Smith was founded"
    p = perturb("After the war, he returned to Paris with his family.", "verb_final", random.Random(0))
    assert p.text == "After the war, he to Paris with his family returned."


def test_shuffle_permutes_a_short_window():
    for text, p in zip(TEXTS, perturb_corpus(TEXTS, ["shuffle"], seed=2)["shuffle"]):
        old, new = re.findall(r"\w+", text), re.findall(r"\w+", p.text)
        diff = [i for i, (x, y) in enumerate(zip(old, new)) if x != y]
        assert 2 <= len(diff) and diff[-1] - diff[0] < 6


def test_fused_sentence_drops_the_stop_and_keeps_the_capital():
    p = perturb("The meeting ended early.", "fused_sentence", random.Random(0), partner="It will resume on Monday.")
    assert p.text == "The meeting ended early It will resume on Monday."
    assert "y I" in p.text[p.start:p.end]
    assert perturb('He said "no."', "fused_sentence", random.Random(0), partner="It rained.") is None
    out = perturb_corpus(TEXTS, ["fused_sentence"], seed=0)["fused_sentence"]
    for text, p in zip(TEXTS, out):
        assert p.text.startswith(text[:-1] + " ") and p.text.count(".") == text.count(".")


def test_spacing_inserts_one_space_at_a_typical_place():
    out = perturb_corpus(TEXTS, ["spacing"], seed=0)["spacing"]
    seen = set()
    for text, p in zip(TEXTS, out):
        assert len(p.text) == len(text) + 1
        assert p.text.replace(" ", "") == text.replace(" ", "")
        assert re.search(r"\w [,.;:!?)%]|[($€£] \w|\d, \d", p.text)
        seen.add(p.text[p.start:p.end].strip())
    many = perturb_corpus([TEXTS[2]] * 40, ["spacing"], seed=0)["spacing"]
    kinds = {re.search(r"\w [,.;:!?)%]|[($€£] \w|\d, \d", p.text).group()[-1].isdigit() for p in many}
    assert kinds == {True, False}  # both "$ 40"/"1, 000" and "word ," kinds occur


def test_no_place_gives_none_and_unknown_kind_raises():
    rng = random.Random(0)
    assert perturb("Yes.", "adjacent_swap", rng) is None
    assert perturb("Hello there.", "shuffle", rng) is None
    assert perturb("Nice weather today.", "verb_final", rng) is None
    with pytest.raises(ValueError):
        perturb("Some text here.", "nonsense", rng)
