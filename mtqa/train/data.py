"""Training/report data: gold files, their splits and seeded subsamples.

Splits (never evaluate on what was trained on):

* MLQE-PE DA: the ``*-train`` tarballs are training data, ``*-dev`` are report data.
* MQM TED (WMT21) and newstest2021 (WMT QE 23 spans) have no official split: documents are
  shuffled with the seed and the first ``train_docs`` share (default 80%) goes to training,
  the rest is held out (``split: heldout``). The split is by document (``doc`` field), so
  no held-out segment shares a document with a training one.
* WMT QE 2022 zh-en dev is report data only.

Several draws from one file may be listed (same ``name``, another ``seed``; give
``split_seed`` so the document split stays that of the first draw); ``mtqa train`` drops
the duplicates.

Subsampling: ``n`` records drawn without replacement by ``numpy.random.default_rng(seed)``
from the split, in file order before the draw, so a spec always selects the same rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, asdict
from typing import Literal

import numpy as np

from mtqa.evaluate.gold import GoldRecord, load_gold
from mtqa.evaluate.gold.common import no_major_error


@dataclass(frozen=True)
class DataSpec:
    name: str
    path: str
    format: str = "auto"
    score: str | None = None  # gold score (default: the format's)
    group: str | None = None  # field that defines a normalisation group (e.g. lp); None: whole set
    split: Literal["all", "train", "heldout"] = "all"
    train_docs: float = 0.8
    n: int | None = None  # subsample size (None: all)
    seed: int = 0
    with_source: bool = True
    split_seed: int | None = None  # seed of the document split (default: ``seed``)

    def key(self) -> str:
        d = asdict(self)
        if d["split_seed"] is None:
            d.pop("split_seed")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Example:
    id: str
    text: str
    source: str | None
    gold: float
    group: str
    no_major: float | None = None  # 1.0 when MQM raters found no major error; None for DA
    fields: dict = field(default_factory=dict)


def doc_split(docs: list[str], seed: int, train_share: float) -> set[str]:
    """The training documents: a seeded shuffle of the sorted distinct documents."""
    uniq = sorted(set(docs))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    k = int(round(train_share * len(uniq)))
    return {uniq[i] for i in order[:k]}


def load_examples(spec: DataSpec) -> list[Example]:
    gold = load_gold(spec.path, spec.format, score=spec.score)
    score = gold.default_score
    recs: list[GoldRecord] = [r for r in gold.records if r.text and r.text.strip()
                              and not math.isnan(r.scores.get(score, math.nan))]
    if spec.split != "all":
        split_seed = spec.seed if spec.split_seed is None else spec.split_seed
        train_docs = doc_split([r.fields.get("doc", "") for r in recs], split_seed, spec.train_docs)
        want_train = spec.split == "train"
        recs = [r for r in recs if (r.fields.get("doc", "") in train_docs) == want_train]
    if spec.n is not None and spec.n < len(recs):
        rng = np.random.default_rng(spec.seed + 1)
        idx = sorted(rng.choice(len(recs), size=spec.n, replace=False).tolist())
        recs = [recs[i] for i in idx]
    out = []
    for r in recs:
        # records without a finite score were left out above, so the shared label is exactly
        # the one this path always used
        no_major = no_major_error(r, gold)
        out.append(Example(r.id, r.text, r.source if spec.with_source else None, float(r.scores[score]),
                           r.fields.get(spec.group, "") if spec.group else spec.name, no_major, dict(r.fields)))
    return out
