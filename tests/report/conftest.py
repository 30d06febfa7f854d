"""Fixture builders: scored output folders written directly (no scoring pipeline involved).

``build_job`` and ``build_synthetic`` write the detector's columns (``mt_probability`` on both
tables, ``mt_evidence`` and ``language`` on articles) unless told ``mt=False``: an output
written before the detector existed, which the report must still render as before.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

XSS_SCRIPT = "<script>window.__pwned=1</script>"
XSS_IMG = '"><img src=x onerror="window.__pwned=2">'
XSS_NOTE = '"><script>window.__pwned=3</script>'
XSS_ID = '"><svg onload="window.__pwned=4">'
#: mt_evidence names flags, and flag labels come from the data
XSS_EVIDENCE = ('2 of 3 English sentences look machine-made (p > 0.5) | sentence 0 (p=0.95): flags '
                '"><script>window.__pwned=8</script> | sentence 1 (p=0.91): <b onmouseover="window.__pwned=9">x</b>')

LABELS = {
    "word_order": "Words appear in an order unusual for English (often the source language's order).",
    "repetition": "A word or phrase is repeated in close succession.",
    "untranslated": "The text is not in English: the source was left untranslated.",
    "low_probability": "The language model finds this stretch very unlikely.",
    "agreement": "Subject and verb (or article and noun) do not agree.",
    "literal": "A word-for-word rendering of an idiom.",
}


def sentence(text, quality, *, spans=(), suggestion=None, mt=None):
    """A sentence spec: spans are (substring, label, note) located within the sentence text.

    ``mt`` is its mt_probability (default: derived from the quality and the flags, see
    ``default_mt``); ``math.nan`` for a sentence that is not English.
    """
    return {"text": text, "quality": quality, "spans": list(spans), "suggestion": suggestion, "mt": mt}


def default_mt(quality, n_flags: int) -> float:
    """A plausible sentence mt_probability: higher for low quality and for flagged sentences.

    Not a function of quality alone (flags count too), so a ranking by MT probability differs
    from one by quality.
    """
    if quality is None:
        return math.nan
    return round(min(0.99, max(0.01, 0.85 - 0.7 * quality + 0.12 * n_flags)), 3)


def article_mt(probabilities: list[float]) -> float:
    """The article's probability: log-odds accumulated over its English sentences, discounted (n ** 0.5)."""
    ps = [p for p in probabilities if not math.isnan(p)]
    if not ps:
        return math.nan
    mean_logit = sum(math.log(p / (1 - p)) for p in ps) / len(ps)
    return round(1 / (1 + math.exp(-(len(ps) ** 0.5) * mean_logit)), 4)


def article_evidence(rows: list[dict]) -> str:
    """``mt_evidence`` as the detector words it: the count, then the top sentences and why."""
    scored = [r for r in rows if not math.isnan(r["mt_probability"])]
    high = sum(r["mt_probability"] > 0.5 for r in scored)
    parts = [f"{high} of {len(scored)} English sentences look machine-made (p > 0.5)"]
    for r in sorted(scored, key=lambda r: -r["mt_probability"])[:3]:
        if r["mt_probability"] <= 0.5:
            break
        why = "flags " + ", ".join(r["flags"]) if r["flags"] else "overall profile"
        parts.append(f"sentence {r['sentence_id']} (p={r['mt_probability']:.2f}): {why}; mean token surprisal")
    return " | ".join(parts)


