"""The seed article (../shared): every clearly broken sentence, the repeated title and the
boilerplate line are flagged, and the clearly fluent sentences are not. It uses shared_file, which calls pytest.skip without ../shared."""

from __future__ import annotations

from tests.conftest import run_mtqa, shared_file

BROKEN = ("Discuss the military attitude", "Ukrainian contact groups discuss", "Announcements related to",
          "Authorities will consider what additional", "The conference will take place weeks after")
FLUENT = ("Austin and Stoltenberg will hold", "Stoltenberg will hold a press conference",
          "The NATO chief concludes", "The Ukraine Defense Liaison Group Meeting")


def test_seed_article_flags(tmp_path, default_model):
    import datasets

    seed = shared_file("seed", "sputnik-nato-brussels.txt")
    out = tmp_path / "out"
    proc = run_mtqa("score", str(seed), "-o", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = list(datasets.load_from_disk(str(out / "sentences")))
    detectors = {r["sentence_id"]: set(r["flags"]) - {"low_quality"} for r in rows}
    by_text = {r["text"]: r for r in rows}
    for prefix in BROKEN:
        (r,) = [r for t, r in by_text.items() if t.startswith(prefix)]
        assert detectors[r["sentence_id"]], prefix
    for prefix in FLUENT:
        (r,) = [r for t, r in by_text.items() if t.startswith(prefix)]
        assert not detectors[r["sentence_id"]], (prefix, r["flags"])
    assert "repeated_sentence" in rows[-2]["flags"] and "boilerplate" in rows[-1]["flags"]
    assert not detectors[0]  # the title itself, first time, is fine
    broken_q = [r["quality"] for t, r in by_text.items() if t.startswith(BROKEN[:3])]
    fluent_q = [r["quality"] for t, r in by_text.items() if t.startswith(FLUENT)]
    assert max(broken_q) < min(fluent_q)
