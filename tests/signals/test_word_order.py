"""The LM word-order search: candidate generation (no model) and a few checks on the real model."""

from __future__ import annotations

import pytest

from mtqa.segment import segment
from mtqa.signals.word_order import (
    WordOrderSignal, allowed_moves, apply_move, enumerate_moves, enumerate_swaps, render, split_units, word_runs,
)
from mtqa.types import Article

# -- candidates (no model) -----------------------------------------------------------------


def test_units_keep_words_whole_and_punctuation_apart():
    units = split_units("NATO’s Secretary-General said: “$40 bn (U.S.) for 3.5 days”.")
    assert [u.text for u in units] == ["NATO’s", "Secretary-General", "said", ":", "“", "$", "40", "bn", "(",
                                       "U.S", ".", ")", "for", "3.5", "days", "”", "."]
    assert all(u.is_word == u.text[0].isalnum() for u in units)


def test_runs_stop_at_punctuation():
    units = split_units("Groups discuss, according to NATO, heavy weapons.")
    assert [[units[i].text for i in r] for r in word_runs(units)] == [
        ["Groups", "discuss"], ["according", "to", "NATO"], ["heavy", "weapons"]]


def test_render_keeps_gaps_and_reports_the_changed_range():
    text = "He  the leads  Cardinals."
    units = split_units(text)
    new, start, end = render(text, units, {1: 2, 2: 1})
    assert new == "He  leads the  Cardinals."
    assert new[start:end] == "leads the"


def test_swaps_include_the_restoring_order_and_never_move_punctuation():
    text = "He also for played the national team, scoring 40 goals."
    _, cands = enumerate_swaps(text)
    texts = [c.text for c in cands]
    assert "He also played for the national team, scoring 40 goals." in texts
    assert len(texts) == len(set(texts)) and text not in texts
    for c in cands:
        assert c.text.count(",") == 1 and c.text.index(",") == text.index(",")
        assert c.text[:c.new_start] == text[:c.new_start]
        assert text[c.start:c.end] != c.text[c.new_start:c.new_end]


def test_first_word_capitalisation_follows_the_move():
    _, cands = enumerate_swaps("The it sold company in 1990.")
    texts = {c.text for c in cands}
    assert "It the sold company in 1990." in texts  # "The" lowercased, "it" capitalised
    assert not any(t.startswith(("the", "it ")) for t in texts)
    _, cands = enumerate_swaps("Smith founded the company in 1990.")
    assert all(c.text.startswith("Smith") for c in cands)  # a name is not moved off the start
    _, cands = enumerate_swaps("The company was founded in 1990.")
    assert not any(c.text.startswith("Was ") for c in cands)  # no questions made of statements


def test_name_parts_are_not_reordered():
    _, cands = enumerate_swaps("They met Jason Stoltenberg in Brussels on Monday.")
    assert not any("Stoltenberg Jason" in c.text for c in cands)


def test_move_limits():
    units = split_units("one two three four five six seven eight nine ten")
    moves = enumerate_moves(units, max_block=2, max_move=4)
    assert all(min(m.b - m.a, m.c - m.b) <= 2 and max(m.b - m.a, m.c - m.b) <= 4 for m in moves)
    assert any((m.b - m.a, m.c - m.b) == (4, 2) for m in moves)
    text = "The company in 1990 by John Smith was founded."
    units = split_units(text)
    m = next(m for m in enumerate_moves(units) if units[m.run[m.a]].text == "in" and m.c - m.b == 2
             and units[m.run[m.b]].text == "was")
    assert apply_move(text, units, m, {}).text == "The company was founded in 1990 by John Smith."


def test_allowed_moves_is_the_filter_enumerate_swaps_renders():
    text = "The it sold company to Jason Stoltenberg in 1990."
    units = split_units(text)
    moves = allowed_moves(text, units)
    assert 0 < len(moves) < len(enumerate_moves(units))  # the guards drop some moves
    rendered = {apply_move(text, units, m, recase).text for m, recase in moves} - {text}
    assert rendered == {c.text for c in enumerate_swaps(text)[1]}
    assert allowed_moves("Two words.", split_units("Two words.")) == []


# -- on the default model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def kept(lm):
    """The default model as mtqa score builds it: the base pass keeps its hidden states."""
    return lm.variant(keep_hidden=True)


def _run(lm, text: str, **kw):
    article = Article("a", text, "test")
    article.sentences = segment(article)
    return article, WordOrderSignal(lm, **kw).compute([article])