def sample_articles(hostile: bool = True) -> list[dict]:
    """A handful of small, plausible machine-translated articles, one with hostile content."""
    rng = random.Random(7)
    arts = [
        {"id": "de-news-0142", "origin": "news_de.jsonl:row 142", "paragraphs": [
            [sentence("The government has yesterday the new law about the energy presented.", 0.22,
                      spans=[("has yesterday the new law about the energy presented", "word_order",
                              "the verb 'presented' closes the clause, as in German")],
                      suggestion="The government presented the new energy law yesterday."),
             sentence("It should the costs for households lower.", 0.31,
                      spans=[("should the costs for households lower", "word_order", "'lower' belongs after 'should'")],
                      suggestion="It should lower costs for households.")],
            [sentence("Critics say that the plan is too expensive and too expensive.", 0.38,
                      spans=[("too expensive and too expensive", "repetition", "'too expensive' twice within 4 words"),
                             ("expensive and too", "low_probability", "surprisal 9.1 bits/token, 3x the article mean")]),
             sentence("The minister Müller rejected this.", 0.74),
             sentence("Sie sagte, die Reform sei dringend notwendig.", 0.04, mt=math.nan,
                      spans=[("Sie sagte, die Reform sei dringend notwendig.", "untranslated", "German (language id 0.98)")])],
            [sentence("The vote in the Bundestag is planned for next week.", 0.91),
             sentence("Experts expect a narrow majority.", 0.86)],
        ]},
        {"id": "fr-blog-0007", "origin": "blog_fr.txt", "paragraphs": [
            [sentence("It is raining ropes since this morning on Paris.", 0.41,
                      spans=[("raining ropes", "literal", "French 'il pleut des cordes': 'it is pouring'"),
                             ("since this morning", "agreement", "tense: 'has been raining since'")]),
             sentence("The tourists has taken refuge in the cafés.", 0.47,
                      spans=[("tourists has", "agreement", "plural subject, singular verb")])],
            [sentence("The terraces are empty, the waiters are bored.", 0.83),
             sentence("One says that the sun will return tomorrow.", 0.66)],
        ]},
        {"id": XSS_ID, "origin": XSS_IMG, "evidence": XSS_EVIDENCE, "paragraphs": [
            [sentence(f"The page showed {XSS_SCRIPT} as plain text.", 0.12,
                      spans=[(XSS_SCRIPT, "low_probability", XSS_NOTE)]),
             sentence(f"Also this attribute breaker {XSS_IMG} stays text.", 0.18,
                      spans=[(XSS_IMG, "low_probability", "an image tag in prose")])],
            [sentence("Everything else in this article is harmless.", 0.9)],
        ]},
        # mostly German: not English, so no MT probability and kept out of the MT ranking
        {"id": "de-raw-0003", "origin": "news_de.jsonl:row 3", "paragraphs": [
            [sentence("Der Bundestag hat das Gesetz gestern beschlossen.", 0.08, mt=math.nan,
                      spans=[("Der Bundestag hat das Gesetz gestern beschlossen.", "untranslated", "German")]),
             sentence("Die Opposition stimmte dagegen.", 0.1, mt=math.nan,
                      spans=[("Die Opposition stimmte dagegen.", "untranslated", "German")]),
             sentence("The vote was close.", 0.88)],
        ]},
    ]
    if not hostile:
        arts = [a for a in arts if a["id"] != XSS_ID]
    words = ("The committee has the report on Tuesday published. Prices rose again in the spring. "
             "According to the police was nobody injured. The mayor thanked the volunteers for their help. "
             "The new bridge should in two years finished be. Many residents are with the decision unhappy. "
             "The weather remains sunny and warm. The school will next month its doors open.").split(". ")
    for k in range(9):
        paras = []
        for _p in range(rng.randint(2, 3)):
            sents = []
            for _s in range(rng.randint(2, 4)):
                t = rng.choice(words).rstrip(".") + "."
                q = round(min(1.0, max(0.0, rng.gauss(0.7, 0.2))), 3)
                spans = []
                if "should in two years finished be" in t:
                    spans = [("should in two years finished be", "word_order", "verb cluster at clause end")]
                    q = min(q, 0.35)
                elif "was nobody injured" in t:
                    spans = [("was nobody injured", "word_order", "inverted subject and verb after an adverbial")]
                    q = min(q, 0.5)
                elif "are with the decision unhappy" in t:
                    spans = [("with the decision unhappy", "word_order", "adjective placed after its complement")]
                    q = min(q, 0.45)
                sents.append(sentence(t, q, spans=spans))
            paras.append(sents)
        arts.append({"id": f"es-wire-{k:04d}", "origin": f"wire_es.jsonl:row {k}", "paragraphs": paras})
    return arts


