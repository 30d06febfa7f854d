"""The HTML report without a browser: self-contained, escaped, limited, highlights in place,
ranked by MT probability (and by quality on outputs written before the detector)."""

from __future__ import annotations

import html
import json
import math
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mtqa.cli import main
from mtqa.errors import MtqaError
from mtqa.report import render_report, write_report
from mtqa.report.spans import render_range
from mtqa.report.load import SpanHit

from .conftest import (LABELS, XSS_EVIDENCE, XSS_ID, XSS_IMG, XSS_NOTE, XSS_SCRIPT, build_job, sample_articles,
                       sentence)


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


def anchor_of(page: str, article_id: str) -> str:
    """The element id of ``article_id``'s article view."""
    for anchor, shown in re.findall(r'<h3 id="(a\d+)-h">([^<]*)</h3>', page):
        if html.unescape(shown) == article_id:
            return anchor
    raise AssertionError(f"no article view for {article_id}")


def ranking_ids(page: str) -> list[str]:
    """Article ids in the overview's ranking table, top to bottom."""
    i = page.index('id="ranking"')
    block = page[i: page.index("</table>", i)]
    return [html.unescape(x) for x in re.findall(r'<td class="title"><a href="#a\d+">([^<]*)</a>', block)]


def table_column(page: str, col: int) -> list[str]:
    """The data-v (or text) of column ``col`` of each row of the sentence table."""
    body = page[page.index('<table id="stable"'):]
    body = body[: body.index("</table>")]
    out = []
    for row in re.findall(r'<tr data-i="\d+"[^>]*>(.*?)</tr>', body, flags=re.S):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", row, flags=re.S)
        attrs, inner = cells[col]
        m = re.search(r'data-v="([^"]*)"', attrs)
        out.append(m.group(1) if m else html.unescape(re.sub(r"<[^>]+>", "", inner)))
    return out


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
    assert "All 13 articles, most likely machine-translated first." in page
    # the ranking lists the article views in page order
    ranked = re.findall(r'<td class="title"><a href="#(a\d+)">', page)
    assert ranked == [f"a{k}" for k in range(1, 14)]
    assert "Showing" not in page  # nothing left out


def test_article_text_as_written(page):
    paras = article_paragraphs(page, anchor_of(page, "de-news-0142"))
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
    assert 'class="s q1 m3"' in page  # shaded by both scales; the stylesheet shows the chosen one


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


@pytest.mark.parametrize("mt", [True, False], ids=["with-mt", "without-mt"])
def test_missing_values_and_no_run_json(tmp_path, mt):
    arts = sample_articles(hostile=False)[:2]
    arts[0]["paragraphs"][0][0]["quality"] = None  # and no mt_probability either (default_mt: NaN)
    build_job(tmp_path, arts, mt=mt)
    (tmp_path / "run.json").unlink()
    page = render_report(tmp_path)
    assert "No run.json in this folder." in page
    assert ('class="s qna mna"' if mt else 'class="s qna"') in page


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


# --------------------------------------------------------------------------- MT probability (issue 12)


def _mt_of(job: Path) -> tuple[dict[str, float], dict[str, str]]:
    """article id -> mt_probability and -> language, as written in the job."""
    import datasets

    rows = datasets.load_from_disk(str(job / "articles")).select_columns(
        ["article_id", "mt_probability", "language"]).to_list()
    return {r["article_id"]: r["mt_probability"] for r in rows}, {r["article_id"]: r["language"] for r in rows}


def test_ranking_by_mt_probability_non_english_last(page, sample_job):
    mt, language = _mt_of(sample_job)
    ids = ranking_ids(page)
    english = [a for a in ids if not math.isnan(mt[a])]
    assert ids[: len(english)] == sorted(english, key=lambda a: -mt[a])  # highest first
    assert ids[len(english):] == ["de-raw-0003"] and language["de-raw-0003"] == "not-en"
    # quality is a different order, so the test above tells the two apart
    assert ids != [a for a in sorted(mt, key=lambda a: _quality(sample_job)[a])]
    i = page.index('id="ranking"')
    block = page[i: page.index("</table>", i)]
    assert "Not in the MT ranking" in block
    row = block[block.index('<tr class="unranked">'):]
    assert row.startswith('<tr class="unranked"><td class="num">–</td>') and "not English" in row
    # ranked rows carry their place and the probability with its colour bin
    top = ids[0]
    assert f'<td class="num">1</td><td class="title"><a href="#{anchor_of(page, top)}">' in block
    assert f'<span class="num">{mt[top]:.2f}</span>' in block


