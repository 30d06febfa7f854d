"""The tokenizer of a model folder converted by mtqa, straight from its ``tokenizer.json``.

``AutoTokenizer`` rebuilds Gemma's tokenizer through its Python class (4.5 s against 1.7 s on
a busy 2-core machine), and even ``PreTrainedTokenizerFast`` costs importing transformers'
tokenizer stack (0.7 s). The file already holds the whole pipeline (normaliser,
pre-tokeniser, BPE model, post-processor); mtqa encodes batches of texts and reads ids,
character offsets, the special tokens' ids and the vocabulary size, which
:class:`FastTokenizer` gives from a ``tokenizers.Tokenizer`` alone.
``tests/models/test_lm.py`` checks it against ``AutoTokenizer`` on the embedded model.

Reading the file still takes 1.1-1.5 s (its 514,906 merges 0.9 s, the vocabulary 0.5 s). It
holds Python's lock while it runs: read in a thread next to importing torch, the two took
longer together than one after the other (3.8-4.3 s against 3.7-3.9 s), so it is not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

_SPECIAL = ("bos", "eos", "pad", "unk")


class FastTokenizer:
    """What mtqa asks of a transformers fast tokenizer, over a ``tokenizers.Tokenizer``."""

    is_fast = True

    def __init__(self, tok, special_tokens: dict[str, str]):
        self._tok = tok
        for name in _SPECIAL:
            token = special_tokens.get(f"{name}_token")
            setattr(self, f"{name}_token_id", tok.token_to_id(token) if token else None)

    def __call__(self, texts: str | Sequence[str], add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False) -> dict:
        """``{"input_ids": [...], "offset_mapping": [...]}`` per text (one text: not nested), as transformers gives them."""
        single = isinstance(texts, str)
        encs = self._tok.encode_batch([texts] if single else list(texts), add_special_tokens=add_special_tokens)
        out = {"input_ids": [e.ids for e in encs]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encs]
        return {k: v[0] for k, v in out.items()} if single else out

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)


def load_tokenizer(folder: str | Path) -> FastTokenizer | None:
    """The tokenizer of a folder converted by mtqa (``mtqa-model.json`` next to a ``tokenizer.json``);
    None for any other folder, or when its files cannot be read this way (the caller then uses
    ``AutoTokenizer``)."""
    folder = Path(folder)
    if not ((folder / "mtqa-model.json").is_file() and (folder / "tokenizer.json").is_file()):
        return None
    from tokenizers import Tokenizer

    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    special = {k: v for k, v in cfg.items() if k.endswith("_token") and isinstance(v, str)}
    return FastTokenizer(Tokenizer.from_file(str(folder / "tokenizer.json")), special)