def test_the_search_proposes_exactly_the_enumerated_swaps(kept):
    """Stage 1 ranks the very candidates enumerate_swaps lists (one filter): with no prior
    floor and no cap, it proposes all of them."""
    sig = WordOrderSignal(kept, min_prior=float("-inf"), max_candidates=100_000)
    texts = ["The it sold company to Jason Stoltenberg in 1990.", "The company was founded in 1990.",
             "He also for played the national team, scoring 40 goals.", "Is it raining?"]
    proposed = sig.propose(texts, kept.score(texts))
    for text, cands in zip(texts, proposed):
        assert {c.text for c in cands} == {c.text for c in enumerate_swaps(text)[1]}, text
        assert [c.prior for c in cands] == sorted((c.prior for c in cands), reverse=True)


def test_the_window_price_keeps_a_subset_of_the_best_ranked_candidates(kept):
    """Priced, the exact pass scores only those of the unpriced search's best-ranked candidates
    whose prior pays for their window; a prohibitive price scores none (and flags nothing)."""
    texts = ["The company reported a sharp in rise profits for the third quarter.",
             "The minister said the talks were productive and that a deal be could reached soon.",
             "In 1990 founded the brothers the company in a small garage in Ohio.",
             "The council met on Monday to discuss the budget for next year."]
    bases = kept.score(texts)
    free = WordOrderSignal(kept, window_price=0.0).propose(texts, bases)
    priced = WordOrderSignal(kept, window_price=1.0).propose(texts, bases)
    assert 0 < sum(map(len, priced)) < sum(map(len, free))
    for f, p in zip(free, priced):
        assert [c.text for c in p] == [c.text for c in f if c.text in {x.text for x in p}]
    assert not any(WordOrderSignal(kept, window_price=100.0).propose(texts, bases))
    _, out = _run(kept, texts[0], window_price=100.0)
    assert out.flags == [[]] and out.columns["word_order_score"] == [0.0]


def test_best_only_scoring_finds_the_exact_searchs_best_and_rules_out_only_what_cannot_win(kept):
    """``best_only`` scores exactly only candidates whose shortlist bound could still beat their
    sentence's best: the best candidate and its score are the full search's, and every
    candidate it left out has an exact score at or below its bound and below the best."""
    import numpy as np

    texts = ["The company reported a sharp in rise profits for the third quarter.",
             "The minister said the talks were productive and that a deal be could reached soon.",
             "In 1990 founded the brothers the company in a small garage in Ohio.",
             "The council met on Monday to discuss the budget for next year.",
             "Heavy weapons the alliance will supply to Ukraine in the coming weeks, officials said."]
    sig = WordOrderSignal(kept, window_price=0.0, max_candidates=6)
    bases = kept.score(texts)
    full, lazy = sig.propose(texts, bases), sig.propose(texts, bases)
    sig.score(texts, bases, full)
    counted = dict(sig.counts)
    sig.counts = dict.fromkeys(sig.counts, 0)
    sig.score(texts, bases, lazy, best_only=True)
    # the work counters (benchmarks/word_order.py --floor): every window state goes through the
    # body either way; the full search gives each the whole output layer, best_only only the
    # states of the windows it scores exactly (each window's first log-prob comes from the base pass)
    assert counted["exact_rows"] == counted["window_rows"] == sig.counts["window_rows"] > 0
    assert sig.counts["exact_rows"] == sum(c.window - 1 for cs in lazy for c in cs if not np.isnan(c.score))
    assert sig.counts["exact_rows"] < sig.counts["window_rows"]
    skipped = 0
    for f, z in zip(full, lazy):
        best = max([c.score for c in f] + [0.0])
        lazy_best = max([c.score for c in z if not np.isnan(c.score)] + [0.0])
        assert lazy_best == pytest.approx(best, abs=1e-3)
        for cf, cz in zip(f, z):
            assert cf.score <= cz.bound + 1e-3
            if np.isnan(cz.score):
                skipped += 1
                assert cf.score <= best + 1e-3
            else:
                assert cz.score == pytest.approx(cf.score, abs=1e-3)
    assert skipped > 0  # the bound did rule some out (else this test checks nothing)


def test_without_kept_hidden_states_the_search_runs_the_body_itself(lm, kept):
    """A model built without keep_hidden still searches (one more body pass), to the same result."""
    text = "The council met on Monday. The company reported a sharp in rise profits for the third quarter."
    lm.clear_cache()
    assert lm.score(["The council met on Monday."])[0].hidden is None
    _, plain = _run(lm, text)
    _, fast = _run(kept, text)
    assert plain.flags == fast.flags == [[], ["word_order"]]
    assert plain.columns["word_order_suggestion"] == fast.columns["word_order_suggestion"]
    assert plain.columns["word_order_score"] == pytest.approx(fast.columns["word_order_score"], abs=0.05)


