"""The HTML report without a browser: self-contained, escaped, limited, highlights in place."""

from __future__ import annotations

import html
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mtqa.cli import main
from mtqa.errors import MtqaError
from mtqa.report import render_report, write_report
from mtqa.report.html import render_range
from mtqa.report.load import SpanHit

from .conftest import LABELS, XSS_ID, XSS_IMG, XSS_NOTE, XSS_SCRIPT, build_job, sample_articles, sentence


class Collector(HTMLParser):
    """Elements (tag, attrs) in order, and the text nodes (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.stack: list[str] = []
        self.mark_depth = 0
        self.max_mark_depth = 0

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "mark":
            self.mark_depth += 1
            self.max_mark_depth = max(self.max_mark_depth, self.mark_depth)

    def handle_data(self, data):
        self.texts.append(data)

    def handle_endtag(self, tag):
        if tag == "mark":
            self.mark_depth -= 1


def parse(page: str) -> Collector:
    c = Collector()
    c.feed(page)
    return c


def article_paragraphs(page: str, anchor: str) -> list[str]:
    """The text of each <p> in the article view ``anchor`` (tags dropped, entities decoded)."""
    start = page.index(f'<article class="art" id="{anchor}"')
    body = page[page.index('<div class="text">', start): page.index("</article>", start)]
    paras = re.findall(r"<p[^>]*>(.*?)</p>", body, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", p)).replace("\u21bb", "") for p in paras]


@pytest.fixture(scope="module")
def page(sample_job) -> str:
    return write_report(sample_job).read_text(encoding="utf-8")


def test_writes_report_html_in_the_folder(sample_job):
    path = write_report(sample_job)
    assert path == sample_job / "report.html"
    assert path.stat().st_size > 10_000


def test_self_contained(page):
    assert "<link" not in page.lower()
    assert not re.search(r"""\b(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, flags=re.I)
    assert "@import" not in page and "url(" not in page
    assert page.count("<script") == 1 and "<script src" not in page
    for tag, attrs in parse(page).elements:
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href


def test_escaping_holds(page):
    c = parse(page)
    values = [v for _, attrs in c.elements for v in attrs.values() if v]
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_NOTE, XSS_ID):
        assert payload not in page
        # ... yet it is all there, as text or inside an attribute value, once entities are decoded
        assert any(payload in t for t in c.texts + values), payload
    elements = c.elements
    tags = [t for t, _ in elements]
    assert tags.count("script") == 1
    assert "img" not in tags
    assert not any(k.startswith("on") for _, attrs in elements for k in attrs)
    assert sum(1 for t, a in elements if t == "svg" and a.get("class") != "hist") == 0


def test_highlights_carry_labels_and_notes(page):
    marks = [a for t, a in parse(page).elements if t == "mark"]
    labels = {lab for a in marks for lab in a["data-label"].split()}
    assert {"word_order", "repetition", "untranslated", "low_probability", "literal", "agreement"} <= labels
    assert all(a.get("tabindex") == "0" for a in marks)
    # overlapping spans end up on one segment carrying both labels
    assert any(set(a["data-label"].split()) == {"repetition", "low_probability"} for a in marks)
    tips = [a["data-tip"] for a in marks]
    assert any("the verb 'presented' closes the clause" in t and t.startswith("word_order") for t in tips)
    assert any(XSS_NOTE in t for t in tips)  # the hostile note is there, as text in an escaped attribute


def test_overview_lists_flags_histogram_and_ranking(page):
    assert 'id="overview"' in page and "<svg class=\"hist\"" in page
    texts = parse(page).texts
    for label, explanation in LABELS.items():
        assert f">{label}</a>" in page
        assert explanation in texts  # one text node (the apostrophe in one label escaped as an entity)
    assert "All 12 articles, worst first." in page
    # ranking is worst first
    ranked = re.findall(r'<td class="title"><a href="#(a\d+)">', page)
    assert ranked == [f"a{k}" for k in range(1, 13)]
    assert "Showing" not in page  # nothing left out


