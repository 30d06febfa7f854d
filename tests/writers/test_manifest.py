"""What identifies a chunk's input for resuming (:mod:`mtqa.writers.manifest`)."""

from __future__ import annotations

from mtqa.types import Article
from mtqa.writers import chunk_digest


def test_chunk_digest_covers_every_input_field():
    base = [Article("a", "Text one.", "f:row 1", source="Quelle", reference="Ref")]
    d = chunk_digest(base)
    assert d == chunk_digest([Article("a", "Text one.", "f:row 1", source="Quelle", reference="Ref")])
    for changed in (Article("b", "Text one.", "f:row 1", "Quelle", "Ref"), Article("a", "Text one!", "f:row 1", "Quelle", "Ref"),
                    Article("a", "Text one.", "g:row 1", "Quelle", "Ref"), Article("a", "Text one.", "f:row 1", None, "Ref"),
                    Article("a", "Text one.", "f:row 1", "Quelle", "")):
        assert chunk_digest([changed]) != d
    # no ambiguity between field boundaries
    assert chunk_digest([Article("ab", "c", "o")]) != chunk_digest([Article("a", "bc", "o")])
