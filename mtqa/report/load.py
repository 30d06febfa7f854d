"""Read a scored output folder into what the report shows, and no more.

Only a few columns of the whole job are read in full (``quality`` and ``flags`` of every
sentence, the small per-article columns); everything else is read for the rows the page
shows: the worst ``max_articles`` articles (text, sentences, spans) and the worst
``max_sentences`` sentences. The datasets are memory-mapped Arrow tables, so a column read
touches only that column.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtqa.errors import MtqaError

#: sentence columns that are not "signals" (the numeric columns shown in the table; string
#: columns such as the suggestion are never shown there)
_STRUCTURAL = {"article_id", "sentence_id", "paragraph_id", "start", "end", "text", "quality", "flags", "spans"}
#: the string column holding a better-ordered rewrite of a flagged sentence (the word-order
#: signal's); the article view lists these under "Suggested word order"
SUGGESTION_COLUMN = "word_order_suggestion"
#: how many numeric signal columns the sentence table shows at most
MAX_SIGNAL_COLUMNS = 6
HISTOGRAM_BINS = 20


@dataclass
class SpanHit:
    start: int
    end: int
    label: str
    score: float | None
    note: str


@dataclass
class SentenceRow:
    article_id: str
    sentence_id: int
    quality: float  # nan when missing
    flags: list[str]
    text: str = ""
    paragraph_id: int = 0
    start: int = 0
    end: int = 0
    spans: list[SpanHit] = field(default_factory=list)
    suggestion: str | None = None
    signals: dict[str, float] = field(default_factory=dict)


@dataclass
class ArticleRow:
    article_id: str
    origin: str
    n_sentences: int
    quality: float  # nan when missing
    flagged_share: float
    worst_sentence_id: int | None
    text: str = ""
    sentences: list[SentenceRow] = field(default_factory=list)


@dataclass
class ReportData:
    out_dir: Path
    run: dict[str, Any]
    labels: dict[str, str]
    n_articles: int
    n_sentences: int
    #: the worst ``max_articles`` articles, worst first, with text and sentences
    articles: list[ArticleRow]
    #: the worst ``max_sentences`` sentences, worst first
    table: list[SentenceRow]
    signal_columns: list[str]
    histogram: list[int]
    n_scored: int  # sentences with a quality value
    mean_quality: float
    n_flagged: int  # sentences with at least one flag
    flag_counts: dict[str, int]  # label -> sentences carrying it, most frequent first
    article_histogram: list[int]  # article quality, HISTOGRAM_BINS bins over [0, 1]
    mean_article_quality: float


def _f(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x


def _order_worst_first(quality: np.ndarray) -> np.ndarray:
    """Indices sorted by quality ascending, missing values last, ties in input order."""
    key = np.where(np.isnan(quality), np.inf, quality)
    return np.argsort(key, kind="stable")


def _load_dataset(path: Path, what: str):
    import datasets

    if not path.is_dir():
        raise MtqaError(f"{path.parent} is not a scored output folder (no {what}/ dataset); run `mtqa score` first")
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - any load failure is the user's folder
        raise MtqaError(f"cannot read {path} (empty or damaged dataset?): {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if isinstance(ds, datasets.DatasetDict):
        raise MtqaError(f"{path} holds a DatasetDict, expected a single dataset")
    return ds


def _require(ds, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise MtqaError(f"{path} lacks column(s) {', '.join(missing)}; is this a mtqa output folder?")


def _numeric_signal_columns(ds) -> list[str]:
    import datasets

    out = []
    for name, feature in ds.features.items():
        if name in _STRUCTURAL or not isinstance(feature, datasets.Value):
            continue
        if feature.dtype.startswith(("float", "int", "uint")):
            out.append(name)
    return out[:MAX_SIGNAL_COLUMNS]


def _quality_array(table) -> np.ndarray:
    import pyarrow.compute as pc

    col = table.column("quality")
    col = pc.cast(col, "float64")
    return np.asarray(pc.fill_null(col, math.nan).to_numpy(zero_copy_only=False), dtype=float)


def read_run(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "run.json"
    if not path.is_file():
        return {}
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MtqaError(f"cannot read {path}: {exc}") from exc
    return run if isinstance(run, dict) else {}


def _spans(raw: Any) -> list[SpanHit]:
    out = []
    for s in raw or []:
        if not isinstance(s, dict):
            continue
        try:
            start, end = int(s.get("start")), int(s.get("end"))
        except (TypeError, ValueError):
            continue
        score = s.get("score")
        out.append(SpanHit(start, end, str(s.get("label") or "flag"), None if score is None else _f(score),
                           str(s.get("note") or "")))
    return out


def load(out_dir: str | Path, max_articles: int = 50, max_sentences: int = 2000) -> ReportData:
    import pyarrow.compute as pc

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise MtqaError(f"{out_dir} is not a folder")
    sent_path, art_path = out_dir / "sentences", out_dir / "articles"
    sentences = _load_dataset(sent_path, "sentences")
    articles = _load_dataset(art_path, "articles")
    _require(sentences, ["article_id", "sentence_id", "quality", "flags"], sent_path)
    _require(articles, ["article_id", "quality"], art_path)
    run = read_run(out_dir)
    labels = run.get("labels") if isinstance(run.get("labels"), dict) else {}
    labels = {str(k): str(v) for k, v in labels.items()}

    # --- articles: the small columns of all, the text of the worst few
    small = [c for c in ("article_id", "origin", "n_sentences", "quality", "flagged_share", "worst_sentence_id")
             if c in articles.column_names]
    a_table = articles.select_columns(small).with_format("arrow")[:]
    a_quality = _quality_array(a_table)
    a_scored = a_quality[~np.isnan(a_quality)]
    a_hist, _ = np.histogram(np.clip(a_scored, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    a_order = _order_worst_first(a_quality)[: max(0, max_articles)]
    a_rows = a_table.take(a_order).to_pylist() if len(a_order) else []
    texts = (articles.select_columns(["text"]).with_format("arrow")[sorted(a_order.tolist())].column("text").to_pylist()
             if len(a_order) and "text" in articles.column_names else [])
    text_by_index = dict(zip(sorted(a_order.tolist()), texts))
    shown: list[ArticleRow] = []
    for idx, row in zip(a_order.tolist(), a_rows):
        worst = row.get("worst_sentence_id")
        shown.append(ArticleRow(
            article_id=str(row.get("article_id")),
            origin=str(row.get("origin") or ""),
            n_sentences=int(row.get("n_sentences") or 0),
            quality=_f(row.get("quality")),
            flagged_share=_f(row.get("flagged_share")),
            worst_sentence_id=None if worst is None else int(worst),
            text=str(text_by_index.get(idx) or ""),
        ))

    # --- sentences: quality and flags of all
    s_cols = sentences.select_columns(["article_id", "quality", "flags"]).with_format("arrow")[:]
    s_quality = _quality_array(s_cols)
    scored = s_quality[~np.isnan(s_quality)]
    hist, _ = np.histogram(np.clip(scored, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    flags = s_cols.column("flags")
    n_flagged = int(pc.sum(pc.greater(pc.fill_null(pc.list_value_length(flags), 0), 0)).as_py() or 0)
    flag_counts: dict[str, int] = {}
    if len(flags):
        # count a label once per sentence even if a signal repeats it
        import pyarrow as pa

        pairs = pa.table({"row": pc.list_parent_indices(flags), "label": pc.list_flatten(flags)})
        unique = pairs.group_by(["row", "label"]).aggregate([])
        for entry in pc.value_counts(unique.column("label")).to_pylist():
            if entry["values"] is not None:
                flag_counts[str(entry["values"])] = int(entry["counts"])
    flag_counts = dict(sorted(flag_counts.items(), key=lambda kv: (-kv[1], kv[0])))

    signal_columns = _numeric_signal_columns(sentences)
    has_sugg = SUGGESTION_COLUMN in sentences.column_names
    has_spans = "spans" in sentences.column_names
    has_offsets = all(c in sentences.column_names for c in ("start", "end"))

    def rows_at(indices: list[int], columns: list[str]) -> list[dict]:
        if not indices:
            return []
        columns = [c for c in dict.fromkeys(columns) if c in sentences.column_names]
        return sentences.select_columns(columns).with_format("arrow")[indices].to_pylist()

    def make_row(r: dict) -> SentenceRow:
        return SentenceRow(
            article_id=str(r.get("article_id")),
            sentence_id=int(r.get("sentence_id") or 0),
            quality=_f(r.get("quality")),
            flags=[str(f) for f in (r.get("flags") or [])],
            text=str(r.get("text") or ""),
            paragraph_id=int(r.get("paragraph_id") or 0),
            start=int(r.get("start") or 0),
            end=int(r.get("end") or 0),
            spans=_spans(r.get("spans")),
            suggestion=(str(r[SUGGESTION_COLUMN]) if r.get(SUGGESTION_COLUMN) else None),
            signals={c: _f(r.get(c)) for c in signal_columns},
        )

    # --- the sentence table: worst M sentences
    t_order = _order_worst_first(s_quality)[: max(0, max_sentences)].tolist()
    t_rows = rows_at(sorted(t_order), ["article_id", "sentence_id", "quality", "flags", "text", *signal_columns])
    by_index = dict(zip(sorted(t_order), t_rows))
    table = [make_row(by_index[i]) for i in t_order]

    # --- the sentences of the shown articles
    if shown:
        import pyarrow as pa

        ids = pa.array([a.article_id for a in shown], type=pa.string())
        mask = pc.is_in(pc.cast(s_cols.column("article_id"), pa.string()), value_set=ids)
        idx = np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))).tolist()
        cols = ["article_id", "sentence_id", "paragraph_id", "start", "end", "quality", "flags", "text"]
        if has_spans:
            cols.append("spans")
        if has_sugg:
            cols.append(SUGGESTION_COLUMN)
        by_article: dict[str, list[SentenceRow]] = {}
        for r in rows_at(idx, cols):
            row = make_row(r)
            if not has_offsets:
                row.start, row.end = -1, -1
            by_article.setdefault(row.article_id, []).append(row)
        for art in shown:
            art.sentences = sorted(by_article.get(art.article_id, []), key=lambda s: (s.start, s.sentence_id))

    return ReportData(
        out_dir=out_dir,
        run=run,
        labels=labels,
        n_articles=len(articles),
        n_sentences=len(sentences),
        articles=shown,
        table=table,
        signal_columns=signal_columns,
        histogram=[int(x) for x in hist],
        n_scored=int(scored.size),
        mean_quality=float(scored.mean()) if scored.size else math.nan,
        n_flagged=n_flagged,
        flag_counts=flag_counts,
        article_histogram=[int(x) for x in a_hist],
        mean_article_quality=float(a_scored.mean()) if a_scored.size else math.nan,
    )