def test_article_text_as_written(page):
    paras = article_paragraphs(page, "a2")  # de-news-0142, second worst
    assert paras == [
        "The government has yesterday the new law about the energy presented. It should the costs for households lower.",
        "Critics say that the plan is too expensive and too expensive. The minister Müller rejected this. "
        "Sie sagte, die Reform sei dringend notwendig.",
        "The vote in the Bundestag is planned for next week. Experts expect a narrow majority.",
    ]
    assert "Suggested word order" in page
    assert "The government presented the new energy law yesterday." in page


def test_text_between_sentences_is_kept(tmp_path):
    build_job(tmp_path, [{"id": "x", "origin": "x.txt", "paragraphs": [
        [sentence("First sentence here.", 0.3), sentence("Second one.", 0.9)]]}])
    # put a heading no sentence covers in front, and an aside between the two sentences
    import datasets

    arts = datasets.load_from_disk(str(tmp_path / "articles")).to_list()
    sents = datasets.load_from_disk(str(tmp_path / "sentences")).to_list()
    head, mid = "TITLE <b>\n\n", " (aside) "
    text = arts[0]["text"]
    cut = sents[1]["start"]
    arts[0]["text"] = head + text[: cut - 1] + mid + text[cut:]
    sents[0]["start"] += len(head)
    sents[0]["end"] += len(head)
    shift = len(head) + len(mid) - 1
    sents[1]["start"] += shift
    sents[1]["end"] += shift
    for s in sents:
        assert arts[0]["text"][s["start"]: s["end"]] == s["text"]
    out = tmp_path / "edited"
    datasets.Dataset.from_list(sents).save_to_disk(str(out / "sentences"))
    datasets.Dataset.from_list(arts).save_to_disk(str(out / "articles"))
    page = render_report(out)
    assert article_paragraphs(page, "a1") == ["TITLE <b>", "First sentence here. (aside) Second one."]


def test_render_range_splits_overlaps():
    text = "abcdefghij"
    spans = [SpanHit(1, 6, "outer", 0.5, "o"), SpanHit(3, 4, "inner", 0.5, ""), SpanHit(5, 9, "tail", 0.5, "t")]
    out = render_range(text, 0, 10, spans, {"inner": "explained"})
    c = parse(out)
    assert c.max_mark_depth == 1  # no nesting, no interleaving
    assert html.unescape(re.sub(r"<[^>]+>", "", out)) == text
    marks = [a["data-label"] for t, a in c.elements if t == "mark"]
    assert marks == ["outer", "outer inner", "outer", "outer tail", "tail"]
    assert 'data-tip="outer: o&#10;inner: explained"' in out or "outer: o\ninner: explained" in out


def test_limits_on_a_large_job(big_job):
    t0 = time.perf_counter()
    path = write_report(big_job)
    elapsed = time.perf_counter() - t0
    page = path.read_text(encoding="utf-8")
    assert elapsed < 10
    assert path.stat().st_size < 3_000_000
    assert "Showing 50 of 1,000 articles: the 50 with lowest quality" in page
    assert "Showing 2,000 of 5,000 sentences: the 2,000 with lowest quality" in page
    assert page.count('<article class="art"') == 50
    assert len(re.findall(r'<tr data-i="', page)) == 2000

    import datasets

    arts = datasets.load_from_disk(str(big_job / "articles"))
    worst = {r["article_id"] for r in sorted(arts.select_columns(["article_id", "quality"]).to_list(),
                                             key=lambda r: r["quality"])[:50]}
    shown = set(re.findall(r'<h3 id="a\d+-h">([^<]+)</h3>', page))
    assert shown == worst
    sents = datasets.load_from_disk(str(big_job / "sentences"))
    cutoff = sorted(sents["quality"])[1999]
    table_q = [float(q) for q in re.findall(r'<tr data-i="\d+" data-flags="[^"]*"><td class="num" data-v="([^"]+)"', page)]
    assert len(table_q) == 2000 and max(table_q) <= cutoff + 1e-6 and table_q == sorted(table_q)


def test_limit_options(big_job, tmp_path):
    page = render_report(big_job, max_articles=3, max_sentences=10)
    assert page.count('<article class="art"') == 3
    assert "Showing 3 of 1,000 articles: the 3 with lowest quality" in page
    assert len(re.findall(r'<tr data-i="', page)) == 10


