"""The Run section: what the page lists from the output's ``run.json`` (bounded in size)."""

from __future__ import annotations

import json
from typing import Any

#: the most run.json config the page prints (characters)
CONFIG_CHARS = 20_000


def run_items(run: dict[str, Any]) -> dict[str, Any]:
    """What the Run section lists from run.json (``{}`` without one)."""
    if not run:
        return {}
    fields = [(label, run[key]) for key, label in (("mtqa_version", "mtqa version"), ("signature", "Signature"))
              if run.get(key) is not None]
    inputs = run.get("inputs")
    names: list[str] = []
    more = 0
    if isinstance(inputs, list) and inputs:
        names = [x if not isinstance(x, dict) else x.get("path") or x.get("name") or json.dumps(x) for x in inputs[:20]]
        more = max(0, len(inputs) - 20)
    tables = []
    for key, label in (("counts", "Counts"), ("timings", "Timings")):
        value = run.get(key)
        if isinstance(value, dict) and value:
            tables.append((label, [(k, round(v, 2) if isinstance(v, float) else v) for k, v in list(value.items())[:30]]))
    config = None
    if run.get("config"):
        config = json.dumps(run["config"], indent=2, ensure_ascii=False, default=str)
        if len(config) > CONFIG_CHARS:
            config = config[:CONFIG_CHARS] + "\n… (cut)"
    return {"fields": fields, "inputs": names, "more_inputs": more, "tables": tables, "config": config}
