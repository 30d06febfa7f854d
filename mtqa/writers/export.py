"""``--format``: the final datasets also as ``OUT/{sentences,articles}.{parquet,jsonl,csv}``."""

from __future__ import annotations

import json
from pathlib import Path

from mtqa.writers.atomic import replace_atomically


def export(ds, path: Path, fmt: str) -> None:
    """Write ``ds`` to ``path`` as ``fmt`` under a temporary name, then rename it into place."""
    replace_atomically(path, lambda tmp: _export(ds, tmp, fmt))


def _export(ds, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        ds.to_parquet(str(path))
    elif fmt == "jsonl":
        ds.to_json(str(path), lines=True, force_ascii=False)
    elif fmt == "csv":
        # CSV cannot hold lists of structs: flags and spans become JSON strings
        flat = ds.map(lambda r: {"flags": json.dumps(r["flags"]), "spans": json.dumps(r["spans"], ensure_ascii=False)}
                      if "spans" in r else {}, features=None) if "spans" in ds.column_names else ds
        flat.to_csv(str(path), index=False)
