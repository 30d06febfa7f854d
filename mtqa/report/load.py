"""Read a scored output folder into what the report shows, and no more.

Only a few columns of the whole job are read in full (``quality``, ``mt_probability`` and
``flags`` of every sentence, the small per-article columns); everything else is read for the
rows the page shows: the first ``max_articles`` articles of the ranking (text, sentences,
spans) and the first ``max_sentences`` sentences. The datasets are memory-mapped Arrow
tables, so a column read touches only that column.

The ranking answers *does this look machine-translated?*: articles and sentences by
``mt_probability``, highest first. Those without one (an article that is not English, a
sentence flagged ``not_english``) come after every ranked one: non-English text is not
machine-translated English, so it is kept out of the MT ranking, not ranked at 0. Outputs
written before the detector (no ``mt_probability`` column) are ranked by quality, worst
first, as before.
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
#: columns such as a suggestion are never shown there)
_STRUCTURAL = {"article_id", "sentence_id", "paragraph_id", "start", "end", "text", "quality", "flags", "spans",
               "mt_probability"}
#: the detector's columns (issue 12): sentence and article probability that the text is machine-made
MT_COLUMN = "mt_probability"
#: articles.language for an article mostly not in English (no mt_probability)
NOT_ENGLISH = "not-en"
#: the column role (``mtqa.signals.base.Column.role``) of a rewrite of a flagged sentence (the
#: word-order signal declares one); the article view lists these under the sentence
SUGGESTION_ROLE = "suggestion"
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
    mt_probability: float = math.nan  # nan: not English, nothing scored, or an output without the column


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
    mt_probability: float = math.nan  # nan: not English, no sentence, or an output without the column
    mt_evidence: str = ""
    language: str = ""  # "en", "not-en", "" (no sentence, or an output without the column)

    @property
    def not_english(self) -> bool:
        return self.language == NOT_ENGLISH


@dataclass
class ReportData:
    out_dir: Path
    run: dict[str, Any]
    labels: dict[str, str]
    n_articles: int
    n_sentences: int
    #: the first ``max_articles`` articles of the ranking (see ``by_mt``), with text and sentences
    articles: list[ArticleRow]
    #: the first ``max_sentences`` sentences of the ranking
    table: list[SentenceRow]
    signal_columns: list[str]
    histogram: list[int]
    n_scored: int  # sentences with a quality value
    mean_quality: float
    n_flagged: int  # sentences with at least one flag
    flag_counts: dict[str, int]  # label -> sentences carrying it, most frequent first
    article_histogram: list[int]  # article quality, HISTOGRAM_BINS bins over [0, 1]
    mean_article_quality: float
    #: ranked by mt_probability (the output has the column), else by quality (older outputs)
    by_mt: bool = False
    #: the sentences have mt_probability (the table shows it, the article views can shade by it)
    sentence_mt: bool = False
    mt_histogram: list[int] = field(default_factory=list)  # article mt_probability, English articles only
    mean_article_mt: float = math.nan
    n_mt_articles: int = 0  # articles with an mt_probability
    n_likely_mt: int = 0  # ... above MT_THRESHOLD
    n_not_english: int = 0  # articles with language "not-en"


def _f(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x


#: an article or sentence "looks machine-made" above this probability
MT_THRESHOLD = 0.5


def _order_worst_first(quality: np.ndarray) -> np.ndarray:
    """Indices sorted by quality ascending, missing values last, ties in input order."""
    key = np.where(np.isnan(quality), np.inf, quality)
    return np.argsort(key, kind="stable")


def _order_most_mt_first(mt: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices by mt_probability descending, then quality ascending; missing values last in both."""
    key1 = np.where(np.isnan(mt), np.inf, -mt)
    key2 = np.where(np.isnan(quality), np.inf, quality)
    return np.lexsort((np.arange(len(mt)), key2, key1))


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


def _suggestion_columns(ds) -> list[str]:
    """The sentence columns some signal declares with the role ``suggestion``, in the dataset's order.

    Found from the signals' own declarations (:mod:`mtqa.signals.registry`), not by name, so a
    new signal's suggestion column is shown without changing the report. Only string columns
    are candidates, and the registry is consulted only when there is one: an output without
    any (e.g. scored with the word-order signal off) loads no signal code.
    """
    import datasets

    candidates = [name for name, f in ds.features.items()
                  if name not in _STRUCTURAL and isinstance(f, datasets.Value) and f.dtype in ("string", "large_string")]
    if not candidates:
        return []
    from mtqa.signals.registry import columns_with_role

    declared = set(columns_with_role(SUGGESTION_ROLE))
    return [c for c in candidates if c in declared]


