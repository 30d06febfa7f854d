"""Plain-text tables of an evaluation result (the dict built by ``benchmark.evaluate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtqa.errors import MtqaError

_STAT_TITLES = {"spearman": "Spearman rho", "pearson": "Pearson r", "kendall": "Kendall tau"}


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}"


def _ci(est: dict | None) -> str:
    if not est or est.get("value") is None:
        return "n/a"
    if est.get("ci_low") is None:
        return f"{est['value']:+.3f}"
    return f"{est['value']:+.3f} [{est['ci_low']:+.3f}, {est['ci_high']:+.3f}]"


def table(header: list[str], rows: list[list[str]], right: set[int] | None = None, indent: str = "") -> list[str]:
    """Aligned columns; ``right`` holds the indices of right-aligned columns."""
    right = right if right is not None else set(range(1, len(header)))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        return (indent + "  ".join(out)).rstrip()

    return [line(header), *[line(r) for r in rows]]


def _count(n: int) -> str:
    return f"{n:,}"


def format_report(result: dict) -> str:
    pred, gold, join = result["predictions"], result["gold"], result["join"]
    lines = []
    key_desc = f"{_count(join['prediction_keys'])} keys ({join['prediction_key']})" if join["prediction_key"] else "no key"
    lines.append(f"predictions  {pred['path']}: {_count(pred['rows'])} rows, {key_desc}; column {pred['column']}")
    lines.append(
        f"gold         {gold['path']} [{gold['format']}]: {_count(gold['records'])} records; "
        f"score {gold['column']}; id = {gold['id_rule']}"
    )
    for note in gold.get("notes") or []:
        lines.append(f"             note: {note}")
    if join["mode"] == "order":
        jl = f"join         by position: {_count(join['matched'])} pairs"
    else:
        jl = (
            f"join         {join['prediction_key']} = gold id: {_count(join['matched'])} matched; "
            f"unmatched: {_count(join['unmatched_predictions'])} predictions, {_count(join['unmatched_gold'])} gold"
        )
        ex = []
        if join["unmatched_prediction_examples"]:
            ex.append("predictions e.g. " + ", ".join(repr(x) for x in join["unmatched_prediction_examples"]))
        if join["unmatched_gold_examples"]:
            ex.append("gold e.g. " + ", ".join(repr(x) for x in join["unmatched_gold_examples"]))
        if ex:
            jl += f" ({'; '.join(ex)})"
    lines.append(jl)
    if join.get("aggregate"):
        lines.append(
            f"             up to {join['max_rows_per_key']} rows per key: {pred['column']} aggregated by {join['aggregate']}"
        )
    if join.get("missing_values"):
        lines.append(f"             {join['missing_values']} pairs without a value left out")

    boot = result["bootstrap"]
    stats = result["statistics"]
    ci_desc = (
        f"95% CI: percentile bootstrap, {_count(boot['resamples'])} resamples, seed {boot['seed']}"
        if boot["resamples"]
        else "no bootstrap"
    )
    lines.append("")
    lines.append(f"Correlation of {pred['column']} with gold {gold['column']} ({ci_desc})")
    header = ["group", "n", *[_STAT_TITLES[s] for s in stats]]
    rows = [["all", _count(result["correlation"]["all"]["n"]), *[_ci(result["correlation"]["all"].get(s)) for s in stats]]]
    for grouping in result["correlation"]["groups"]:
        rows.append([f"by {grouping['by']}:", "", *["" for _ in stats]])
        for r in grouping["rows"]:
            rows.append([f"  {r['group'] or '(empty)'}", _count(r["n"]), *[_ci(r.get(s)) for s in stats]])
    lines.extend(table(header, rows))
    for warning in result.get("warnings") or []:
        lines.append(f"warning: {warning}")

    cal = result.get("calibration")
    if cal:
        lines.append("")
        lines.append(f"Calibration of {pred['column']} as P(no major error) against the gold ({_count(cal['n'])} segments "
                     f"with MQM severities): observed rate {cal['observed_rate']:.3f}, mean {pred['column']} "
                     f"{cal['mean_probability']:.3f}, ECE {cal['ece']:.3f} (10 bins)")
        rows = [[f"[{b['low']:.1f}, {b['high']:.1f}{']' if b['high'] >= 1 else ')'}", _count(b["n"]),
                 _num(b["mean_probability"]), _num(b["observed"])] for b in cal["bins"]]
        lines.extend(table([pred["column"], "n", "mean", "no major error"], rows))

    spans = result.get("spans")
    if spans:
        lines.append("")
        filt = ", ".join(spans["label_filter"]) if spans["label_filter"] else "all labels"
        lines.append(f"Word-level error spans (a word is BAD when it overlaps an error span; predicted spans: {filt})")
        header = ["group", "segments", "words", "gold BAD", "pred BAD", "MCC", "F1-BAD", "P-BAD", "R-BAD", "F1-OK"]

        def srow(name, m):
            return [
                name,
                _count(m["segments"]),
                _count(m["words"]),
                _count(m["gold_bad"]),
                _count(m["pred_bad"]),
                _num(m["mcc"]),
                _num(m["f1_bad"]),
                _num(m["precision_bad"]),
                _num(m["recall_bad"]),
                _num(m["f1_ok"]),
            ]

        rows = [srow("all", spans["all"])]
        if len(spans["by_label"]) > 1:
            rows.append(["by predicted label:", *[""] * 9])
            for lab, m in spans["by_label"].items():
                rows.append(srow(f"  {lab or '(none)'}", m))
        for grouping in spans["groups"]:
            rows.append([f"by {grouping['by']}:", *[""] * 9])
            for r in grouping["rows"]:
                rows.append(srow(f"  {r['group'] or '(empty)'}", r))
        lines.extend(table(header, rows))
        skipped = spans.get("skipped") or {}
        if skipped:
            lines.append(
                "skipped: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(skipped.items()))
            )
    elif gold.get("has_spans"):
        lines.append("")
        lines.append("(the gold marks error spans: add --spans for word-level MCC/F1)")
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(result: dict, path: str) -> None:
    try:
        Path(path).write_text(json.dumps(_clean(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise MtqaError(f"{path}: cannot write ({exc.strerror})") from None
