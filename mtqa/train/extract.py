"""Resumable feature extraction over the whole corpus (``mtqa.train.corpus``) into a cache.

For every item the pipeline's own target-side signals are run exactly as ``mtqa score``
runs them (LM statistics, the word-order search, the artefact rules, with the item's
article around it), and three things the learned heads need are kept from the base LM
pass: the token log-probabilities and entropies (float16) and the mean of the last
hidden states over the sentence's tokens (float16, the pooled representation the detector
reads; the base pass computes it anyway).

The cache is a folder of chunks, ``chunk-00000.npz`` + ``chunk-00000.jsonl``; a chunk is
written whole (temporary name, then rename) and never recomputed, so a killed extraction
resumes where it stopped, and re-fitting a head reads only the cache (seconds).

    python -m mtqa.train.extract ../shared/data -o ~/.cache/mtqa/features/gemma-3-270m

Articles are visited round-robin over the data sets, so an extraction stopped early still
covers every set.

A cache can be *extended* with more rows of some sets only (e.g. the MLQE-PE training sets,
which the main order visits last):

    python -m mtqa.train.extract ../shared/data -o FEATURES --sets mlqe-train --after 130

visits only those sets, leaves out every item the main order puts in its first 130 chunks
(cached already), and writes ``chunk-mlqe-train-after130-00000`` etc. into the same folder:
another resumable sequence next to the main one. :func:`mtqa.train.cache.load_features` reads every chunk of
the folder and keeps the first copy of a key (should the main extraction later reach the same
items).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from mtqa.train.corpus import CorpusArticle, articles, interleave, load_corpus, selected

TARGET_SIGNALS_VERSION = "1"
#: the signals the cache holds (registry names; the with-source ones: ``mtqa.train.extract_source``)
TARGET_SIGNALS: tuple[str, ...] = ("lm", "word_order", "artefacts")


def _mtqa_articles(batch: list[CorpusArticle]):
    from mtqa.types import Article, Sentence

    out = []
    for ca in batch:
        texts = [" ".join(it.text.split()) for it in ca.items]
        full = "\n".join(texts)
        art = Article(ca.key, full, ca.key)
        pos = 0
        for j, t in enumerate(texts):
            art.sentences.append(Sentence(ca.key, j, j, pos, pos + len(t), t))
            pos += len(t) + 1
        out.append(art)
    return out


class Extractor:
    def __init__(self, model: str = "gemma-3-270m", dtype: str = "bfloat16", threads: int | None = None):
        from mtqa.config import JobConfig
        from mtqa.models import resolve
        from mtqa.models.lm import CausalLM
        from mtqa.signals.registry import build

        resolved = resolve(model, log=lambda m: print(m, file=sys.stderr))
        self.model = resolved
        # hidden states kept: the detector pools them, the word-order search reads them
        self.lm = CausalLM(resolved.path, device="cpu", dtype=dtype, threads=threads, keep_hidden=True)
        # the target-side signals, built from the registry as a job with default settings builds them
        self.signals = build(TARGET_SIGNALS, JobConfig(signals=list(TARGET_SIGNALS)), self.lm)

    def signature(self) -> str:
        return "|".join([f"extract:{TARGET_SIGNALS_VERSION}", self.model.name, self.model.weights_sha256[:12],
                         str(self.lm.dtype)] + [s.signature() for s in self.signals])

    def run(self, batch: list[CorpusArticle]) -> tuple[dict[str, np.ndarray], list[dict]]:
        arts = _mtqa_articles(batch)
        self.lm.clear_cache()
        n = sum(len(a.sentences) for a in arts)
        cols: dict[str, list] = {}
        flags: list[list[str]] = [[] for _ in range(n)]
        for sig in self.signals:
            out = sig.compute(arts)
            cols.update(out.columns)
            for i in range(n):
                for f in (out.flags[i] if out.flags else ()):
                    if f not in flags[i]:
                        flags[i].append(f)
                for sp in (out.spans[i] if out.spans else ()):
                    if sp.label not in flags[i] and sp.label == "lm_spike":
                        flags[i].append("lm_spike")
        texts = [s.text for a in arts for s in a.sentences]
        scores = self.lm.score(texts)
        pooled = np.stack([ts.hidden.astype(np.float32).mean(0) if ts.hidden is not None and len(ts.hidden)
                           else np.zeros(self.lm.model.config.hidden_size, np.float32) for ts in scores]).astype(np.float16)
        lengths = np.array([len(ts.logprobs) for ts in scores], np.int32)
        lp = np.concatenate([ts.logprobs for ts in scores]).astype(np.float16) if lengths.sum() else np.zeros(0, np.float16)
        ent = np.concatenate([ts.entropies for ts in scores]).astype(np.float16) if lengths.sum() else np.zeros(0, np.float16)
        arrays = {"pooled": pooled, "tok_len": lengths, "tok_logprob": lp, "tok_entropy": ent}
        meta = []
        k = 0
        for ca in batch:
            for it in ca.items:
                row = it.as_dict()
                row["key"] = it.key
                row["flags"] = flags[k]
                for name, values in cols.items():
                    v = values[k]
                    row[name] = None if isinstance(v, float) and v != v else v
                meta.append(row)
                k += 1
        return arrays, meta


def chunk_articles(arts: list[CorpusArticle], size: int) -> list[list[CorpusArticle]]:
    out, cur, n = [], [], 0
    for a in arts:
        cur.append(a)
        n += len(a.items)
        if n >= size:
            out.append(cur)
            cur, n = [], 0
    if cur:
        out.append(cur)
    return out


def _done(out: Path, k: int, batch: list[CorpusArticle], prefix: str = "chunk-") -> bool:
    """Chunk ``k`` is cached, and holds exactly this batch's items (else it is recomputed)."""
    path = out / f"{prefix}{k:05d}.jsonl"
    if not path.is_file():
        return False
    keys = [json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return keys == [it.key for a in batch for it in a.items]


def ordered_articles(data: str | Path, sets=None) -> list[CorpusArticle]:
    arts = articles(load_corpus(data, sets))
    groups: dict[str, list[CorpusArticle]] = {}
    for a in arts:
        groups.setdefault(a.key.split("|")[0], []).append(a)
    return list(interleave(groups))


def chunk_prefix(sets=None, after: int = 0) -> str:
    """File-name prefix of a chunk sequence: ``chunk-`` for the main order over all sets,
    ``chunk-<sets>-after<K>-`` for an extension (:func:`extract` with ``sets``)."""
    if sets is None:
        return "chunk-"
    return f"chunk-{'+'.join(sorted(sets))}-after{after}-"


def extension_batches(data: str | Path, sets, after: int, chunk: int) -> list[list[CorpusArticle]]:
    """The chunks of an extension: the articles of ``sets`` in their visit order, less the items
    the main order (all sets) puts in its first ``after`` chunks. Both come from one read of the
    corpus: the main order restricted to some sets is their own visit order (a merge by each
    set's progress, :func:`~mtqa.train.corpus.interleave`)."""
    main = ordered_articles(data)
    done = {it.key for b in chunk_articles(main, chunk)[:after] for a in b for it in a.items}
    arts = []
    for a in main:
        keep = [it for it in a.items if it.key not in done] if selected(a.items[0].set, sets) else []
        if keep:
            arts.append(CorpusArticle(a.key, keep))
    return chunk_articles(arts, chunk)


def extract(data: str | Path, out: str | Path, *, sets=None, after: int = 0, chunk: int = 256,
            model: str = "gemma-3-270m", dtype: str = "bfloat16", threads: int | None = None,
            max_chunks: int | None = None) -> None:
    """Extract the main order (all sets) into ``out``, resumably; with ``sets``, an extension:
    those sets only, less what the main order's first ``after`` chunks hold."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = chunk_prefix(sets, after)
    if sets is None:
        if after:
            raise SystemExit("--after needs --sets (it makes an extension of the main order)")
        batches = chunk_articles(ordered_articles(data), chunk)
    else:
        batches = extension_batches(data, sets, after, chunk)
    todo = [k for k in range(len(batches)) if not _done(out, k, batches[k], prefix)]
    print(f"extract: {len(batches)} chunks, {len(todo)} to do -> {out}", file=sys.stderr, flush=True)
    if not todo:
        return
    ex = Extractor(model, dtype, threads)
    sig_path = out / "signature.txt"
    if sig_path.is_file() and sig_path.read_text().strip() != ex.signature():
        raise SystemExit(f"{out} holds features of other signals ({sig_path.read_text().strip()}); use another folder")
    sig_path.write_text(ex.signature() + "\n")
    t0 = time.perf_counter()
    for j, k in enumerate(todo[:max_chunks] if max_chunks else todo):
        t = time.perf_counter()
        arrays, meta = ex.run(batches[k])
        name = f"{prefix}{k:05d}"
        tmp = out / f".{name}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, out / f"{name}.npz")
        tmpj = out / f".{name}.tmp.jsonl"
        tmpj.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in meta), encoding="utf-8")
        os.replace(tmpj, out / f"{name}.jsonl")
        dt = time.perf_counter() - t
        print(f"{name} ({len(meta)} items, {int(arrays['tok_len'].sum())} tokens) {dt:.1f}s "
              f"[{j + 1}/{len(todo)}, {time.perf_counter() - t0:.0f}s]", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="the shared data folder (../shared/data)")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--sets", nargs="*", help="extend the cache with these sets only (default: the main order, all sets)")
    p.add_argument("--after", type=int, default=0,
                   help="with --sets: leave out the items of the main order's first AFTER chunks (cached already)")
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--threads", type=int)
    p.add_argument("--max-chunks", type=int)
    a = p.parse_args(argv)
    extract(a.data, a.out, sets=a.sets, after=a.after, chunk=a.chunk, model=a.model, dtype=a.dtype, threads=a.threads,
            max_chunks=a.max_chunks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
