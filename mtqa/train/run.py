"""``python -m mtqa train``: features (cached) -> fit both heads -> parameter file -> report.

Deterministic: the subsamples and document splits are seeded (``seed`` in the config), the
fit is closed-form ridge + Newton logistic, and the file is written with sorted keys and
rounded numbers, so the same features give a byte-identical file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from mtqa.train.config import TrainConfig
from mtqa.train.model import QualityModel, fit_model


def write_params(doc: dict, path: str | Path) -> str:
    """Write the parameter file; return its sha256."""
    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def predictions(doc: dict, rows: list[dict]) -> list[dict]:
    """Per row: ``quality`` (the row's head), ``quality_target`` and (with a source) ``quality_source``."""
    m = QualityModel(doc)
    out = []
    for r in rows:
        rec = {"article_id": r["id"], "group": r["group"], "quality": m.quality(r, r.get("flags", ())),
               "quality_target": m.quality(r, r.get("flags", ()), head="target")}
        if "source" in m.heads and m.head_for(r) == "source":
            rec["quality_source"] = m.quality(r, r.get("flags", ()), head="source")
        out.append(rec)
    return out


def quick_report(preds: list[dict], rows: list[dict]) -> list[tuple[str, str, int, float | None]]:
    from mtqa.evaluate.correlation import spearman

    out = []
    gold = {r["id"]: r["gold"] for r in rows}
    groups = sorted({p["group"] for p in preds})
    for g in groups:
        ps = [p for p in preds if p["group"] == g]
        for col in ("quality_target", "quality_source"):
            pairs = [(p[col], gold[p["article_id"]]) for p in ps if col in p]
            if len(pairs) > 2:
                x, y = np.array(pairs).T
                out.append((g, col, len(pairs), spearman(x, y)))
    return out


def train(cfg: TrainConfig, *, log: Callable[[str], None] = print, lm=None, model_name: str | None = None,
          predictions_dir: str | None = None) -> dict:
    """Run the whole training. ``lm``: an already loaded CausalLM (tests); else one is loaded
    only when some chunk of features is not cached yet."""
    from mtqa.train.features import cache_dir, extract, feature_signals

    name = model_name or cfg.model
    state = {"lm": lm, "signals": None}

    def signals():
        if state["signals"] is None:
            if state["lm"] is None:
                from mtqa.models import resolve
                from mtqa.models.lm import CausalLM

                resolved = resolve(cfg.model, log=log)
                state["lm"] = CausalLM(resolved.path, device=cfg.device, dtype=cfg.dtype, threads=cfg.threads)
            state["signals"] = feature_signals(state["lm"])
        return state["signals"]

    def rows_of(specs):
        rows, seen = [], set()
        for spec in specs:
            got = extract(spec, signals(), cfg.features_dir, name, chunk=cfg.chunk, log=log)
            # several seeded draws from one file may overlap: keep each segment once (per group)
            fresh = [r for r in got if (r["group"], r["id"]) not in seen]
            seen.update((r["group"], r["id"]) for r in fresh)
            log(f"{spec.name}: {len(fresh)} segments ({cache_dir(cfg.features_dir, name, spec, signals())})")
            rows.extend(fresh)
        return rows

    train_rows = rows_of(cfg.specs("train"))
    doc = fit_model(train_rows, ridge=cfg.ridge, flag_logit=cfg.flag_logit, model=name)
    doc["trained_on"] = [{"name": s.name, "path": Path(s.path).name, "split": s.split, "n": s.n, "seed": s.seed}
                         for s in cfg.specs("train")]
    doc["n_train_rows"] = len(train_rows)
    sha = write_params(doc, cfg.output)
    log(f"wrote {cfg.output} (sha256 {sha})")
    for head, h in doc["heads"].items():
        coefs = ", ".join(f"{f}={c:+.3f}" for f, c in zip(h["features"], h["coef"]))
        log(f"  {head} head (n={h['n_train']}): {coefs}; calibration a={h['calibration']['a']:+.3f} b={h['calibration']['b']:+.3f}")
    report_rows = rows_of(cfg.specs("report")) if cfg.report else []
    result = {"params": cfg.output, "sha256": sha, "doc": doc, "report": []}
    if report_rows:
        preds = predictions(doc, report_rows)
        if predictions_dir:
            from mtqa.train.data import load_examples

            d = Path(predictions_dir)
            d.mkdir(parents=True, exist_ok=True)
            for spec in cfg.specs("report"):  # the report subsample as `mtqa score` input, both modes
                exs = load_examples(spec)
                with open(d / f"{spec.name}.segments.jsonl", "w", encoding="utf-8") as f, \
                        open(d / f"{spec.name}.target-only.jsonl", "w", encoding="utf-8") as g:
                    for e in exs:
                        row = {"id": e.id, "text": e.text}
                        g.write(json.dumps(row, ensure_ascii=False) + "\n")
                        if e.source is not None:
                            row["source"] = e.source
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
            for g in sorted({p["group"] for p in preds}):
                with open(d / f"{g}.jsonl", "w", encoding="utf-8") as f:
                    for p in preds:
                        if p["group"] == g:
                            f.write(json.dumps(p) + "\n")
            log(f"wrote report-set predictions to {d}/ (evaluate them with `python -m mtqa evaluate FILE --gold GOLD --pred-column quality_target|quality_source`)")
        for g, col, n, rho in quick_report(preds, report_rows):
            log(f"  report {g:14s} {col:15s} n={n:4d} spearman={rho if rho is None else round(rho, 3)}")
            result["report"].append({"set": g, "head": col, "n": n, "spearman": rho})
    return result