def _quality(job: Path) -> dict[str, float]:
    import datasets

    rows = datasets.load_from_disk(str(job / "articles")).select_columns(["article_id", "quality"]).to_list()
    return {r["article_id"]: r["quality"] for r in rows}


def test_article_view_shows_probability_language_and_linked_evidence(page, sample_job):
    mt, _ = _mt_of(sample_job)
    anchor = anchor_of(page, "de-news-0142")
    view = page[page.index(f'<article class="art" id="{anchor}"'):]
    view = view[: view.index("</article>")]
    p = mt["de-news-0142"]
    assert f'<div class="badge m{4 if p >= 0.8 else 3}"><b>{p:.2f}</b><small>MT probability</small></div>' in view
    assert "· English ·" in view
    evidence = view[view.index('<div class="evidence"'):]
    evidence = evidence[: evidence.index("</div>")]
    items = [html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", evidence)]
    assert items[0] == "3 of 6 English sentences look machine-made (p > 0.5)"  # the German sentence has no probability
    # "sentence N" (a sentence_id) links to that sentence of the view
    links = re.findall(r'<a href="#(a\d+-s(\d+))">sentence (\d+)</a>', evidence)
    assert links and all(sid == shown for _, sid, shown in links)
    assert all(f'id="{target}"' in view for target, _, _ in links)
    # sentences carry their probability and its colour class
    spans = re.findall(r'<span class="s q(\w+) m(\w+)" id="[^"]+" data-q="[^"]*" data-mt="([^"]*)"', view)
    assert len(spans) == 7
    for _, mbin, value in spans:
        assert mbin == ("na" if value == "–" else str(min(4, int(float(value) / 0.2))))
    assert ("na", "–") in {(b, v) for _, b, v in spans}  # the German sentence


def test_not_english_article_is_marked(page):
    anchor = anchor_of(page, "de-raw-0003")
    view = page[page.index(f'<article class="art" id="{anchor}"'):]
    view = view[: view.index("</article>")]
    assert '<div class="badge mna"><b>–</b><small>not English</small></div>' in view
    assert "kept out of the MT ranking" in view and '<span class="rank">–</span>' in view
    assert "2 of 3 sentences are not English" in view


def test_evidence_is_escaped(page):
    c = parse(page)
    for part in XSS_EVIDENCE.split(" | ")[1:]:
        assert part not in page
    texts = "".join(c.texts)
    assert '"><script>window.__pwned=8</script>' in texts and '<b onmouseover="window.__pwned=9">x</b>' in texts
    tags = [t for t, _ in c.elements]
    assert tags.count("script") == 1
    assert not any(k.startswith("on") for _, attrs in c.elements for k in attrs)  # the <b onmouseover> stayed text


def test_sentence_table_by_mt_probability(page):
    assert '<table id="stable" data-text-col="2" data-q-col="1" data-mt-col="0" data-sort-dir="-1"' in page
    assert '<button type="button" data-col="0" data-type="num" data-first="desc">MT probability</button>' in page
    assert 'aria-sort="descending"' in page and 'id="f-mt"' in page
    mt = table_column(page, 0)
    scored = [float(x) for x in mt if x]
    assert scored == sorted(scored, reverse=True) and len(scored) < len(mt)
    assert mt[len(scored):] == [""] * (len(mt) - len(scored))  # no probability (not English): last
    quality = table_column(page, 1)
    assert all(0 <= float(q) <= 1 for q in quality)
    assert "All 85 sentences, most likely machine-translated first." in page


def test_overview_cards_and_histograms(page, sample_job):
    mt, _ = _mt_of(sample_job)
    english = [p for p in mt.values() if not math.isnan(p)]
    c = parse(page)
    svgs = [a.get("aria-label", "") for t, a in c.elements if t == "svg"]
    assert any(s.startswith("Histogram of article MT probability") for s in svgs)
    assert any(s.startswith("Histogram of sentence quality") for s in svgs)
    assert any(s.startswith("Histogram of article quality") for s in svgs)
    # the MT histogram counts the English articles only, bars on the MT colour scale
    i = page.index("Histogram of article MT probability")
    svg = page[i: page.index("</svg>", i)]
    counts = [int(n) for n in re.findall(r'<rect class="m[0-4]"[^>]*><title>[^:]+: (\d+) articles?</title>', svg)]
    assert len(counts) == 20 and sum(counts) == len(english) == 12
    assert f"{sum(p > 0.5 for p in english)} <small>of 12</small>" in page
    assert "1 article kept out of the MT ranking" in page
    assert "mtqa <span>machine-translation report</span>" in page and "MT probability</span>" in page
    assert '<body class="shade-mt">' in page and 'name="shade" value="q"' in page


def test_output_without_mt_columns_renders_as_before(old_job):
    page = render_report(old_job)
    body = page[page.index("<body"): page.index("<script>")]  # the stylesheet and script always know both scales
    assert "MT probability" not in body and "mt_probability" not in body and "shade-mt" not in body
    assert "All 13 articles, worst first." in page and "<h2>Articles, worst first</h2>" in page
    assert "Translation quality: " in page
    ids = ranking_ids(page)
    q = _quality(old_job)
    assert ids == sorted(q, key=lambda a: q[a])
    quality = [float(x) for x in table_column(page, 0)]
    assert quality == sorted(quality)
    assert '<table id="stable" data-text-col="1" data-q-col="0" data-mt-col="-1" data-sort-dir="1"' in page
    assert re.search(r'<span class="s q\w+" id=', page) and not re.search(r'<span class="s q\w+ m', page)


def test_limits_on_a_large_mt_job(big_mt_job):
    import datasets

    page = render_report(big_mt_job, max_articles=20, max_sentences=100)
    assert "Showing 20 of 400 articles: the 20 most likely machine-translated" in page
    assert "Showing 100 of 2,000 sentences: the 100 most likely machine-translated" in page
    arts = datasets.load_from_disk(str(big_mt_job / "articles")).select_columns(
        ["article_id", "mt_probability"]).to_list()
    english = sorted((r for r in arts if not math.isnan(r["mt_probability"])), key=lambda r: -r["mt_probability"])
    assert ranking_ids(page) == [r["article_id"] for r in english[:20]]
    sents = datasets.load_from_disk(str(big_mt_job / "sentences"))["mt_probability"]
    cutoff = sorted((p for p in sents if not math.isnan(p)), reverse=True)[99]
    table = [float(x) for x in table_column(page, 0)]
    assert len(table) == 100 and table == sorted(table, reverse=True) and min(table) >= cutoff - 1e-6
    # every article shown: the 40 not English come last, outside the ranking
    page = render_report(big_mt_job, max_articles=400, max_sentences=0)
    ids = ranking_ids(page)
    assert len(ids) == 400 and all(int(a[4:]) % 10 == 9 for a in ids[360:]) and page.count('<tr class="unranked">') == 40
    assert "40 articles kept out of the MT ranking" in page


def test_load_counts_mt(sample_job, old_job):
    from mtqa.report.load import load

    data = load(sample_job)
    assert data.by_mt and data.sentence_mt and data.n_mt_articles == 12 and data.n_not_english == 1
    assert sum(data.mt_histogram) == 12 and 0 < data.mean_article_mt < 1
    assert [a.article_id for a in data.articles][-1] == "de-raw-0003" and data.articles[-1].not_english
    old = load(old_job)
    assert not old.by_mt and not old.sentence_mt and old.n_mt_articles == 0 and math.isnan(old.mean_article_mt)
    assert all(math.isnan(a.mt_probability) and a.language == "" for a in old.articles)