def test_missing_values_and_no_run_json(tmp_path):
    arts = sample_articles(hostile=False)[:2]
    arts[0]["paragraphs"][0][0]["quality"] = None
    build_job(tmp_path, arts)
    (tmp_path / "run.json").unlink()
    page = render_report(tmp_path)
    assert "No run.json in this folder." in page
    assert 'class="s qna"' in page


def test_cli(sample_job, tmp_path, capsys):
    target = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(sample_job), "-o", str(target), "--max-articles", "2", "--max-sentences", "5"]) == 0
    assert target.is_file()
    assert "wrote" in capsys.readouterr().out
    page = target.read_text(encoding="utf-8")
    assert page.count('<article class="art"') == 2


def test_cli_rejects_a_folder_that_is_not_scored(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtqa: error:") and "not a scored output folder" in err and err.count("\n") == 1
    with pytest.raises(MtqaError):
        write_report(tmp_path / "missing")


def test_run_details_escaped(tmp_path):
    build_job(tmp_path, sample_articles(hostile=False)[:1])
    run = json.loads((tmp_path / "run.json").read_text())
    run["config"]["evil"] = "</pre><script>window.__pwned=5</script>"
    run["inputs"].append('"><img src=x>')
    (tmp_path / "run.json").write_text(json.dumps(run))
    page = render_report(tmp_path)
    assert "<script>window.__pwned=5" not in page and '"><img src=x>' not in page
    assert page.count("<script") == 1


def test_flag_counts_count_sentences(tmp_path):
    import datasets

    from mtqa.report.load import load

    build_job(tmp_path, sample_articles(hostile=False)[:1])
    rows = datasets.load_from_disk(str(tmp_path / "sentences")).to_list()
    rows[0]["flags"] = ["word_order", "word_order"]  # a label repeated within one sentence counts once
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "s2"))
    (tmp_path / "sentences").rename(tmp_path / "old")
    (tmp_path / "s2").rename(tmp_path / "sentences")
    data = load(tmp_path)
    assert data.flag_counts["word_order"] == 2
    assert data.n_flagged == sum(bool(r["flags"]) for r in rows)


def test_hostile_flag_labels_and_run_fields_stay_text(tmp_path):
    # flag labels come from the data too: they land in chips, filter options, data-label and
    # title attributes; run.json fields in the Run section
    evil_label = '"><img src=x onerror="window.__pwned=6">'
    evil_expl = "</div><script>window.__pwned=7</script>"
    arts = sample_articles(hostile=False)[:1]
    arts[0]["paragraphs"][0][0]["spans"] = [("The government", evil_label, evil_expl)]
    build_job(tmp_path, arts, labels={evil_label: evil_expl})
    run = json.loads((tmp_path / "run.json").read_text())
    run["signature"] = "<b>sig</b>"
    run["timings"] = {"<i>t</i>": 1.23456}
    (tmp_path / "run.json").write_text(json.dumps(run))
    page = render_report(tmp_path)
    for raw in (evil_label, evil_expl, "<b>sig</b>", "<i>t</i>"):
        assert raw not in page
    c = parse(page)
    assert [t for t, _ in c.elements].count("script") == 1 and "img" not in [t for t, _ in c.elements]
    assert not any(k.startswith("on") for _, attrs in c.elements for k in attrs)
    assert evil_label in [a.get("data-label") for t, a in c.elements if t == "mark"]
    assert evil_label in c.texts and evil_expl in c.texts and "<b>sig</b>" in c.texts and "<i>t</i>: 1.23" in c.texts


def test_templates_and_static_files_ship_with_the_package():
    from importlib import resources

    files = {p.name for d in ("templates", "static") for p in resources.files("mtqa.report").joinpath(d).iterdir()}
    assert {"report.html.j2", "macros.html.j2", "report.css", "report.js"} <= files
    # ... and the pyproject globs install them (tomllib: Python >= 3.11)
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["mtqa"]
    assert "report/templates/*" in globs and "report/static/*" in globs