def build_job(out: Path, articles: list[dict], labels: dict | None = None, mt: bool = True) -> Path:
    """Write OUT/sentences, OUT/articles and OUT/run.json for ``articles`` (see ``sample_articles``).

    ``mt=False`` leaves out the detector's columns (an output of an mtqa without it). An
    article spec may set ``evidence`` (its mt_evidence) instead of the generated one.
    """
    import datasets

    s_rows, a_rows = [], []
    for art in articles:
        text, rows, sid = "", [], 0
        for p, para in enumerate(art["paragraphs"]):
            if p:
                text += "\n\n"
            for j, sent in enumerate(para):
                if j:
                    text += " "
                start = len(text)
                text += sent["text"]
                spans = []
                for sub, label, note in sent["spans"]:
                    at = sent["text"].index(sub)
                    spans.append({"start": start + at, "end": start + at + len(sub), "label": label,
                                  "score": 0.9, "note": note})
                q = sent["quality"]
                rows.append({
                    "article_id": art["id"], "sentence_id": sid, "paragraph_id": p, "start": start,
                    "end": len(text), "text": sent["text"], "quality": q,
                    "flags": list(dict.fromkeys(s["label"] for s in spans)), "spans": spans,
                    "surprisal_mean": None if q is None else round(4 + 6 * (1 - q), 3),
                    "slor": None if q is None else round(3 * q - 0.5, 3),
                    "word_order_suggestion": sent["suggestion"],
                })
                if mt:
                    given = sent.get("mt")
                    rows[-1]["mt_probability"] = default_mt(q, len(rows[-1]["flags"])) if given is None else given
                sid += 1
        s_rows.extend(rows)
        qs = [r["quality"] for r in rows if r["quality"] is not None]
        worst = min(rows, key=lambda r: r["quality"] if r["quality"] is not None else 2.0)
        a_rows.append({
            "article_id": art["id"], "origin": art["origin"], "n_sentences": len(rows),
            "quality": round(sum(qs) / len(qs), 4), "flagged_share": sum(bool(r["flags"]) for r in rows) / len(rows),
            "worst_sentence_id": worst["sentence_id"], "text": text,
        })
        if mt:
            english = sum(not math.isnan(r["mt_probability"]) for r in rows)
            language = "en" if english * 2 >= len(rows) else "not-en"
            a_rows[-1]["language"] = language
            if language == "en":
                a_rows[-1]["mt_probability"] = article_mt([r["mt_probability"] for r in rows])
                a_rows[-1]["mt_evidence"] = art.get("evidence") or article_evidence(rows)
            else:
                a_rows[-1]["mt_probability"] = math.nan
                a_rows[-1]["mt_evidence"] = (f"{len(rows) - english} of {len(rows)} sentences are not English: "
                                             "not judged as machine-translated English")
    for table, name in ((s_rows, "sentences"), (a_rows, "articles")):
        ds = datasets.Dataset.from_list(table)
        if mt:  # as the writer stores it: float32, NaN (not null) where there is no probability
            ds = ds.cast_column("mt_probability", datasets.Value("float32"))
        ds.save_to_disk(str(out / name))
    write_run(out, labels if labels is not None else LABELS, n_articles=len(a_rows), n_sentences=len(s_rows))
    return out


