"""The with-source columns for a feature cache: source PMI and cross-lingual similarity.

A second, resumable pass over a cache written by :mod:`mtqa.train.extract`: for every
judged machine translation with a source (what the with-source quality head trains and is
reported on), the ``source`` signal's columns (``src_logprob``, ``src_pmi``,
``src_len_ratio`` and the per-token profile: the LM prompted with the source,
:mod:`mtqa.signals.source`), the ``source_reverse`` signal's ``src_rev_pmi``
(:mod:`mtqa.signals.source_reverse`; since version 3, for measuring it) and the
``xling`` signal's ``xling_cosine`` (:mod:`mtqa.signals.xling`). The sentence's bare
log-probability is read from the cache (the target pass computed it; float16 there, which
moves ``src_pmi`` by about 1e-3 nats), so only the conditional passes run: about 1 s a row
on 2 CPU cores for WMT22 zh-en's long segments, both directions (session 14).

``--forward-only`` leaves the reverse direction out (``src_rev_pmi`` stays empty): the
quality heads do not read it (measured and not adopted, session 14), and it is more than half
of the pass (a conditional pass over the source after the sentence, and the bare source).
A cache may hold rows of both kinds; its signature file names the reverse direction's settings
once any pass computed it. Texts the ``xling`` pass (:mod:`mtqa.train.extract_xling`) has
embedded already are not embedded again for ``xling_cosine`` (an embedding does not depend on
its batch, so the cosine is the same).

Per target chunk ``chunk-K`` it writes ``source-K.jsonl`` (one row per key; whole, via a
temporary name) and ``source-K.npz`` (the source signal's pooled conditioned states of
those rows, float16: what the quality model's with-source state head reads), so a killed
pass resumes; :func:`mtqa.train.cache.load_features` merges
the rows into the cache's meta rows.

    python -m mtqa.train.extract_source FEATURES [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

#: 2 (session 7): the source signal's per-token profile columns (``src_pmi_min`` ...) and
#: its pooled conditioned states (``source-K.npz``); 3 (session 14): the reverse direction
#: ``src_rev_pmi`` (the ``source_reverse`` signal)
SOURCE_VERSION = "3"


def _chunk_rows(path: Path) -> tuple[list[dict], list[np.ndarray]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    z = np.load(path.with_suffix(".npz"))
    bare = np.split(z["tok_logprob"].astype(np.float32), np.cumsum(z["tok_len"])[:-1])
    return rows, bare


#: the signature part of a pass that left the reverse direction out (``--forward-only``)
REVERSE_SKIPPED = "source_reverse:skipped"


def merged_signature(stored: str | None, new: str) -> str | None:
    """The signature a cache's source file should hold after a pass with signature ``new``
    over a cache whose file holds ``stored``; None when the two passes' settings differ. They
    may differ only in that one left the reverse direction out: rows of both kinds can share
    a cache (each row has ``src_rev_pmi`` or not), and the file keeps the direction's settings."""
    if stored is None or stored == new:
        return new
    a, b = stored.split("|"), new.split("|")
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b):
        if x == y or y == REVERSE_SKIPPED and x.startswith("source_reverse:"):
            out.append(x)
        elif x == REVERSE_SKIPPED and y.startswith("source_reverse:"):
            out.append(y)
        else:
            return None
    return "|".join(out)


class SourceExtractor:
    def __init__(self, lm, encoder, *, reverse: bool = True, embeddings: dict[str, np.ndarray] | None = None):
        from mtqa.signals.source import SourceSignal
        from mtqa.signals.source_reverse import SourceReverseSignal
        from mtqa.signals.xling import XlingSignal

        self.lm = lm
        self.source = SourceSignal(lm)
        self.reverse = SourceReverseSignal(lm) if reverse else None
        self.xling = XlingSignal(encoder)
        #: text -> embedding made by the xling pass (the cosine reuses them)
        self.embeddings = embeddings or {}

    def signature(self) -> str:
        rev = self.reverse.signature() if self.reverse is not None else REVERSE_SKIPPED
        return "|".join([f"extract-source:{SOURCE_VERSION}", self.source.signature(), rev, self.xling.signature()])

    def cosines(self, sources: list[str], texts: list[str]) -> np.ndarray:
        """``xling_cosine`` per pair, as the encoder's ``cosines`` computes it, embedding only the
        texts the xling pass has not."""
        if not sources:
            return np.zeros(0, np.float32)
        missing = list(dict.fromkeys(t for t in sources + texts if t not in self.embeddings))
        emb = dict(zip(missing, self.xling.encoder.embed(missing))) if missing else {}
        vec = lambda t: self.embeddings[t] if t in self.embeddings else emb[t]  # noqa: E731
        return (np.stack([vec(t) for t in sources]) * np.stack([vec(t) for t in texts])).sum(axis=1)

    def run(self, rows: list[dict], bare: list[np.ndarray], keep=lambda row: True) -> list[dict]:
        """One row of with-source columns per wanted row (that ``keep`` keeps); each carries its
        pooled conditioned states as ``src_pooled`` (float32 ``[layers, hidden]``; popped into
        the ``.npz`` file)."""
        from mtqa.signals.artefacts.language import source_language
        from mtqa.signals.source import conditional_prompt, source_columns
        from mtqa.train.cache import wanted

        idx = [i for i, r in enumerate(rows) if wanted(r) and keep(r)]
        # the target text exactly as the target pass scored it (whitespace collapsed)
        texts = [" ".join(rows[i]["text"].split()) for i in idx]
        sources = [rows[i]["source"] for i in idx]
        prompts = [conditional_prompt(s, t) for s, t in zip(sources, texts)]
        layers = self.source.pooled_layers
        cond, states = (self.lm.suffix_logprobs([p for p, _ in prompts], [k for _, k in prompts], pooled_layers=layers)
                        if idx else ([], []))
        cos = self.cosines(sources, texts)
        # every corpus item is its source's whole translation
        rev = self.reverse.reverse(sources, texts) if self.reverse is not None else [None] * len(idx)
        out = []
        for j, i in enumerate(idx):
            row = {"key": rows[i]["key"], **{c.name: None for c in self.source.columns},
                   "xling_cosine": float(cos[j]), "src_lang": source_language(sources[j])}
            row.update(source_columns(cond[j], bare[i], texts[j], sources[j]) or {})
            row["src_rev_pmi"] = rev[j]
            if layers:
                row["src_pooled"] = states[j]
            out.append(row)
        return out


