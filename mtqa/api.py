"""The in-memory API: score texts from Python, no files written.

    import mtqa

    scorer = mtqa.load(unit="segment", model={"dtype": "float32"})   # loads the model once
    result = scorer.score(["The council met on Monday.", {"id": "a2", "text": "...", "source": "..."}])
    result.sentences, result.articles                                # datasets.Dataset
    scorer.signature                                                 # the run signature

``load`` takes the settings of a job config (:class:`mtqa.config.JobConfig`, same names,
same defaults; nested ones as dicts). The result's datasets have exactly the columns,
types and values that ``mtqa score`` writes to ``OUT/sentences`` and ``OUT/articles`` for
the same input: items are scored in chunks of ``articles_per_chunk`` like the pipeline (the
LM cache is cleared per chunk, so the numbers depend on the chunk alone and match a CLI
run with the same chunking; it also keeps the model's working memory bounded).

Items are strings or dicts (keys from ``columns``: ``text``, optional ``id``, ``source``,
``reference``; plus an optional ``origin``, what the ``origin`` column says, default
``item N``; other keys are ignored, so rows of a dataset can be passed as they are):

* the article id is the item's ``id`` (as a string), else its 0-based position in
  ``items`` as a string; a duplicate id is an :class:`mtqa.errors.InputError` (raised);
* an item whose text is empty, blank or None yields no rows (like an empty row or file
  in ``mtqa score``: reported, not fatal): its id is in ``result.skipped`` and the reason
  in ``result.errors``.

Inside ``datasets.Dataset.map(batched=True)`` use :meth:`QualityScorer.map_fn`, which
returns one value per input row (see there).

The same loaded scorer also streams files to an output folder, as ``mtqa score`` does
(:meth:`QualityScorer.score_files`): ``mtqa score`` itself is built on this module
(:func:`from_config`, then :meth:`QualityScorer.engine` under :func:`mtqa.pipeline.run_job`),
so the CLI and the API share one object and one code path per chunk.

Nothing here imports torch until :func:`load` runs: ``import mtqa`` stays cheap.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from mtqa.errors import ConfigError, InputError, MtqaError
from mtqa.types import Article

if TYPE_CHECKING:
    import datasets

    from mtqa.config import JobConfig
    from mtqa.engines.local import LocalEngine
    from mtqa.pipeline import JobResult
    from mtqa.progress import ProgressCallback
    from mtqa.scorer import Scorer

#: job settings that mean nothing in memory (files, output, engines, terminal display)
JOB_ONLY = ("inputs", "output", "overwrite", "formats", "report", "engine", "ray", "num_shards", "shard_index",
            "prefetch", "progress", "summary_worst")
#: the job settings :meth:`QualityScorer.score_files` takes (the rest are fixed when the model loads)
FILE_SETTINGS = ("inputs", "output", "overwrite", "formats", "num_shards", "shard_index", "prefetch")

#: sentence columns that locate a row rather than score it (left out of map_fn's default)
_POSITION = ("article_id", "sentence_id", "paragraph_id", "start", "end", "text")

#: map_fn's default columns for ``unit: article`` (one article row per input row)
ARTICLE_MAP_COLUMNS = ("quality", "mt_probability", "mt_evidence", "language", "n_sentences", "flagged_share",
                       "worst_sentence_id")


@dataclass
class ScoreResult:
    """What :meth:`QualityScorer.score` returns: the two tables ``mtqa score`` writes, in memory."""

    #: one row per scored sentence (or segment), columns as in ``OUT/sentences``
    sentences: "datasets.Dataset"
    #: one row per scored item, in input order, columns as in ``OUT/articles``
    articles: "datasets.Dataset"
    #: ids of the items that had no text to score (no rows in either table)
    skipped: list[str] = field(default_factory=list)
    #: one InputError per skipped item, saying why
    errors: list[InputError] = field(default_factory=list)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def load(*, log: Callable[[str], None] | None = None, **settings: Any) -> "QualityScorer":
    """Load the model and signals once for the job settings ``settings`` (see :class:`mtqa.config.JobConfig`).

    Unknown keys and bad values are a :class:`mtqa.errors.ConfigError` (the same message as
    a bad YAML key), raised before the model loads; so are the settings that only make sense
    for a job on files (``inputs``, ``output``, ``engine``, ...). ``log`` receives the
    one-line messages of model loading (default: stderr).
    """
    from pydantic import ValidationError

    from mtqa.config import JobConfig, _describe

    job_only = sorted(k for k in settings if k in JOB_ONLY)
    if job_only:
        raise ConfigError(f"load(): {', '.join(job_only)} {'is a setting' if len(job_only) == 1 else 'are settings'} "
                          "for jobs on files (QualityScorer.score_files / mtqa score), not for scoring in memory")
    try:
        config = JobConfig.model_validate(settings)
    except ValidationError as exc:
        raise ConfigError(f"load(): {_describe(exc)}") from None
    return from_config(config, log=log)


def from_config(config: "JobConfig", *, log: Callable[[str], None] | None = None) -> "QualityScorer":
    """Load a scorer for a validated job config (what ``mtqa score`` does, after checking the job).

    Job-only settings (inputs, output, ...) are kept and ignored by :meth:`QualityScorer.score`;
    :meth:`QualityScorer.score_files` and :meth:`QualityScorer.engine` use them. ``engine: ray``
    is a job setting of ``mtqa score`` (Ray actors load their own models): refused here.
    """
    if config.engine != "local":
        raise ConfigError("engine: ray loads one model per Ray actor; run it with mtqa score or "
                          "mtqa.pipeline.run_job, not through a scorer loaded in this process")
    from mtqa.scorer import Scorer

    return QualityScorer(Scorer.build(config, log=log or _stderr))


class QualityScorer:
    """A loaded model with its signals and combiner; :func:`load` builds one. Reuse it: loading is the slow part."""

    def __init__(self, scorer: "Scorer"):
        self._scorer = scorer
        self.signature: str = scorer.signature()

    @property
    def config(self) -> "JobConfig":
        return self._scorer.config

    @property
    def columns(self) -> dict[str, str]:
        """The signal columns of the sentences table and what each means (as in run.json)."""
        return {c.name: c.doc for c in self._scorer.columns}

    def score(self, items: Iterable[str | Mapping[str, Any]]) -> ScoreResult:
        """Score ``items`` (strings or dicts, see the module docstring); return both tables."""
        from mtqa.segment import segment
        from mtqa.writers import ARTICLE_FEATURES, sentence_features

        articles, skipped, errors = self._articles(items)
        sent_features = sentence_features(self._scorer.columns)
        sent_tables, art_tables = [], []
        size = self.config.articles_per_chunk
        # chunked exactly as job_chunks does (blank items never reach a chunk, as blank rows
        # never leave the CLI's readers): same chunks, same numbers
        for at in range(0, len(articles), size):
            chunk = articles[at:at + size]
            for article in chunk:
                article.sentences = segment(article, self.config.unit)
                if not article.sentences:
                    skipped.append(article.article_id)
                    errors.append(InputError(article.origin, "no text to score after segmentation (skipped)"))
            chunk = [a for a in chunk if a.sentences]
            if not chunk:
                continue
            sentence_rows, article_rows = self._scorer.score_chunk(chunk)
            # Arrow per chunk, with the writers' schema: the same casts (float32, int32) as on disk
            sent_tables.append(sent_features.table(sentence_rows))
            art_tables.append(ARTICLE_FEATURES.table(article_rows))
        return ScoreResult(self._dataset(sent_tables, sent_features), self._dataset(art_tables, ARTICLE_FEATURES),
                           skipped, errors)

    def _dataset(self, tables: list, features) -> "datasets.Dataset":
        import datasets
        import pyarrow as pa

        table = pa.concat_tables(tables) if tables else features.arrow_schema.empty_table()
        # the run signature goes where the CLI's datasets keep it (info.description)
        return datasets.Dataset(table, info=datasets.DatasetInfo(features=features.features(), description=self.signature))

    def _articles(self, items: Iterable[str | Mapping[str, Any]]) -> tuple[list[Article], list[str], list[InputError]]:
        """Items -> Articles with unique ids; blank ones reported in (skipped, errors) instead."""
        if isinstance(items, (str, bytes, Mapping)):
            raise MtqaError("score() takes a list of items (strings or dicts); wrap a single text in a list")
        cols = self.config.columns
        articles: list[Article] = []
        skipped: list[str] = []
        errors: list[InputError] = []
        seen: dict[str, int] = {}
        for n, item in enumerate(items):
            if isinstance(item, str):
                item = {cols.text: item}
            elif not isinstance(item, Mapping):
                raise InputError(f"item {n}", f"must be a string or a dict with '{cols.text}', not {type(item).__name__}")
            elif cols.text not in item:
                raise InputError(f"item {n}", f"has no '{cols.text}' key (keys: {', '.join(map(str, item)) or 'none'})")
            raw_id = item.get(cols.id)
            article_id = str(raw_id) if raw_id not in (None, "") else str(n)
            if article_id in seen:
                raise InputError(f"item {n}", f"duplicate id {article_id!r} (first at item {seen[article_id]}); "
                                              "ids must be unique (an item without an id gets its position)")
            seen[article_id] = n
            origin = str(item.get("origin") or f"item {n}")
            text = item[cols.text]
            if text is not None and not isinstance(text, str):
                raise InputError(origin, f"'{cols.text}' must be a string, not {type(text).__name__}")
            if not text or not text.strip():
                skipped.append(article_id)
                errors.append(InputError(origin, f"'{cols.text}' is {'missing' if text is None else 'empty'}; "
                                                 "no sentences (skipped)"))
                continue
            articles.append(Article(article_id=article_id, text=text, origin=origin,
                                    source=_optional(item.get(cols.source)),
                                    reference=_optional(item.get(cols.reference))))
        return articles, skipped, errors

    def map_fn(self, text_column: str | None = None, *, source_column: str | None = None,
               reference_column: str | None = None, columns: Sequence[str] | None = None,
               prefix: str = "") -> Callable[[Mapping[str, list]], dict[str, list]]:
        """A function for ``Dataset.map(fn, batched=True)``: one value per input row and column.

        ``unit: segment``: each row is one segment, and the new columns come from its
        sentences-table row (default: ``quality``, ``mt_probability``, ``flags``, ``spans``
        and every signal column). ``unit: article``: each row is an article, and the columns
        come from its articles-table row (default: :data:`ARTICLE_MAP_COLUMNS`). A row with
        blank text gets None in every column. Column names default to ``columns`` of the
        job settings; ``prefix`` is put before each new column's name.

        Each batch is scored on its own, chunked by ``articles_per_chunk``: the numbers
        equal a ``mtqa score`` run over the same rows when the map's ``batch_size`` is a
        multiple of ``articles_per_chunk`` (the defaults, 1000 and 32, are not: pass e.g.
        ``batch_size=1024``; the difference is float rounding of batched passes).
        """
        cols = self.config.columns
        text_column = text_column or cols.text
        source_column = source_column or cols.source
        reference_column = reference_column or cols.reference
        segment_unit = self.config.unit == "segment"
        if columns is None:
            if segment_unit:
                names = ["quality", "mt_probability", "flags", "spans", *self.columns]
            else:
                names = list(ARTICLE_MAP_COLUMNS)
        else:
            names = list(columns)
        from mtqa.writers import ARTICLE_FEATURES, sentence_features

        known = sentence_features(self._scorer.columns) if segment_unit else ARTICLE_FEATURES
        unknown = [c for c in names if c not in known]
        if unknown:
            table = "sentences" if segment_unit else "articles"
            raise ConfigError(f"map_fn(): no column {', '.join(map(repr, unknown))} in the {table} table "
                              f"(unit: {self.config.unit}); columns: {', '.join(known)}")

        def fn(batch: Mapping[str, list]) -> dict[str, list]:
            if text_column not in batch:
                raise InputError("map_fn", f"the dataset has no '{text_column}' column (columns: {', '.join(batch)}); "
                                           "pass text_column=")
            texts = batch[text_column]
            n = len(texts)
            items = []
            for i in range(n):
                item = {cols.text: texts[i], cols.id: str(i)}
                if source_column in batch:
                    item[cols.source] = batch[source_column][i]
                if reference_column in batch:
                    item[cols.reference] = batch[reference_column][i]
                items.append(item)
            result = self.score(items)
            table = result.sentences if segment_unit else result.articles
            # unit segment: one sentence per scored item, so article ids index both tables
            rows = table.select_columns(["article_id", *names]).to_dict()
            at = {a: j for j, a in enumerate(rows["article_id"])}
            return {prefix + c: [rows[c][at[str(i)]] if str(i) in at else None for i in range(n)] for c in names}

        return fn

    def engine(self) -> "LocalEngine":
        """This scorer as the local engine of :func:`mtqa.pipeline.run_job` (the model is not loaded again)."""
        from mtqa.engines.local import LocalEngine

        return LocalEngine(self._scorer)

    def score_files(self, inputs: "Sequence[str | os.PathLike] | str | os.PathLike", output: "str | os.PathLike", *,
                    overwrite: bool = False, formats: Sequence[str] = (), progress: "bool | ProgressCallback" = True,
                    on_error: Callable[[InputError], None] | None = None, log: Callable[[str], None] | None = None,
                    **settings: Any) -> "JobResult":
        """Score files or folders into ``output`` exactly as ``mtqa score`` does, with this loaded model.

        The output folder holds ``sentences/``, ``articles/`` and ``run.json`` (resumable,
        locked, refused when it holds other files: the same rules as the CLI). ``settings``
        may also be ``num_shards``, ``shard_index``, ``prefetch``; scoring settings (unit,
        model, thresholds, ...) were fixed by :func:`load` and are refused here. ``progress``:
        True draws the bar on stderr, False none, or a callable receiving
        :class:`mtqa.progress.ProgressState` s. ``on_error`` receives each input problem (default:
        one line on stderr); they are also in the result's ``errors``.
        """
        from pydantic import ValidationError

        from mtqa.config import JobConfig, _describe
        from mtqa.pipeline import run_job
        from mtqa.progress import ProgressBar

        fixed = sorted(k for k in settings if k not in FILE_SETTINGS)
        if fixed:
            raise ConfigError(f"score_files(): {', '.join(fixed)} cannot change after load() (the model and signals "
                              f"are built for them); settings here: {', '.join(FILE_SETTINGS)}")
        paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs
        job = {"inputs": [str(i) for i in paths], "output": str(output),
               "overwrite": overwrite, "formats": list(formats), **settings}
        try:
            config = JobConfig.model_validate(self.config.model_dump() | job)
        except ValidationError as exc:
            raise ConfigError(f"score_files(): {_describe(exc)}") from None
        bar = ProgressBar() if progress is True else None
        callback = bar if bar is not None else (progress or None)
        try:
            return run_job(config, log=log, on_error=on_error or _print_error, progress=callback, engine=self.engine())
        finally:
            if bar is not None:
                bar.close()

    def __repr__(self) -> str:
        return f"QualityScorer({self.signature})"


def _print_error(err: InputError) -> None:
    _stderr(f"mtqa: {'warning' if err.warning else 'error'}: {err}")


def _optional(value: Any) -> str | None:
    """A source or reference as the table readers take it: None when absent or blank."""
    if value is None:
        return None
    value = str(value)
    return value if value.strip() else None


__all__ = ["load", "from_config", "QualityScorer", "ScoreResult", "ARTICLE_MAP_COLUMNS"]