def write_run(out: Path, labels: dict, n_articles: int, n_sentences: int) -> None:
    run = {
        "mtqa_version": "0.1.0", "signature": "mtqa:0.1.0|model=gemma3-270m-q4|fluency:1|word_order:2",
        "config": {"model": "gemma3-270m-q4", "batch_size": 16, "signals": ["fluency", "word_order", "repetition"]},
        "inputs": ["news_de.jsonl", "blog_fr.txt", "wire_es.jsonl"],
        "counts": {"articles": n_articles, "sentences": n_sentences},
        "timings": {"total_s": 12.5}, "labels": labels,
    }
    (out / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")


def build_synthetic(out: Path, n_articles: int, per_article: int = 5, mt: bool = False) -> Path:
    """A large job with small texts, written column-wise (fast).

    ``mt=True`` adds the detector's columns: random sentence probabilities, every 10th article
    not English (its sentences and the article NaN, ``language`` "not-en").
    """
    import datasets

    rng = random.Random(1)
    s_cols = {k: [] for k in ("article_id", "sentence_id", "paragraph_id", "start", "end", "text", "quality",
                              "flags", "spans", "surprisal_mean")}
    a_cols = {k: [] for k in ("article_id", "origin", "n_sentences", "quality", "flagged_share",
                              "worst_sentence_id", "text")}
    if mt:
        s_cols["mt_probability"] = []
        a_cols.update(mt_probability=[], mt_evidence=[], language=[])
    for a in range(n_articles):
        aid = f"art-{a:05d}"
        text, qs, flagged = "", [], 0
        english = not mt or a % 10 != 9
        for s in range(per_article):
            if s:
                text += " "
            start = len(text)
            body = f"Sentence {s} of article {a} says little."
            text += body
            q = rng.random()
            fl = ["low_probability"] if q < 0.2 else []
            flagged += bool(fl)
            qs.append(q)
            for k, v in (("article_id", aid), ("sentence_id", s), ("paragraph_id", 0), ("start", start),
                         ("end", len(text)), ("text", body), ("quality", q), ("flags", fl),
                         ("spans", [{"start": start, "end": start + 8, "label": "low_probability", "score": 0.5,
                                     "note": ""}] if fl else []),
                         ("surprisal_mean", 5.0)):
                s_cols[k].append(v)
            if mt:
                s_cols["mt_probability"].append(rng.random() if english else math.nan)
        for k, v in (("article_id", aid), ("origin", f"big.jsonl:row {a}"), ("n_sentences", per_article),
                     ("quality", sum(qs) / len(qs)), ("flagged_share", flagged / per_article),
                     ("worst_sentence_id", qs.index(min(qs))), ("text", text)):
            a_cols[k].append(v)
        if mt:
            ps = s_cols["mt_probability"][-per_article:]
            a_cols["mt_probability"].append(article_mt(ps) if english else math.nan)
            a_cols["language"].append("en" if english else "not-en")
            a_cols["mt_evidence"].append(f"{sum(p > 0.5 for p in ps)} of {per_article} English sentences look "
                                         "machine-made (p > 0.5)" if english else
                                         f"{per_article} of {per_article} sentences are not English")
    features = datasets.Features({
        "article_id": datasets.Value("string"), "sentence_id": datasets.Value("int32"),
        "paragraph_id": datasets.Value("int32"), "start": datasets.Value("int32"), "end": datasets.Value("int32"),
        "text": datasets.Value("string"), "quality": datasets.Value("float32"),
        "flags": datasets.Sequence(datasets.Value("string")),
        "spans": [{"start": datasets.Value("int32"), "end": datasets.Value("int32"), "label": datasets.Value("string"),
                   "score": datasets.Value("float32"), "note": datasets.Value("string")}],
        "surprisal_mean": datasets.Value("float32"),
        **({"mt_probability": datasets.Value("float32")} if mt else {}),
    })
    datasets.Dataset.from_dict(s_cols, features=features).save_to_disk(str(out / "sentences"))
    articles = datasets.Dataset.from_dict(a_cols)
    if mt:
        articles = articles.cast_column("mt_probability", datasets.Value("float32"))
    articles.save_to_disk(str(out / "articles"))
    write_run(out, {"low_probability": LABELS["low_probability"]}, n_articles, n_articles * per_article)
    return out


@pytest.fixture(scope="session")
def sample_job(tmp_path_factory) -> Path:
    return build_job(tmp_path_factory.mktemp("job"), sample_articles())


@pytest.fixture(scope="session")
def old_job(tmp_path_factory) -> Path:
    """The sample job as an mtqa without the MT detector wrote it: no mt_probability, mt_evidence, language."""
    return build_job(tmp_path_factory.mktemp("oldjob"), sample_articles(), mt=False)


@pytest.fixture(scope="session")
def big_job(tmp_path_factory) -> Path:
    """A large job without the detector's columns (ranked by quality)."""
    return build_synthetic(tmp_path_factory.mktemp("bigjob"), 1000)


@pytest.fixture(scope="session")
def big_mt_job(tmp_path_factory) -> Path:
    """A large job with the detector's columns, a tenth of its articles not English."""
    return build_synthetic(tmp_path_factory.mktemp("bigmtjob"), 400, mt=True)
