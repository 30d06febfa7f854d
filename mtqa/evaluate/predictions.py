"""Reading mtqa's scored output (or any table of predictions) for evaluation.

Accepted: a ``score`` output folder (its ``sentences/`` dataset is used), a folder written
by ``datasets.save_to_disk`` (a ``DatasetDict`` must have a ``sentences`` split or a single
one), or a ``.jsonl``/``.csv``/``.tsv``/``.parquet`` export.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtqa.errors import ConfigError, MtqaError

AGGREGATES = ("mean", "median", "min", "max", "first")


@dataclass
class Predictions:
    path: str
    columns: dict[str, list[Any]]
    n_rows: int
    available: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.columns


def _dataset_dir(p: Path) -> Path | None:
    if (p / "sentences").is_dir():
        return p / "sentences"
    if any((p / f).is_file() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        return p
    return None


def load_predictions(path: str, required: list[str], optional: list[str] = ()) -> Predictions:
    """Load the ``required`` columns (an error names the missing ones) and any ``optional`` ones present."""
    p = Path(path)
    if not p.exists():
        raise MtqaError(f"{path}: predictions not found (an mtqa output folder, a saved dataset or a table file)")
    wanted = list(dict.fromkeys([*required, *optional]))
    if p.is_dir():
        ds_dir = _dataset_dir(p)
        if ds_dir is None:
            raise MtqaError(f"{path}: not an mtqa output folder (no sentences/) nor a saved dataset")
        try:
            from datasets import DatasetDict, load_from_disk

            ds = load_from_disk(str(ds_dir))
        except Exception as exc:  # datasets raises several kinds
            raise MtqaError(f"{ds_dir}: cannot load the dataset ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        if isinstance(ds, DatasetDict):
            if "sentences" in ds:
                ds = ds["sentences"]
            elif len(ds) == 1:
                ds = next(iter(ds.values()))
            else:
                raise MtqaError(f"{ds_dir}: a dataset with splits {', '.join(ds)}; expected a 'sentences' split")
        available = list(ds.column_names)
        shown = str(ds_dir)
        present = [c for c in wanted if c in available]
        _check(shown, required, available)
        data = ds.select_columns(present).to_dict() if present else {}
        n = len(ds)
    else:
        from mtqa.evaluate.gold import read_table

        suffix = p.name.lower()
        fmt = (
            "jsonl"
            if suffix.endswith((".jsonl", ".json", ".ndjson"))
            else "parquet"
            if suffix.endswith(".parquet")
            else "tsv"
            if suffix.endswith(".tsv")
            else "csv"
        )
        rows = read_table(path, fmt)
        available = list(dict.fromkeys(k for r in rows[:1000] for k in r))
        shown = path
        _check(shown, required, available)
        data = {c: [r.get(c) for r in rows] for c in wanted if c in available}
        n = len(rows)
    return Predictions(shown, data, n, available)


def _check(where: str, required: list[str], available: list[str]) -> None:
    missing = [c for c in required if c not in available]
    if missing:
        raise ConfigError(
            f"{where}: no column {', '.join(repr(m) for m in missing)} in the predictions "
            f"(columns: {', '.join(available)})"
        )


def to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def key_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def aggregate(values: list[float], how: str) -> float:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return math.nan
    if how == "mean":
        return sum(vals) / len(vals)
    if how == "median":
        s = sorted(vals)
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    if how == "min":
        return min(vals)
    if how == "max":
        return max(vals)
    if how == "first":
        return vals[0]
    raise ConfigError(f"unknown aggregate '{how}' (one of: {', '.join(AGGREGATES)})")


def group_rows(pred: Predictions, key: str | None) -> "OrderedDict[str, list[int]]":
    """Row indices per key, keys in order of first appearance (``key=None``: one row each)."""
    out: "OrderedDict[str, list[int]]" = OrderedDict()
    if key is None:
        for i in range(pred.n_rows):
            out[str(i)] = [i]
        return out
    for i, k in enumerate(pred.columns[key]):
        out.setdefault(key_str(k), []).append(i)
    return out
