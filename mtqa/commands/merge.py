"""``mtqa merge``: join the outputs of a sharded job (``--num-shards N --shard-index I``) into one.

Shard ``I`` scored the chunks ``k`` with ``k % N == I``; each shard's run.json lists its
chunks and their row counts, so the merge puts every row back in chunk order: the result is
identical to the output of one unsharded run with the same settings.

The merged folder gets the same protection as a job's: never one of the shard folders (or a
folder holding one), ``--overwrite`` only replaces a previous mtqa output, one writer at a
time (:class:`mtqa.writers.OutputLock`), and a failed write is one line that leaves the
shard outputs untouched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from mtqa.errors import OutputError

# mtqa.writers (and with it datasets) is imported in the functions that write: the CLI imports
# every command module to list them, and that must not cost a datasets import.

HELP = "join the output folders of a sharded job (--num-shards/--shard-index) into one output"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shards", nargs="+", help="output folders of the shard jobs (all N of them)")
    p.add_argument("-o", "--output", required=True, help="merged output folder (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous mtqa output (only mtqa's own files; never one of the shard folders)")
    p.add_argument("--format", dest="formats", action="append", choices=["parquet", "jsonl", "csv"],
                   help="also export both tables in this format (repeatable; default: the shards' formats)")


def _load_info(folder: Path) -> dict:
    path = folder / "run.json"
    if not path.is_file() or (folder / ".mtqa").exists():
        raise OutputError(f"{folder}: not a finished mtqa output (no run.json, or the job is unfinished: rerun it)")
    info = json.loads(path.read_text(encoding="utf-8"))
    if "shard" not in info:
        info["shard"] = None
    return info


def merge(folders: list[Path], out: Path, overwrite: bool = False, formats: list[str] | None = None) -> dict:
    from mtqa.writers import OutputLock, check_output, check_target, job_key, write_failure

    check_target(out, folders, overwrite)  # before reading anything: never merge into (or over) a shard
    infos = [_load_info(f) for f in folders]
    shards = [i["shard"] for i in infos]
    if any(s is None for s in shards):
        raise OutputError("every folder must come from a job run with --num-shards/--shard-index")
    n = shards[0]["num_shards"]
    indices = sorted(s["index"] for s in shards)
    if any(s["num_shards"] != n for s in shards) or indices != list(range(n)):
        raise OutputError(f"need the {n} shard outputs 0..{n - 1} once each; got indices {indices}")
    keys = {job_key({k: v for k, v in i["config"].items() if k != "shard_index"}) for i in infos}
    if len(keys) != 1 or len({i["signature"] for i in infos}) != 1:
        raise OutputError("the shard outputs were scored with different settings or versions; they cannot be merged")
    with OutputLock(out):
        check_output(out, overwrite, inputs=folders)
        try:
            return _merge(folders, infos, shards, out, overwrite, formats)
        except OSError as exc:
            raise write_failure(getattr(exc, "filename", None) or out, exc,
                                "The shard outputs are untouched; free some space (or fix the permissions) and run "
                                "the merge again with --overwrite.") from exc


def _merge(folders: list[Path], infos: list[dict], shards: list[dict], out: Path, overwrite: bool,
           formats: list[str] | None) -> dict:
    import datasets

    from mtqa.writers import clear_output, export, save_dataset_atomic, write_json_atomic

    if overwrite:
        clear_output(out)
    scratch = out / ".mtqa"
    scratch.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(infos)), key=lambda j: shards[j]["index"])
    tables = {}
    for kind, col in (("sentences", 1), ("articles", 2)):
        parts, places, base = [], [], 0
        for j in order:
            ds = datasets.load_from_disk(str(folders[j] / kind))
            start = base
            for k, *counts in shards[j]["chunks"]:
                places.append((k, start, counts[col - 1]))
                start += counts[col - 1]
            if start - base != len(ds):
                raise OutputError(f"{folders[j]}: {kind} has {len(ds)} rows, its run.json lists {start - base}")
            parts.append(ds)
            base += len(ds)
        whole = datasets.concatenate_datasets(parts)
        rows = [i for _, start, cnt in sorted(places) for i in range(start, start + cnt)]
        merged = whole.select(rows)
        merged.info.description = infos[0]["signature"]
        save_dataset_atomic(merged, out / kind, scratch)
        tables[kind] = datasets.load_from_disk(str(out / kind))
    first = infos[order[0]]
    fmts = formats if formats is not None else first["config"].get("formats", [])
    for fmt in fmts:
        for kind, ds in tables.items():
            export(ds, out / f"{kind}.{fmt}", fmt)
    errors, seen = [], set()
    for j in order:
        for e in infos[j]["errors"]:
            key = (e["where"], e["message"])
            if key not in seen:
                seen.add(key)
                errors.append(e)
    info = dict(first)
    info.pop("shard", None)
    info["config"] = dict(first["config"], num_shards=1, shard_index=0, output=str(out), formats=fmts)
    info["counts"] = {k: sum(i["counts"][k] for i in infos) for k in ("articles", "sentences", "lm_tokens")}
    info["counts"]["input_errors"] = sum(1 for e in errors if not e["warning"])
    info["counts"]["input_warnings"] = sum(1 for e in errors if e["warning"])
    info["errors"] = errors
    info["merged_from"] = [str(folders[j]) for j in order]
    t = [i.get("timings", {}) for i in infos]
    score_s = sum(x.get("score_s", 0) for x in t)
    info["timings"] = {"score_s": round(score_s, 3), "total_s": round(sum(x.get("total_s", 0) for x in t), 3),
                       "sentences_per_s": round(info["counts"]["sentences"] / score_s, 2) if score_s else None,
                       "tokens_per_s": round(info["counts"]["lm_tokens"] / score_s, 1) if score_s else None}
    write_json_atomic(out / "run.json", info)
    for p in scratch.iterdir():
        if p.name != "lock":  # the lock goes when it is released
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    return {"run_info": info, **tables}


def run(args: argparse.Namespace) -> int:
    result = merge([Path(s) for s in args.shards], Path(args.output), args.overwrite, args.formats)
    c = result["run_info"]["counts"]
    print(f"Merged {len(args.shards)} shard output(s) into {args.output}: {c['articles']} article(s), "
          f"{c['sentences']} sentence(s).", file=sys.stdout)
    return 0
