"""Gold (human) quality judgements, read from the usual MT-evaluation file formats.

Every reader returns a :class:`GoldSet`: one :class:`GoldRecord` per segment of MT output,
with a stable string ``id`` (the join key), the MT ``text``, the ``source`` when the file has
it, numeric ``scores`` (one of which is compared with the predictions), string ``fields``
usable with ``--group-by``, and error ``spans`` (character offsets into ``text``) when the
format annotates them.

Formats and their ids (``--gold-format``; ``auto`` recognises all of them):

``mlqe``  MLQE-PE DA tarball (``mlqepe-ro-en-dev.tar.gz``) or the TSV inside it
    (columns ``index, original, translation, scores, mean, z_scores, z_mean, model_scores``;
    the ru-en file has ``segid`` in place of ``index``). id = ``"{lp}:{index}"`` (or
    ``"{lp}:{segid}"``), e.g. ``ro-en:0`` (the language pair comes from the tar member or file
    name; plain ``index`` when it cannot be found). Scores ``z_mean`` (default),
    ``mean``, ``model_scores``. Fields ``lp``.
``wmtqe22``  WMT QE 2022 MQM CSV (columns ``<unnamed index>, lp, annotator, seg_id, src, mt,
    score, z_score``). id = the unnamed first column, i.e. the 0-based row number ("0" ..
    "1018"); ``seg_id`` restarts at 0 in every document so it is not unique. Scores
    ``z_score`` (default; the official metric is Spearman with it), ``score``. Fields ``lp``,
    ``annotator``, ``doc`` (0-based document number, counted from the ``seg_id`` restarts),
    ``seg_id``.
``mqm-ted``  Google MQM TSV (``system, doc, doc_id, seg_id, rater, source, target, category,
    severity``; one row per error, the span in ``<v>...</v>`` inside ``target``).
    id = ``"{system}:{doc_id}:{seg_id}"``. Score ``mqm`` = minus the severity weights (Major 5,
    Minor 1, Minor Fluency/Punctuation 0.1, Non-translation 25, Neutral/No-error 0) summed per
    rater and averaged over raters; also ``n_major``, ``n_minor``. Spans: the ``<v>`` markers
    (omissions and source errors have none). Fields ``system``, ``doc``, ``doc_id``,
    ``seg_id``, ``rater``.
``wmtqe23-spans``  WMT QE 2023 span TSV, no header: ``system, doc, seg_id, rater, source,
    target, starts, ends, severities`` (space-separated lists; an error-free row has ``-1``,
    ``-1``, ``no-error``). id = ``"{system}:{doc}:{seg_id}"``. Some rows of the newstest2021
    file have a document name split at its spaces into several columns, which pushes out the
    ``rater`` (and, for names of three words, the ``seg_id`` too): the name is rejoined with
    spaces, the rater left empty, and a lost ``seg_id`` replaced by the row's 1-based position
    among the rows of that system and document. Score ``mqm`` = -(5 x major + 1 x minor);
    also ``n_major``, ``n_minor``, ``n_errors``. Fields ``system``, ``doc``, ``seg_id``,
    ``rater``.
``csv``/``tsv``/``jsonl``/``parquet``  a table: id from ``--gold-key`` (default column
    ``id``); text from ``text``/``mt``/``translation``/``target``/``hyp``; source from
    ``source``/``src``/``original``; every numeric column is a score (default ``score``,
    ``z_mean``, ``z_score``, ``mean``, ``mqm``, ``da``, ``gold`` or the only numeric column);
    spans from a ``spans`` column (a list of ``[start, end]`` or ``{"start", "end"}``, JSON in
    a CSV cell) or OK/BAD word tags from a ``tags`` column.

Rows sharing an id are merged: scores averaged, spans united.

Layout: ``common`` (records, MQM weights, ``<v>`` markers, merging, table reading), one module
per format (``mlqe``, ``wmtqe22``, ``mqm_ted``, ``wmtqe23``, ``generic`` for plain tables) and
``load`` (format detection, :func:`load_gold`, :func:`export_segments`).
"""

from mtqa.evaluate.gold.common import (
    WEIGHT_MAJOR,
    WEIGHT_MINOR,
    WEIGHT_NONTRANS,
    WEIGHT_PUNCT,
    GoldRecord,
    GoldSet,
    merge,
    mqm_weight,
    parse_marked,
    read_table,
)
from mtqa.evaluate.gold.generic import read_generic
from mtqa.evaluate.gold.load import FORMATS, detect_format, export_segments, load_gold
from mtqa.evaluate.gold.mlqe import read_mlqe
from mtqa.evaluate.gold.mqm_ted import read_mqm_ted
from mtqa.evaluate.gold.wmtqe22 import read_wmtqe22
from mtqa.evaluate.gold.wmtqe23 import parse_wmtqe23_line, read_wmtqe23

__all__ = [
    "FORMATS",
    "WEIGHT_MAJOR",
    "WEIGHT_MINOR",
    "WEIGHT_NONTRANS",
    "WEIGHT_PUNCT",
    "GoldRecord",
    "GoldSet",
    "detect_format",
    "export_segments",
    "load_gold",
    "merge",
    "mqm_weight",
    "parse_marked",
    "parse_wmtqe23_line",
    "read_generic",
    "read_mlqe",
    "read_mqm_ted",
    "read_table",
    "read_wmtqe22",
    "read_wmtqe23",
]
