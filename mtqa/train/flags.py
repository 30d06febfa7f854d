"""A census of the artefact flags over the whole corpus (model-free, resumable).

The MT detector weighs each artefact flag by how much more often it fires on machine than on
human sentences (:func:`mtqa.train.detector.fit_flag_weights`). Flags are rare (a few per
ten thousand sentences), so their rates need the whole corpus, not only the rows whose LM
features were extracted; and the rule-based flags need no model, so the whole corpus costs
minutes, not hours:

    python -m mtqa.train.flags ../shared/data -o FLAGS.jsonl

One JSON line per corpus item: ``key``, ``set``, ``system``, ``doc``, ``machine``, ``flags``
(the rule flags of :class:`mtqa.signals.artefacts.ArtefactSignal`, with the item's article
around it, exactly as in ``mtqa score``; the LM-based ``word_order`` flag is not in it).
A stopped census resumes: items already written are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mtqa.train.corpus import articles, load_corpus


def census(data: str | Path, out: str | Path, *, batch: int = 200, log=lambda m: print(m, file=sys.stderr)) -> int:
    from mtqa.signals.artefacts import ArtefactSignal
    from mtqa.train.extract import _mtqa_articles

    out = Path(out)
    done: set[str] = set()
    if out.is_file():
        for line in out.read_text(encoding="utf-8").splitlines():
            try:
                done.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                pass  # a line cut by a kill: written again below
    arts = [a for a in articles(load_corpus(data)) if any(it.key not in done for it in a.items)]
    log(f"flags: {len(done)} items done, {sum(len(a.items) for a in arts)} to do")
    sig = ArtefactSignal()
    t0 = time.perf_counter()
    n = 0
    with open(out, "a", encoding="utf-8") as f:
        for i in range(0, len(arts), batch):
            part = arts[i:i + batch]
            o = sig.compute(_mtqa_articles(part))
            k = 0
            for ca in part:
                for it in ca.items:
                    fl = sorted(set(o.flags[k])) if o.flags else []
                    k += 1
                    if it.key in done:
                        continue
                    f.write(json.dumps({"key": it.key, "set": it.set, "system": it.system, "doc": it.doc,
                                        "machine": it.machine, "flags": fl}, ensure_ascii=False) + "\n")
                    n += 1
            f.flush()
            log(f"  {min(i + batch, len(arts))}/{len(arts)} articles, {time.perf_counter() - t0:.0f}s")
    return n


def load_census(path: str | Path) -> list[dict]:
    rows, seen = [], set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r["key"] not in seen:
            seen.add(r["key"])
            rows.append(r)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="the shared data folder (../shared/data)")
    p.add_argument("-o", "--out", required=True, help="JSONL file (appended to; resumes)")
    a = p.parse_args(argv)
    census(a.data, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
