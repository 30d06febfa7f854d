"""The cross-lingual embeddings for a feature cache: what the ``xling_state_score`` head reads.

A resumable pass over a cache written by :mod:`mtqa.train.extract` (independent of
:mod:`mtqa.train.extract_source`): every distinct sentence and source of the judged machine
translations with a source (:func:`mtqa.train.cache.wanted`) is embedded once with
the ``xling`` signal's encoder (multilingual-e5-small, :mod:`mtqa.models.encoder`; an
embedding does not depend on what else is in the batch, so these are the vectors
``mtqa score`` computes). Texts are embedded in sorted order, 1,000 to a file
``xling-NNNNN.npz`` (``texts``, ``emb`` float32; written whole, via a temporary name), so a
killed pass resumes and a grown cache embeds only its new texts. About 25 ms a text on 2 cores.

:func:`mtqa.train.cache.load_xling_pairs` turns them into each row's ``xling_pair``
(:func:`mtqa.signals.xling.pair_vector`), which :func:`mtqa.train.cache.load_features`
hands to the quality fit.

    python -m mtqa.train.extract_xling FEATURES [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

PER_FILE = 1000


def _signature(encoder) -> str:
    return "extract-xling:1|" + ",".join(f"{k}={v}" for k, v in sorted(encoder.settings().items()))


def extract_xling(features: str | Path, *, threads: int | None = None, log=print) -> int:
    """Embed the cache's texts that are not embedded yet; return how many were."""
    from mtqa.models.encoder import SentenceEncoder
    from mtqa.train.cache import load_embeddings, load_features, xling_pairs_of

    folder = Path(features)
    encoder = SentenceEncoder(threads=threads)
    sig_file, sig = folder / "xling-signature.txt", _signature(encoder)
    if sig_file.exists() and sig_file.read_text(encoding="utf-8").strip() != sig:
        raise SystemExit(f"{sig_file}: the cache's embeddings were made with other settings "
                         f"({sig_file.read_text(encoding='utf-8').strip()}), not {sig}; use a new cache")
    sig_file.write_text(sig + "\n", encoding="utf-8")
    meta, _ = load_features(folder, xling_pairs=False)  # the embeddings are read once, here
    done = load_embeddings(folder)
    todo = sorted({t for _key, src, tgt in xling_pairs_of(meta) for t in (src, tgt)} - set(done))
    log(f"xling: {len(done)} texts embedded already, {len(todo)} to go")
    first = 1 + max((int(p.stem.split("-")[1]) for p in folder.glob("xling-*.npz")), default=-1)
    t0 = time.perf_counter()
    for j, start in enumerate(range(0, len(todo), PER_FILE)):
        part = todo[start:start + PER_FILE]
        emb = encoder.embed(part).astype(np.float32)
        name = f"xling-{first + j:05d}"
        tmp = folder / f".{name}.tmp.npz"
        np.savez(tmp, texts=np.array(part, dtype=str), emb=emb)
        os.replace(tmp, folder / f"{name}.npz")
        log(f"{name}: {len(part)} texts [{start + len(part)}/{len(todo)}, {time.perf_counter() - t0:.0f}s]")
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("features", help="a cache folder written by python -m mtqa.train.extract")
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    extract_xling(args.features, threads=args.threads, log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
