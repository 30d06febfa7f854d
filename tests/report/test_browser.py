"""The report in a real browser (headless Chromium over the DevTools protocol, stdlib only).

Run: ``pytest tests/report/test_browser.py`` (skips where no Chromium is installed; on Debian
``apt-get install chromium``; another binary via ``MTQA_CHROMIUM=/path``). Set
``MTQA_REPORT_SCREENSHOT=docs/report.png`` to refresh the screenshot in the docs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mtqa.report import write_report

from .cdp import Browser, find_chromium
from .conftest import XSS_ID, XSS_IMG, XSS_NOTE, XSS_SCRIPT, build_job, sample_articles

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found (install Debian's `chromium` package or set MTQA_CHROMIUM=/path/to/chrome)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def report_path(sample_job, tmp_path_factory) -> Path:
    return write_report(sample_job, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture
def report_page(browser, report_path):
    """The sample report (with hostile content), freshly loaded for each test."""
    browser.open(report_path.resolve().as_uri(), width=1280, height=900)
    return browser


def js(b: Browser, expression: str):
    return b.eval(f"(function () {{ {expression} }})()")


def test_no_injected_element_and_payload_visible(report_page):
    b = report_page
    assert b.eval("typeof window.__pwned") == "undefined"
    assert b.eval("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert b.eval("document.scripts.length") == 1
    assert js(b, "return Array.from(document.querySelectorAll('*')).filter(e => "
                 "Array.from(e.attributes).some(a => a.name.startsWith('on'))).length;") == 0
    text = b.eval("document.body.innerText")
    for payload in (XSS_SCRIPT, XSS_IMG, XSS_ID):
        assert payload in text
    assert b.eval("document.querySelector('h3').textContent") == XSS_ID


def test_highlights_have_labels_and_explain_on_focus(report_page):
    b = report_page
    labels = js(b, "return Array.from(document.querySelectorAll('mark[data-label]'), m => m.dataset.label);")
    flat = {x for lab in labels for x in lab.split()}
    assert {"word_order", "repetition", "untranslated", "low_probability", "literal", "agreement"} <= flat
    assert "low_probability repetition" in labels or "repetition low_probability" in labels
    # keyboard: a highlight takes focus and its tooltip shows label and note
    tip = js(b, """
        var m = Array.from(document.querySelectorAll('mark')).find(m => m.textContent === 'raining ropes');
        m.focus();
        return [document.activeElement === m, getComputedStyle(m, '::after').content,
                getComputedStyle(m, '::after').position];""")
    assert tip[0] is True
    assert "literal" in tip[1] and "pouring" in tip[1] and tip[2] == "absolute"
    # the hostile note reaches the tooltip as text
    hostile = js(b, "return Array.from(document.querySelectorAll('mark'), m => m.dataset.tip).join('\\n');")
    assert XSS_NOTE in hostile


def column(b: Browser, i: int) -> list[str]:
    return js(b, f"return Array.from(document.querySelectorAll('#stable tbody tr'), "
                 f"r => r.cells[{i}].getAttribute('data-v') ?? r.cells[{i}].textContent);")


def test_sorting_by_click_and_keyboard(report_page):
    b = report_page
    # columns: MT probability, Quality, Sentence, Flags, Article, #, signals
    mt = column(b, 0)
    scored = [float(x) for x in mt if x]
    assert scored == sorted(scored, reverse=True) and mt[len(scored):] == [""] * (len(mt) - len(scored))
    assert b.eval("document.querySelector('#stable thead th').getAttribute('aria-sort')") == "descending"
    js(b, "document.querySelector('#stable thead button[data-col=\"0\"]').click();")
    mt = column(b, 0)
    scored = [float(x) for x in mt if x]
    assert scored == sorted(scored) and mt[len(scored):] == [""] * (len(mt) - len(scored))  # missing stay last
    assert b.eval("document.querySelector('#stable thead th').getAttribute('aria-sort')") == "ascending"
    js(b, "document.querySelector('#stable thead button[data-col=\"1\"]').click();")
    q = [float(x) for x in column(b, 1)]
    assert q == sorted(q)  # quality sorts lowest first on the first click

    # keyboard: focus the Article header button, press Enter
    js(b, "document.querySelector('#stable thead button[data-col=\"4\"]').focus();")
    b.press("Enter", "Enter", 13)
    arts = [x.lower() for x in column(b, 4)]
    assert arts == sorted(arts)
    assert b.eval("document.querySelectorAll('#stable thead th')[4].getAttribute('aria-sort')") == "ascending"
    assert "Sorted by" in b.eval("document.getElementById('sort-status').textContent")


def test_filters(report_page):
    b = report_page
    total = b.eval("document.querySelectorAll('#stable tbody tr').length")
    token = js(b, "return Array.from(document.querySelectorAll('#f-flag option')).find(o => o.textContent === 'repetition').value;")
    shown = js(b, f"""
        var s = document.getElementById('f-flag'); s.value = {json.dumps(token)};
        s.dispatchEvent(new Event('change', {{bubbles: true}}));
        return Array.from(document.querySelectorAll('#stable tbody tr')).filter(r => !r.hidden)
            .map(r => r.cells[3].textContent);""")
    assert shown and all("repetition" in s for s in shown)
    shown = js(b, """
        var s = document.getElementById('f-flag'); s.value = '';
        var lo = document.getElementById('f-min'); lo.value = '0.5';
        lo.dispatchEvent(new Event('input', {bubbles: true}));
        return Array.from(document.querySelectorAll('#stable tbody tr')).filter(r => !r.hidden)
            .map(r => parseFloat(r.cells[1].dataset.v));""")
    assert shown and min(shown) >= 0.5 and len(shown) < total
    assert b.eval("document.getElementById('f-count').textContent").endswith(f"of {total} rows shown")
    # clicking a flag in the overview filters the table by it
    js(b, "document.getElementById('f-min').value = '';"
          "document.querySelector('.flags a[data-flag]').click();")
    shown = js(b, "return Array.from(document.querySelectorAll('#stable tbody tr')).filter(r => !r.hidden).length;")
    assert 0 < shown < total
    # MT probability from 0.8: only sentences that look machine-made, none without a probability
    shown = js(b, """
        document.getElementById('f-flag').value = '';
        var m = document.getElementById('f-mt'); m.value = '0.8';
        m.dispatchEvent(new Event('input', {bubbles: true}));
        return Array.from(document.querySelectorAll('#stable tbody tr')).filter(r => !r.hidden)
            .map(r => r.cells[0].dataset.v);""")
    assert shown and all(x and float(x) >= 0.8 for x in shown) and len(shown) < total


def test_shading_switch(report_page):
    b = report_page
    probe = """
        var s = document.querySelector('span.s.m4.q1, span.s.m4.q0');
        return [document.body.className, getComputedStyle(s).backgroundColor,
                getComputedStyle(document.querySelector('.strip a.g4')).backgroundColor];"""
    cls, by_mt, strip_mt = js(b, probe)
    assert cls == "shade-mt"
    js(b, "var r = document.querySelector('input[name=shade][value=q]'); r.click();")
    cls, by_q, strip_q = js(b, probe)
    assert cls == "shade-q" and by_q != by_mt and strip_q != strip_mt
    assert b.eval("document.getElementById('shade-name').textContent") == "quality"


def test_output_without_mt_columns(browser, old_job, tmp_path):
    page = write_report(old_job, tmp_path / "old.html")
    browser.open(page.resolve().as_uri(), width=1280, height=900)
    b = browser
    q = [float(x) for x in column(b, 0)]
    assert q == sorted(q)  # worst first on arrival
    assert b.eval("document.getElementById('f-mt') === null && document.getElementById('shade') === null")
    shown = js(b, """
        var lo = document.getElementById('f-min'); lo.value = '0.5';
        lo.dispatchEvent(new Event('input', {bubbles: true}));
        return Array.from(document.querySelectorAll('#stable tbody tr')).filter(r => !r.hidden)
            .map(r => parseFloat(r.cells[0].dataset.v));""")
    assert shown and min(shown) >= 0.5


def test_links_between_overview_and_articles(report_page):
    b = report_page
    ok = js(b, """
        var links = Array.from(document.querySelectorAll('a[href^="#"]'));
        return links.every(a => a.getAttribute('href') === '#' || document.getElementById(a.getAttribute('href').slice(1)));""")
    assert ok is True


def test_screenshot(browser, tmp_path):
    (tmp_path / "job").mkdir()
    job = build_job(tmp_path / "job", sample_articles(hostile=False))
    page = write_report(job, tmp_path / "report.html")
    browser.open(page.resolve().as_uri(), width=1280, height=900)
    # show one explanation, as a reader hovering or tabbing to a highlight would see it
    browser.eval("Array.from(document.querySelectorAll('mark')).find(m => m.textContent === 'has yesterday the new law "
                 "about the energy presented').focus({preventScroll: true})")
    shot = browser.screenshot(tmp_path / "report.png", width=1280, height=1900)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    target = os.environ.get("MTQA_REPORT_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
