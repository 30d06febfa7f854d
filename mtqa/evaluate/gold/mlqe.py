"""MLQE-PE direct assessments (DA): the ``.tar.gz`` release or the TSV inside it.

Columns ``index, original, translation, scores, mean, z_scores, z_mean, model_scores`` (the
ru-en file has ``segid`` in place of ``index``). id = ``"{lp}:{index}"``, e.g. ``ro-en:0``,
with the language pair taken from the tar member or file name (plain ``index`` when there is
none). Scores ``z_mean`` (default), ``mean``, ``model_scores``; field ``lp``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tarfile

from mtqa.evaluate.gold.common import GoldRecord, GoldSet, gold_error, open_text, to_float


def _lp_from(name: str) -> str | None:
    for part in reversed(re.split(r"[/\\]", name.lower())):
        m = re.search(r"(?<![a-z])([a-z]{2})-([a-z]{2})(?![a-z])", part)
        if m:
            return f"{m.group(1)}-{m.group(2)}"
    return None


def read_mlqe(path: str) -> GoldSet:
    lp = None
    if tarfile.is_tarfile(path):
        try:
            with tarfile.open(path) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".tsv")]
                if not members:
                    raise gold_error(path, "no .tsv file inside the archive")
                members.sort(key=lambda m: (".df." not in m.name, m.name))
                member = members[0]
                raw = tar.extractfile(member).read().decode("utf-8-sig")
                lp = _lp_from(member.name)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise gold_error(path, f"cannot read the archive: {exc}") from None
    else:
        with open_text(path) as f:
            raw = f.read()
    lp = lp or _lp_from(os.path.basename(path))
    rows = list(csv.reader(io.StringIO(raw, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise gold_error(path, "no rows")
    header = rows[0]
    id_name = "index" if "index" in header else ("segid" if "segid" in header else "index")
    need = (id_name, "original", "translation", "z_mean")
    if not all(h in header for h in need):
        raise gold_error(path, f"not an MLQE-PE TSV (need columns {', '.join(need)}; found {', '.join(header)})")
    col = {h: i for i, h in enumerate(header)}
    records = []
    bad = 0
    for n, r in enumerate(rows[1:], 2):
        if len(r) != len(header):
            bad += 1
            continue
        scores = {}
        for name in ("z_mean", "mean", "model_scores"):
            if name in col:
                v = to_float(r[col[name]])
                scores[name] = math.nan if v is None else v
        idx = r[col[id_name]].strip()
        records.append(
            GoldRecord(
                id=f"{lp}:{idx}" if lp else idx,
                text=r[col["translation"]],
                source=r[col["original"]],
                scores=scores,
                fields={"lp": lp or ""},
            )
        )
    notes = [f"{bad} malformed rows skipped"] if bad else []
    rule = f'"{{lp}}:{{{id_name}}}"' if lp else f"column '{id_name}'"
    return GoldSet(path, "mlqe", records, "z_mean", rule, len(rows) - 1, notes)
