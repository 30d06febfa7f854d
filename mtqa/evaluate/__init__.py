"""Agreement of mtqa's scores with human judgements (``python -m mtqa evaluate``).

    gold/           gold readers, one module per format (mlqe, wmtqe22, mqm_ted, wmtqe23,
                    generic tables) over ``common``; ``load``: format detection, ``load_gold``
                    and ``export_segments`` (gold MT output -> JSONL for ``mtqa score``)
    predictions.py  reading a scored output folder / saved dataset / table
    correlation.py  Spearman, Pearson, Kendall tau-b (scipy.stats) with seeded
                    percentile-bootstrap CIs (scipy.stats.bootstrap)
    spans.py        word-level MCC / F1 of predicted vs gold error spans
    benchmark.py    join by id (or position), groups, all figures as a JSON-ready dict
                    (and a warning when an interval rests on fewer than 30 rows)
    report.py       text tables and the JSON file

Typical workflow::

    python -m mtqa evaluate --export-gold GOLD -o segments.jsonl
    python -m mtqa score segments.jsonl --unit segment -o OUT
    python -m mtqa evaluate OUT --gold GOLD [--group-by system] [--spans]
"""

from mtqa.evaluate.correlation import correlate, kendall, pearson, spearman
from mtqa.evaluate.gold import FORMATS, GoldRecord, GoldSet, export_segments, load_gold
from mtqa.evaluate.spans import span_metrics, words

__all__ = [
    "FORMATS",
    "GoldRecord",
    "GoldSet",
    "correlate",
    "export_segments",
    "kendall",
    "load_gold",
    "pearson",
    "span_metrics",
    "spearman",
    "words",
]