def _quality_array(table, name: str = "quality") -> np.ndarray:
    import pyarrow.compute as pc

    col = table.column(name)
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
    by_mt = MT_COLUMN in articles.column_names
    small = [c for c in ("article_id", "origin", "n_sentences", "quality", "flagged_share", "worst_sentence_id",
                         MT_COLUMN, "language") if c in articles.column_names]
    a_table = articles.select_columns(small).with_format("arrow")[:]
    a_quality = _quality_array(a_table)
    a_scored = a_quality[~np.isnan(a_quality)]
    a_hist, _ = np.histogram(np.clip(a_scored, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    a_mt = _quality_array(a_table, MT_COLUMN) if by_mt else np.full(len(a_quality), np.nan)
    a_mt_scored = a_mt[~np.isnan(a_mt)]
    mt_hist, _ = np.histogram(np.clip(a_mt_scored, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    n_not_english = 0
    if "language" in a_table.column_names:
        n_not_english = int(pc.sum(pc.equal(pc.cast(a_table.column("language"), "string"), NOT_ENGLISH)).as_py() or 0)
    a_order = (_order_most_mt_first(a_mt, a_quality) if by_mt else _order_worst_first(a_quality))[: max(0, max_articles)]
    a_rows = a_table.take(a_order).to_pylist() if len(a_order) else []
    extra = [c for c in ("text", "mt_evidence") if c in articles.column_names]
    fetched = (articles.select_columns(extra).with_format("arrow")[sorted(a_order.tolist())].to_pylist()
               if len(a_order) and extra else [])
    text_by_index = dict(zip(sorted(a_order.tolist()), fetched))
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
            text=str(text_by_index.get(idx, {}).get("text") or ""),
            mt_probability=_f(row.get(MT_COLUMN)),
            mt_evidence=str(text_by_index.get(idx, {}).get("mt_evidence") or ""),
            language=str(row.get("language") or ""),
        ))

    # --- sentences: quality, mt_probability and flags of all
    sentence_mt = MT_COLUMN in sentences.column_names
    s_cols = sentences.select_columns(["article_id", "quality", "flags", *([MT_COLUMN] if sentence_mt else [])]
                                      ).with_format("arrow")[:]
    s_quality = _quality_array(s_cols)
    s_mt = _quality_array(s_cols, MT_COLUMN) if sentence_mt else np.full(len(s_quality), np.nan)
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
    suggestion_columns = _suggestion_columns(sentences)
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
            suggestion=next((str(r[c]) for c in suggestion_columns if r.get(c)), None),
            signals={c: _f(r.get(c)) for c in signal_columns},
            mt_probability=_f(r.get(MT_COLUMN)),
        )

    # --- the sentence table: the first M sentences of the ranking
    t_order = (_order_most_mt_first(s_mt, s_quality) if sentence_mt else _order_worst_first(s_quality))
    t_order = t_order[: max(0, max_sentences)].tolist()
    t_rows = rows_at(sorted(t_order), ["article_id", "sentence_id", "quality", "flags", "text", MT_COLUMN,
                                       *signal_columns])
    by_index = dict(zip(sorted(t_order), t_rows))
    table = [make_row(by_index[i]) for i in t_order]

    # --- the sentences of the shown articles
    if shown:
        import pyarrow as pa

        ids = pa.array([a.article_id for a in shown], type=pa.string())
        mask = pc.is_in(pc.cast(s_cols.column("article_id"), pa.string()), value_set=ids)
        idx = np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))).tolist()
        cols = ["article_id", "sentence_id", "paragraph_id", "start", "end", "quality", "flags", "text", MT_COLUMN]
        if has_spans:
            cols.append("spans")
        cols += suggestion_columns
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
        by_mt=by_mt,
        sentence_mt=sentence_mt,
        mt_histogram=[int(x) for x in mt_hist],
        mean_article_mt=float(a_mt_scored.mean()) if a_mt_scored.size else math.nan,
        n_mt_articles=int(a_mt_scored.size),
        n_likely_mt=int((a_mt_scored > MT_THRESHOLD).sum()),
        n_not_english=n_not_english,
    )