@pytest.mark.parametrize("scrambled, original, moved", [
    ("He also for played the national team in 2004, scoring 40 goals.",
     "He also played for the national team in 2004, scoring 40 goals.", "for played"),
    ("The company reported a sharp in rise profits for the third quarter.",
     "The company reported a sharp rise in profits for the third quarter.", "in rise"),
    ("The minister said the talks were productive and that a deal be could reached soon.",
     "The minister said the talks were productive and that a deal could be reached soon.", "be could"),
])
def test_a_swapped_pair_is_flagged_and_put_back(kept, scrambled, original, moved):
    article, out = _run(kept, "The council met on Monday. " + scrambled)
    assert out.flags[0] == [] and out.columns["word_order_score"][0] < 5.0
    assert out.flags[1] == ["word_order"]
    assert out.columns["word_order_suggestion"][1] == original
    assert out.columns["word_order_suggestion"][0] is None
    (span,) = out.spans[1]
    assert span.label == "word_order" and span.score == out.columns["word_order_score"][1]
    sentence = article.sentences[1]
    assert sentence.start <= span.start < span.end <= sentence.end  # article offsets, inside the sentence
    assert article.text[span.start:span.end] == moved
    assert span.note.startswith("reads better as \"") and "\n" not in span.note


def test_a_verb_final_clause_is_flagged(kept):
    _, out = _run(kept, "The government will next week the new budget present.")
    assert out.flags[0] == ["word_order"]
    assert "present the new budget" in out.columns["word_order_suggestion"][0]


FLUENT = [
    "NATO Secretary-General Jens Stoltenberg said on Wednesday that the alliance would send more air defence systems.",
    "Stocks Slide as Oil Prices Jump to Three-Month High",
    "\"We will not give up,\" she told reporters outside the courthouse in Brooklyn.",
    "The package includes tanks, artillery, ammunition and armoured vehicles, officials said.",
    "Prices rose 3.5% in March, the fastest pace since 2021, according to the statistics office.",
]


def test_fluent_sentences_are_not_flagged(kept):
    article, out = _run(kept, "\n".join(FLUENT))
    assert len(article.sentences) == len(FLUENT)
    assert all(f == [] for f in out.flags), list(zip(out.columns["word_order_score"], FLUENT))
    assert all(s is None for s in out.columns["word_order_suggestion"])
    assert all(0.0 <= s < 5.0 for s in out.columns["word_order_score"])


def test_declares_columns_labels_and_settings(lm):
    sig = WordOrderSignal(lm, threshold=4.0)
    assert [c.name for c in sig.columns] == ["word_order_score", "word_order_suggestion"]
    assert {c.dtype for c in sig.columns} == {"float32", "string"}
    assert "word_order" in sig.labels
    assert "threshold=4.0" in sig.signature() and sig.signature().startswith("word_order:")


def test_the_shortlist_is_kept_on_disk_and_a_damaged_copy_is_rebuilt(lm, tmp_path, monkeypatch):
    import numpy as np
    import torch
    import wordfreq

    from mtqa.signals.word_order import search

    real, calls = wordfreq.top_n_list, []
    monkeypatch.setattr(wordfreq, "top_n_list", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setenv("MTQA_HOME", str(tmp_path))
    monkeypatch.setattr(search, "_shortlists", {})
    built = search.english_shortlist(lm).clone()
    (kept,) = (tmp_path / "cache").glob("shortlist-*.npy")
    assert len(calls) == 1 and np.array_equal(np.load(kept), built.numpy())
    assert 15_000 < len(built) < 25_000 and bool((built[1:] > built[:-1]).all())
    monkeypatch.setattr(search, "_shortlists", {})  # a new process: read from disk, wordfreq not asked
    assert torch.equal(search.english_shortlist(lm), built) and len(calls) == 1
    for damage in (b"not a numpy file", None):
        if damage is None:  # a readable file whose ids do not fit the vocabulary
            np.save(kept, np.array([1, 2, len(lm.tokenizer) + 5], dtype=np.int64))
        else:
            kept.write_bytes(damage)
        monkeypatch.setattr(search, "_shortlists", {})
        assert torch.equal(search.english_shortlist(lm), built)
    assert len(calls) == 3 and np.array_equal(np.load(kept), built.numpy())
