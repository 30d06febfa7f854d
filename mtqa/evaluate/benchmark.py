"""Join predictions with gold and compute every figure; the result is a JSON-ready dict.

Join: each prediction key (``article_id`` by default; one segment per key for ``--unit
segment`` jobs) is matched with the gold record of the same id. Several prediction rows with
one key (sentence rows of an ``--unit article`` job) are aggregated (mean by default) before
correlating. ``join="order"`` pairs the i-th prediction key with the i-th gold record instead
(both sides must have as many).
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtqa.errors import ConfigError, MtqaError
from mtqa.evaluate.correlation import STATISTICS, correlate
from mtqa.evaluate.gold import GoldRecord, GoldSet
from mtqa.evaluate.predictions import Predictions, aggregate, group_rows, key_str, to_float
from mtqa.evaluate.spans import SpanCounts, bad_words, words

#: below this many rows a percentile-bootstrap interval is too narrow to trust (it undercovers
#: badly on small samples), so the report says so next to the figures
MIN_BOOTSTRAP_ROWS = 30

SIGN_CONVENTION = (
    "correlations are reported as they are: a prediction where higher = better (quality) agrees "
    "with a gold score where higher = better (MQM = minus error weight, DA z-scores) when positive"
)


@dataclass
class Options:
    pred_column: str = "quality"
    key: str | None = "article_id"
    join: str = "key"
    aggregate: str = "mean"
    group_by: list[list[str]] = field(default_factory=list)
    bootstrap: int = 1000
    seed: int = 0
    spans: bool = False
    span_labels: list[str] | None = None


@dataclass
class Pair:
    key: str
    rows: list[int]
    gold: GoldRecord
    pred: float
    target: float


def parse_group_by(values: list[str] | None) -> list[list[str]]:
    """``["lp,system", "system+rater"]`` -> ``[["lp"], ["system"], ["system", "rater"]]``."""
    out: list[list[str]] = []
    for value in values or []:
        for part in value.split(","):
            cols = [c.strip() for c in part.split("+") if c.strip()]
            if cols and cols not in out:
                out.append(cols)
    return out


def _examples(items, k: int = 3) -> list[str]:
    return [str(x) for x in list(items)[:k]]


def join(pred: Predictions, gold: GoldSet, score: str, opts: Options) -> tuple[list[Pair], dict]:
    key = opts.key if (opts.key and pred.has(opts.key)) else None
    if opts.join == "key" and key is None:
        raise ConfigError(f"{pred.path}: no key column '{opts.key}' (use --key, or --join order)")
    by_key = group_rows(pred, key)
    values = [to_float(v) for v in pred.columns[opts.pred_column]]
    info: dict[str, Any] = {
        "mode": opts.join,
        "prediction_key": key,
        "prediction_rows": pred.n_rows,
        "prediction_keys": len(by_key),
        "gold_records": len(gold.records),
        "aggregate": opts.aggregate if any(len(r) > 1 for r in by_key.values()) else None,
        "max_rows_per_key": max((len(r) for r in by_key.values()), default=0),
    }
    if opts.join == "order":
        if len(by_key) != len(gold.records):
            raise MtqaError(
                f"--join order needs as many predictions as gold records: {len(by_key)} prediction "
                f"{'keys' if key else 'rows'} vs {len(gold.records)} gold records"
            )
        matched = list(zip(by_key.items(), gold.records))
        unmatched_pred: list[str] = []
        unmatched_gold: list[str] = []
    else:
        gold_by_id = {r.id: r for r in gold.records}
        matched = [((k, rows), gold_by_id[k]) for k, rows in by_key.items() if k in gold_by_id]
        unmatched_pred = [k for k in by_key if k not in gold_by_id]
        unmatched_gold = [r.id for r in gold.records if r.id not in by_key]
        if not matched:
            raise MtqaError(
                f"no prediction matched a gold record: prediction {key} values look like "
                f"{', '.join(repr(x) for x in _examples(by_key))}; gold ids ({gold.id_rule}) look like "
                f"{', '.join(repr(x) for x in _examples(r.id for r in gold.records))}. Score the file written by "
                f"'mtqa evaluate --export-gold GOLD -o segments.jsonl' (ids are kept), "
                f"or pass --join order if both are in the same order"
            )
    pairs = []
    missing = 0
    for (k, rows), g in matched:
        p = aggregate([values[i] for i in rows], opts.aggregate)
        t = g.scores.get(score, math.nan)
        if math.isnan(p) or math.isnan(t):
            missing += 1
        pairs.append(Pair(k, rows, g, p, t))
    info.update(
        matched=len(matched),
        unmatched_predictions=len(unmatched_pred),
        unmatched_gold=len(unmatched_gold),
        unmatched_prediction_examples=_examples(unmatched_pred),
        unmatched_gold_examples=_examples(unmatched_gold),
        missing_values=missing,
    )
    return pairs, info


def _group_value(pair: Pair, cols: list[str], pred: Predictions, sources: dict[str, str]) -> str:
    vals = []
    for c in cols:
        if sources[c] == "gold":
            vals.append(pair.gold.fields.get(c, ""))
        else:
            vals.append(key_str(pred.columns[c][pair.rows[0]]))
    return " + ".join(vals)


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _groups(pairs: list[Pair], spec: list[str], pred: Predictions, sources: dict[str, str]) -> "OrderedDict[str, list[Pair]]":
    buckets: dict[str, list[Pair]] = {}
    for p in pairs:
        buckets.setdefault(_group_value(p, spec, pred, sources), []).append(p)
    return OrderedDict(sorted(buckets.items(), key=lambda kv: _sort_key(kv[0])))


def _correlation(pairs: list[Pair], opts: Options) -> dict:
    x = np.array([p.pred for p in pairs], dtype=np.float64)
    y = np.array([p.target for p in pairs], dtype=np.float64)
    return correlate(x, y, bootstrap=opts.bootstrap, seed=opts.seed).as_dict()


# --------------------------------------------------------------------------- spans


def _norm_tokens(text: str) -> list[str]:
    return unicodedata.normalize("NFKC", text).split()


def _pred_spans(pred: Predictions, i: int, labels: set[str] | None) -> list[tuple[int, int, str]]:
    out = []
    for sp in pred.columns["spans"][i] or []:
        label = str(sp.get("label", "") or "")
        if labels is not None and label not in labels:
            continue
        out.append((int(sp["start"]), int(sp["end"]), label))
    return out


def predicted_tags(gold_text: str, pred: Predictions, rows: list[int], labels: set[str] | None) -> list[bool] | None:
    """BAD flags of the gold text's words from the spans of the prediction rows of one key.

    Each row's text is located in the gold text (at its ``start`` offset when it is there,
    else by a forward search); its spans are moved from article offsets to sentence-local
    ones (``span.start - row.start``) and then to gold-text offsets. If a row's text cannot be
    found (the text was normalised on reading), the words are matched by position instead,
    provided both sides have the same words. ``None``: the texts do not correspond.
    """
    has_start = pred.has("start")
    spans: list[tuple[int, int]] = []
    cursor = 0
    located = True
    ordered = sorted(rows, key=lambda i: to_float(pred.columns["start"][i]) if has_start else 0)
    for i in ordered:
        text = pred.columns["text"][i] or ""
        row_start = int(pred.columns["start"][i]) if has_start and pred.columns["start"][i] is not None else 0
        if gold_text[row_start : row_start + len(text)] == text:
            at = row_start
        else:
            at = gold_text.find(text, cursor)
            if at < 0 or not text:
                located = False
                break
        cursor = at + len(text)
        for s, e, _ in _pred_spans(pred, i, labels):
            s, e = s - row_start + at, e - row_start + at
            s, e = max(s, at), min(e, at + len(text))
            if e >= s:
                spans.append((s, e))
    if located:
        return bad_words(gold_text, spans)
    # fall back on word positions
    tags: list[bool] = []
    tokens: list[str] = []
    for i in ordered:
        text = pred.columns["text"][i] or ""
        row_start = int(pred.columns["start"][i]) if has_start and pred.columns["start"][i] is not None else 0
        local = [(s - row_start, e - row_start) for s, e, _ in _pred_spans(pred, i, labels)]
        tags.extend(bad_words(text, local))
        tokens.extend(_norm_tokens(text))
    if tokens != _norm_tokens(gold_text):
        return None
    return tags


def span_evaluation(pairs: list[Pair], pred: Predictions, opts: Options, sources: dict[str, str]) -> dict:
    labels = set(opts.span_labels) if opts.span_labels else None
    label_counts: Counter = Counter()
    for pair in pairs:
        for i in pair.rows:
            for sp in pred.columns["spans"][i] or []:
                label_counts[str(sp.get("label", "") or "")] += 1
    per_label = {lab: SpanCounts() for lab in sorted(label_counts) if labels is None or lab in labels}
    total = SpanCounts()
    group_counts: list[tuple[list[str], dict[str, SpanCounts]]] = [(spec, {}) for spec in opts.group_by]
    skipped = Counter()
    for pair in pairs:
        g = pair.gold
        if g.spans is None or g.text is None:
            skipped["no_gold_spans"] += 1
            continue
        tags = predicted_tags(g.text, pred, pair.rows, labels)
        if tags is None:
            skipped["text_mismatch"] += 1
            continue
        offsets = words(g.text)
        gold_tags = bad_words(g.text, [(s, e) for s, e, *_ in g.spans], offsets)
        seg = SpanCounts()
        seg.add(gold_tags, tags)
        total += seg
        for spec, buckets in group_counts:
            gv = _group_value(pair, spec, pred, sources)
            buckets.setdefault(gv, SpanCounts())
            buckets[gv] += seg
        for lab, counts in per_label.items():
            counts.add(gold_tags, predicted_tags(g.text, pred, pair.rows, {lab}))
    if total.segments == 0:
        why = (
            "the texts of the predictions and of the gold differ"
            if skipped["text_mismatch"]
            else "no matched gold record has error spans"
        )
        raise MtqaError(f"--spans: no segment could be evaluated ({why})")
    return {
        "definition": "a word (whitespace-separated) is BAD when it overlaps an error span; tags pooled over segments",
        "label_filter": sorted(labels) if labels else None,
        "predicted_labels": dict(label_counts.most_common()),
        "all": total.metrics(),
        "by_label": {lab: c.metrics() for lab, c in per_label.items()},
        "groups": [
            {
                "by": "+".join(spec),
                "rows": [{"group": k, **v.metrics()} for k, v in sorted(b.items(), key=lambda kv: _sort_key(kv[0]))],
            }
            for spec, b in group_counts
        ],
        "skipped": dict(skipped),
    }


# --------------------------------------------------------------------------- everything


def resolve_group_sources(gold: GoldSet, pred_columns: list[str], specs: list[list[str]]) -> dict[str, str]:
    gold_fields = set(gold.field_names())
    sources = {}
    for spec in specs:
        for c in spec:
            if c in gold_fields:
                sources[c] = "gold"
            elif c in pred_columns:
                sources[c] = "pred"
            else:
                raise ConfigError(
                    f"--group-by: no column '{c}' in the gold ({', '.join(sorted(gold_fields)) or 'no fields'}) "
                    f"nor in the predictions"
                )
    return sources


def evaluate(pred: Predictions, gold: GoldSet, score: str, opts: Options, sources: dict[str, str]) -> dict:
    pairs, join_info = join(pred, gold, score, opts)
    usable = [p for p in pairs if not (math.isnan(p.pred) or math.isnan(p.target))]
    result: dict[str, Any] = {
        "predictions": {"path": pred.path, "rows": pred.n_rows, "column": opts.pred_column},
        "gold": gold.describe() | {"column": score},
        "join": join_info,
        "sign_convention": SIGN_CONVENTION,
        "bootstrap": {
            "resamples": opts.bootstrap,
            "seed": opts.seed,
            "confidence": 0.95,
            "method": "percentile bootstrap over joined rows (numpy default_rng(seed))",
        },
        "statistics": list(STATISTICS),
        "correlation": {
            "all": _correlation(usable, opts),
            "groups": [
                {
                    "by": "+".join(spec),
                    "rows": [
                        {"group": k, **_correlation(v, opts)} for k, v in _groups(usable, spec, pred, sources).items()
                    ],
                }
                for spec in opts.group_by
            ],
        },
    }
    result["warnings"] = small_sample_warnings(result["correlation"], opts.bootstrap)
    calibration = calibration_check(usable, gold, opts.pred_column)
    if calibration:
        result["calibration"] = calibration
    if opts.spans:
        result["spans"] = span_evaluation(pairs, pred, opts, sources)
    return result


#: a reliability table from fewer labelled rows says nothing
MIN_CALIBRATION_ROWS = 30


def calibration_check(pairs: list[Pair], gold: GoldSet, column: str) -> dict | None:
    """``quality`` claims P(an MQM rater finds no major error): where the gold says whether raters
    did (MQM with severities, WMT QE 2022), its ECE and a reliability table; None otherwise."""
    from mtqa.evaluate.calibration import ece, reliability
    from mtqa.evaluate.gold.common import no_major_error

    if column != "quality":
        return None
    labelled = [(p.pred, y) for p in pairs if 0.0 <= p.pred <= 1.0 and (y := no_major_error(p.gold, gold)) is not None]
    if len(labelled) < MIN_CALIBRATION_ROWS:
        return None
    prob, y = (np.array(v, dtype=float) for v in zip(*labelled))
    return {"event": "MQM: no major error in the segment", "n": len(labelled), "observed_rate": float(y.mean()),
            "mean_probability": float(prob.mean()), "ece": ece(prob, y), "bins": reliability(prob, y)}


def small_sample_warnings(correlation: dict, bootstrap: int) -> list[str]:
    """One line when an interval rests on fewer than :data:`MIN_BOOTSTRAP_ROWS` rows (none without intervals)."""
    if bootstrap <= 0:
        return []
    small = [f"all rows (n={correlation['all']['n']})"] if 2 <= correlation["all"]["n"] < MIN_BOOTSTRAP_ROWS else []
    for grouping in correlation["groups"]:
        rows = [r for r in grouping["rows"] if 2 <= r["n"] < MIN_BOOTSTRAP_ROWS]
        if rows:
            small.append(f"{len(rows)} of {len(grouping['rows'])} groups by {grouping['by']}")
    if not small:
        return []
    return [f"bootstrap intervals from fewer than {MIN_BOOTSTRAP_ROWS} rows are unreliable (too narrow): {'; '.join(small)}"]
