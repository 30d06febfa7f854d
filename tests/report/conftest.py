"""Fixture builders: scored output folders written directly (no scoring pipeline involved)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

XSS_SCRIPT = "<script>window.__pwned=1</script>"
XSS_IMG = '"><img src=x onerror="window.__pwned=2">'
XSS_NOTE = '"><script>window.__pwned=3</script>'
XSS_ID = '"><svg onload="window.__pwned=4">'

LABELS = {
    "word_order": "Words appear in an order unusual for English (often the source language's order).",
    "repetition": "A word or phrase is repeated in close succession.",
    "untranslated": "The text is not in English: the source was left untranslated.",
    "low_probability": "The language model finds this stretch very unlikely.",
    "agreement": "Subject and verb (or article and noun) do not agree.",
    "literal": "A word-for-word rendering of an idiom.",
}


def sentence(text, quality, *, spans=(), suggestion=None):
    """A sentence spec: spans are (substring, label, note) located within the sentence text."""
    return {"text": text, "quality": quality, "spans": list(spans), "suggestion": suggestion}


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
             sentence("Sie sagte, die Reform sei dringend notwendig.", 0.04,
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
        {"id": XSS_ID, "origin": XSS_IMG, "paragraphs": [
            [sentence(f"The page showed {XSS_SCRIPT} as plain text.", 0.12,
                      spans=[(XSS_SCRIPT, "low_probability", XSS_NOTE)]),
             sentence(f"Also this attribute breaker {XSS_IMG} stays text.", 0.18,
                      spans=[(XSS_IMG, "low_probability", "an image tag in prose")])],
            [sentence("Everything else in this article is harmless.", 0.9)],
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


def build_job(out: Path, articles: list[dict], labels: dict | None = None) -> Path:
    """Write OUT/sentences, OUT/articles and OUT/run.json for ``articles`` (see ``sample_articles``)."""
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
                sid += 1
        s_rows.extend(rows)
        qs = [r["quality"] for r in rows if r["quality"] is not None]
        worst = min(rows, key=lambda r: r["quality"] if r["quality"] is not None else 2.0)
        a_rows.append({
            "article_id": art["id"], "origin": art["origin"], "n_sentences": len(rows),
            "quality": round(sum(qs) / len(qs), 4), "flagged_share": sum(bool(r["flags"]) for r in rows) / len(rows),
            "worst_sentence_id": worst["sentence_id"], "text": text,
        })
    datasets.Dataset.from_list(s_rows).save_to_disk(str(out / "sentences"))
    datasets.Dataset.from_list(a_rows).save_to_disk(str(out / "articles"))
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


def build_synthetic(out: Path, n_articles: int, per_article: int = 5) -> Path:
    """A large job with small texts, written column-wise (fast)."""
    import datasets

    rng = random.Random(1)
    s_cols = {k: [] for k in ("article_id", "sentence_id", "paragraph_id", "start", "end", "text", "quality",
                              "flags", "spans", "surprisal_mean")}
    a_cols = {k: [] for k in ("article_id", "origin", "n_sentences", "quality", "flagged_share",
                              "worst_sentence_id", "text")}
    for a in range(n_articles):
        aid = f"art-{a:05d}"
        text, qs, flagged = "", [], 0
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
        for k, v in (("article_id", aid), ("origin", f"big.jsonl:row {a}"), ("n_sentences", per_article),
                     ("quality", sum(qs) / len(qs)), ("flagged_share", flagged / per_article),
                     ("worst_sentence_id", qs.index(min(qs))), ("text", text)):
            a_cols[k].append(v)
    features = datasets.Features({
        "article_id": datasets.Value("string"), "sentence_id": datasets.Value("int32"),
        "paragraph_id": datasets.Value("int32"), "start": datasets.Value("int32"), "end": datasets.Value("int32"),
        "text": datasets.Value("string"), "quality": datasets.Value("float32"),
        "flags": datasets.Sequence(datasets.Value("string")),
        "spans": [{"start": datasets.Value("int32"), "end": datasets.Value("int32"), "label": datasets.Value("string"),
                   "score": datasets.Value("float32"), "note": datasets.Value("string")}],
        "surprisal_mean": datasets.Value("float32"),
    })
    datasets.Dataset.from_dict(s_cols, features=features).save_to_disk(str(out / "sentences"))
    datasets.Dataset.from_dict(a_cols).save_to_disk(str(out / "articles"))
    write_run(out, {"low_probability": LABELS["low_probability"]}, n_articles, n_articles * per_article)
    return out


@pytest.fixture(scope="session")
def sample_job(tmp_path_factory) -> Path:
    return build_job(tmp_path_factory.mktemp("job"), sample_articles())


@pytest.fixture(scope="session")
def big_job(tmp_path_factory) -> Path:
    return build_synthetic(tmp_path_factory.mktemp("bigjob"), 1000)
