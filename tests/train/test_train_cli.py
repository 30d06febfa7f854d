"""``mtqa train`` end to end on tiny gold files made here, with the real default model."""

from __future__ import annotations

import json

import yaml

from mtqa.combine import LearnedCombiner
from mtqa.train.config import load_train_config
from mtqa.train.run import train

GOOD = ["The cat is sleeping on the sofa.", "It is raining in Paris today.", "She bought three apples.",
        "The meeting starts at nine.", "He reads a book every week.", "We are going to the beach."]
BAD = ["Cat the sofa on sleeping is.", "Raining it Paris today in is the.", "Apples three she bought the of.",
       "Nine at the starts meeting of.", "Every book he week a reads the.", "Beach the to going are we the."]


def tiny_gold(path, offset=0):
    with open(path, "w") as f:
        for i, (g, b) in enumerate(zip(GOOD, BAD)):
            f.write(json.dumps({"id": f"g{i}", "text": g, "source": "Le texte source.", "score": 1.0 + offset, "doc": f"d{i}"}) + "\n")
            bad = {"id": f"b{i}", "text": b, "score": -1.0 + offset, "doc": f"d{i}"}
            if i >= 2:
                bad["source"] = "Le texte source."
            f.write(json.dumps(bad) + "\n")


def test_train_end_to_end_is_cached_and_deterministic(tmp_path, lm):
    tiny_gold(tmp_path / "train.jsonl")
    tiny_gold(tmp_path / "dev.jsonl", 0.5)
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "model": "gemma-3-270m", "features_dir": str(tmp_path / "features"), "output": str(tmp_path / "q.json"),
        "chunk": 8, "ridge": 1.0,
        "train": [{"name": "tiny", "path": str(tmp_path / "train.jsonl")}],
        "report": [{"name": "tiny-dev", "path": str(tmp_path / "dev.jsonl")}],
    }))
    cfg = load_train_config(str(cfg_path))
    logs: list[str] = []
    first = train(cfg, lm=lm, log=logs.append, predictions_dir=str(tmp_path / "preds"))
    assert any("chunk 2/2" in line for line in logs)  # extracted in chunks
    logs.clear()
    second = train(cfg, lm=lm, log=logs.append)
    assert not any("chunk" in line for line in logs)  # all from the cache
    assert first["sha256"] == second["sha256"]
    doc = json.loads((tmp_path / "q.json").read_text())
    assert doc["heads"]["target"]["n_train"] == 12
    # fluent vs scrambled is easy: the dev report must rank them right
    rep = {r["head"]: r for r in first["report"]}
    assert rep["quality_target"]["spearman"] > 0.5
    preds = [json.loads(x) for x in (tmp_path / "preds" / "tiny-dev.jsonl").read_text().splitlines()]
    assert len(preds) == 12 and sum("quality_source" in p for p in preds) == 10
    assert LearnedCombiner.from_file(tmp_path / "q.json").signature().startswith("learned:2(")
