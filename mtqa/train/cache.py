"""Reading a feature cache: what the three extraction passes wrote, merged per row.

A cache folder (``python -m mtqa.train.extract``, then ``extract_xling`` and
``extract_source``) holds, per target chunk, ``chunk-K.jsonl``/``.npz`` (the target signals,
token log-probs and entropies, pooled states: :mod:`mtqa.train.extract`), ``source-K.jsonl``/
``.npz`` (the with-source columns and pooled conditioned states:
:mod:`mtqa.train.extract_source`) and ``xling-NNNNN.npz`` (e5 embeddings of the texts:
:mod:`mtqa.train.extract_xling`). The passes write; this module alone reads, so the fits,
benchmarks and the passes themselves (which read what is done) share one reader and the
writers do not import each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np


def wanted(row: dict) -> bool:
    """Rows the with-source head trains or is reported on: judged MT with a source (what the
    source and xling passes cover)."""
    return row.get("machine") == 1 and row.get("gold") is not None and bool((row.get("source") or "").strip())


def vector_lookups(meta: Sequence[dict], arrays: dict) -> dict[str, dict]:
    """Per vector the quality model's state heads read (``lm_pooled``, ``src_pooled``,
    ``xling_pair``): key -> that row's vector, from a loaded cache (:func:`load_features`)."""
    lm_pooled = dict(zip((r["key"] for r in meta), arrays["pooled"])) if len(arrays.get("pooled", ())) else {}
    return {"lm_pooled": lm_pooled, "src_pooled": arrays.get("src_pooled") or {},
            "xling_pair": arrays.get("xling_pair") or {}}


def load_features(folder: str | Path, *, xling_pairs: bool = True) -> tuple[list[dict], dict[str, np.ndarray]]:
    """All cached chunks, the main order's first, then each extension's (file-name order):
    (meta rows, arrays with per-item rows; token arrays as ``tok_logprob``/``tok_entropy``
    lists of per-item arrays; ``src_pooled``: key -> the source pass's pooled states;
    ``xling_pair``: key -> the ``xling`` signal's pair vector, :mod:`mtqa.train.extract_xling`). A key
    cached twice (an extension and a later main chunk) is kept once, first copy. Meta rows
    carry the with-source columns where :mod:`mtqa.train.extract_source` has written them.
    ``xling_pairs=False`` leaves ``xling_pair`` empty (the embedding pass itself reads only
    the meta rows and the embeddings)."""
    folder = Path(folder)
    meta: list[dict] = []
    pooled, lps, ents = [], [], []
    seen: set[str] = set()
    main_first = lambda p: (not p.name[len("chunk-")].isdigit(), p.name)  # noqa: E731 - extensions after
    for p in sorted(folder.glob("chunk-*.jsonl"), key=main_first):
        z = np.load(p.with_suffix(".npz"))
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        lens = z["tok_len"]
        if len(rows) != len(lens):
            raise ValueError(f"{p}: {len(rows)} rows but {len(lens)} feature rows")
        cuts = np.cumsum(lens)[:-1]
        keep = [i for i, r in enumerate(rows) if r["key"] not in seen]
        seen.update(rows[i]["key"] for i in keep)
        lp_rows = np.split(z["tok_logprob"].astype(np.float32), cuts)
        ent_rows = np.split(z["tok_entropy"].astype(np.float32), cuts)
        lps += [lp_rows[i] for i in keep]
        ents += [ent_rows[i] for i in keep]
        pooled.append(z["pooled"].astype(np.float32)[keep])
        meta += [rows[i] for i in keep]
    # the with-source columns, where a source pass wrote them
    with_source = load_source_rows(folder, {r["key"]: r["source"] for r in meta if r.get("source")})
    for r in meta:
        r.update(with_source.get(r["key"], ()))
    arrays = {"pooled": np.concatenate(pooled) if pooled else np.zeros((0, 0), np.float32),
              "tok_logprob": lps, "tok_entropy": ents,
              # key -> the source pass's pooled conditioned states (rows it covered)
              "src_pooled": load_source_pooled(folder),
              # key -> the xling signal's pair vector, where mtqa.train.extract_xling embedded both texts
              "xling_pair": load_xling_pairs(folder, meta) if xling_pairs else {}}
    return meta, arrays


def load_source_pooled(folder: str | Path) -> dict[str, np.ndarray]:
    """key -> the pooled conditioned states (float32, flattened) the source pass kept."""
    out: dict[str, np.ndarray] = {}
    for p in sorted(Path(folder).glob("source-*.npz")):
        z = np.load(p)
        out.update(zip(z["keys"].tolist(), z["src_pooled"].astype(np.float32)))
    return out


def load_source_rows(folder: str | Path, sources: dict[str, str] | None = None) -> dict[str, dict]:
    """key -> the with-source columns, for every row a source pass has written. Rows written
    before ``src_lang`` existed get it from ``sources`` (key -> source text), when given, by
    the signal's own detector."""
    from mtqa.signals.artefacts.language import source_language

    out: dict[str, dict] = {}
    for p in sorted(Path(folder).glob("source-*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                key = r.pop("key")
                if "src_lang" not in r and sources is not None and key in sources:
                    r["src_lang"] = source_language(sources[key])
                out[key] = r
    return out


def load_embeddings(folder: str | Path) -> dict[str, np.ndarray]:
    """text -> embedding, from every ``xling-*.npz`` of the cache (empty without any)."""
    out: dict[str, np.ndarray] = {}
    for p in sorted(Path(folder).glob("xling-*.npz")):
        z = np.load(p)
        out.update(zip(z["texts"].tolist(), z["emb"]))
    return out


def xling_pairs_of(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(key, source, sentence) of the rows the xling pass embeds (:func:`wanted`)."""
    return [(r["key"], r["source"], r["text"]) for r in rows if wanted(r)]


def load_xling_pairs(folder: str | Path, meta: list[dict]) -> dict[str, np.ndarray]:
    """key -> ``xling_pair`` for the rows of ``meta`` whose sentence and source are both embedded."""
    from mtqa.signals.xling import pair_vector

    emb = load_embeddings(folder)
    if not emb:
        return {}
    return {key: pair_vector(emb[src], emb[tgt]) for key, src, tgt in xling_pairs_of(meta) if src in emb and tgt in emb}