def extract_source(features: str | Path, *, model: str = "gemma-3-270m", dtype: str = "float32",
                   threads: int | None = None, max_chunks: int | None = None, sets=None,
                   reverse: bool = True, shard: tuple[int, int] = (0, 1)) -> None:
    """The source pass over every target chunk of ``features``. With ``sets`` (names as in
    :func:`mtqa.train.corpus.selected`) only those sets' rows, into files of their own
    (``source-<sets>-K``): a pass over the rows that matter first (the report sets, one
    language pair) that a later pass completes. Rows some source file holds already are
    never recomputed. ``reverse=False``: without the reverse direction (``--forward-only``).
    ``shard=(i, n)``: only every n-th pending chunk from the i-th (``--shard i/n``), for n
    processes side by side (session 17, 2 quiet cores: two processes of one thread did 5.1
    rows/s together, one of two threads 3.0)."""
    from mtqa.models import resolve
    from mtqa.models.encoder import SentenceEncoder
    from mtqa.models.lm import CausalLM
    from mtqa.train.corpus import selected
    from mtqa.train.cache import load_embeddings, load_source_rows

    folder = Path(features)
    prefix = "source-" if sets is None else f"source-{'+'.join(sorted(sets))}-"
    todo = [p for p in sorted(folder.glob("chunk-*.jsonl"))
            if not (folder / p.name.replace("chunk-", prefix)).is_file()]
    todo = shard_of(todo, *shard)
    print(f"extract-source: {len(todo)} chunks to do in {folder}", file=sys.stderr, flush=True)
    if not todo:
        return
    resolved = resolve(model, log=lambda m: print(m, file=sys.stderr))
    lm = CausalLM(resolved.path, device="cpu", dtype=dtype, threads=threads)
    ex = SourceExtractor(lm, SentenceEncoder(threads=threads), reverse=reverse, embeddings=load_embeddings(folder))
    sig = f"{resolved.name}|{resolved.weights_sha256[:12]}|{lm.dtype}|{ex.signature()}"
    sig_path = folder / "source-signature.txt"
    stored = sig_path.read_text().strip() if sig_path.is_file() else None
    merged = merged_signature(stored, sig)
    if merged is None:
        raise SystemExit(f"{folder} holds source features of other settings ({stored}), not {sig}")
    sig_path.write_text(merged + "\n")
    done = set(load_source_rows(folder))
    t0 = time.perf_counter()
    for j, path in enumerate(todo[:max_chunks] if max_chunks else todo):
        t = time.perf_counter()
        rows, bare = _chunk_rows(path)
        out = ex.run(rows, bare, keep=lambda r: r["key"] not in done and selected(r["set"], sets))
        target = folder / path.name.replace("chunk-", prefix)
        pooled = [(r["key"], r.pop("src_pooled")) for r in out if "src_pooled" in r]
        if pooled:  # the states first: a chunk counts as done when its .jsonl exists
            write_pooled(target.with_suffix(".npz"), [k for k, _ in pooled], [v for _, v in pooled])
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
        os.replace(tmp, target)
        print(f"{target.name}: {len(out)} rows {time.perf_counter() - t:.1f}s [{j + 1}/{len(todo)}, "
              f"{time.perf_counter() - t0:.0f}s]", file=sys.stderr, flush=True)


def shard_of(todo: list, index: int, count: int) -> list:
    """The part of the pending chunks that shard ``index`` of ``count`` does: every count-th.
    Shards started at the same time over the same folder never share a chunk (the pending list
    is sorted, and a chunk's file appears only when its pass is done)."""
    if not 0 <= index < count:
        raise SystemExit(f"--shard {index}/{count}: want 0 <= I < N")
    return todo[index::count]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: want I/N, e.g. 0/2") from None
    return i, n


def write_pooled(path: Path, keys: list[str], vectors: list[np.ndarray]) -> None:
    """``source-K.npz``: the keys and their pooled conditioned states (float16, flattened)."""
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, keys=np.array(keys), src_pooled=np.stack([np.asarray(v, np.float32).reshape(-1) for v in vectors])
             .astype(np.float16))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("features", help="a cache folder written by python -m mtqa.train.extract")
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int)
    p.add_argument("--max-chunks", type=int)
    p.add_argument("--sets", nargs="*", help="only these data sets' rows (e.g. wmt22dev news21 ted), in files of their own")
    p.add_argument("--forward-only", action="store_true",
                   help="leave the reverse direction (src_rev_pmi, which the quality heads do not read) out: "
                        "more than half of the pass's time")
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                   help="only every N-th pending chunk from the I-th: run N processes (0/N ... N-1/N) side by side")
    a = p.parse_args(argv)
    extract_source(a.features, model=a.model, dtype=a.dtype, threads=a.threads, max_chunks=a.max_chunks,
                   sets=a.sets, reverse=not a.forward_only, shard=a.shard)
    return 0


if __name__ == "__main__":
    sys.exit(main())
