"""The tokenizer of a model folder converted by mtqa, without transformers.

``AutoTokenizer`` rebuilds Gemma's tokenizer through its Python class (4.5 s against 1.7 s on
a busy 2-core machine), and even ``PreTrainedTokenizerFast`` costs importing transformers'
tokenizer stack (0.7 s). The folder's ``tokenizer.json`` holds the whole pipeline
(normaliser, pre-tokeniser, BPE model, post-processor); mtqa encodes batches of texts and
reads ids, character offsets, the special tokens' ids and the vocabulary size, which
:class:`FastTokenizer` gives from two interchangeable encoders:

* :class:`mtqa.models.bpe.CompiledBPE`: the same BPE in Python over a compact compiled form
  (loaded in ~0.15 s; 1.3-8 µs a token, less as its cache of words fills);
* a ``tokenizers.Tokenizer`` read from the JSON (1.0-1.3 s to read, holding Python's lock: in
  a thread next to importing torch the two took longer together than one after the other;
  <1 µs a token, batches in parallel).

They give the same ids and offsets (``tests/models/test_bpe.py``). :class:`FastTokenizer`
starts with the compiled form. Where the model runs on the CPU it keeps it: a token costs the
model ~5 ms there, and the pipeline encodes each token about five times (the base pass, the
word-order search's reorderings), 7-40 µs: under 1% of a job, less than reading the JSON
(1 s) costs any job shorter than a few minutes. On a GPU a token costs the model ~50 µs, so
there it switches to ``tokenizers`` once encoding has cost as much time as reading it would
(:data:`SWITCH_S`; the rent-or-buy rule: never more than twice the better choice made in
hindsight). :class:`~mtqa.models.lm.CausalLM` passes ``switch_s`` by device to :func:`load_tokenizer`.
``tests/models/test_lm.py`` checks the whole against ``AutoTokenizer`` on the embedded model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

_SPECIAL = ("bos", "eos", "pad", "unk")
#: seconds of compiled-form encoding after which ``tokenizers`` is loaded (about what loading it costs)
SWITCH_S = 1.0


class FastTokenizer:
    """What mtqa asks of a transformers fast tokenizer: a compiled BPE first, ``tokenizers`` for long jobs."""

    is_fast = True

    def __init__(self, tok=None, special_tokens: dict[str, str] | None = None, *, compiled=None,
                 json_path: Path | None = None, switch_s: float | None = SWITCH_S):
        """``tok``: a ``tokenizers.Tokenizer`` (or None: read from ``json_path`` when needed);
        ``compiled``: a :class:`~mtqa.models.bpe.CompiledBPE` of the same file, or None;
        ``switch_s``: seconds of compiled encoding before ``tokenizers`` takes over (None: never)."""
        self._tok = tok
        self._compiled = compiled if tok is None else None
        self._json_path = json_path
        self._compiled_s = 0.0  # time the compiled form has spent encoding
        self.switch_s = switch_s
        special_tokens = special_tokens or {}
        for name in _SPECIAL:
            token = special_tokens.get(f"{name}_token")
            setattr(self, f"{name}_token_id", self._lookup().token_to_id(token) if token else None)
        self._size = (self._compiled.size if self._compiled is not None
                      else self._tok.get_vocab_size(with_added_tokens=True))

    def _lookup(self):
        return self._compiled if self._compiled is not None else self._tok

    @property
    def backend(self) -> str:
        """Which encoder answers now: ``compiled`` or ``tokenizers``."""
        return "compiled" if self._compiled is not None else "tokenizers"

    def _switch(self) -> None:
        from tokenizers import Tokenizer

        try:
            self._tok = Tokenizer.from_file(str(self._json_path))
        except Exception:  # noqa: BLE001 - the file went away or broke mid-job: the compiled form goes on
            self._compiled_s = float("-inf")  # and nothing tries again
            return
        self._compiled = None

    def __call__(self, texts: str | Sequence[str], add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False) -> dict:
        """``{"input_ids": [...], "offset_mapping": [...]}`` per text (one text: not nested), as transformers gives them."""
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        if self._compiled is not None and self.switch_s is not None and self._compiled_s > self.switch_s:
            self._switch()
        if self._compiled is not None:
            t = time.perf_counter()
            encs = [self._compiled.encode(x, add_special_tokens) for x in batch]
            self._compiled_s += time.perf_counter() - t
            out = {"input_ids": [ids for ids, _ in encs]}
            if return_offsets_mapping:
                out["offset_mapping"] = [offs for _, offs in encs]
        else:
            encs = self._tok.encode_batch(batch, add_special_tokens=add_special_tokens)
            out = {"input_ids": [e.ids for e in encs]}
            if return_offsets_mapping:
                out["offset_mapping"] = [e.offsets for e in encs]
        return {k: v[0] for k, v in out.items()} if single else out

    def __len__(self) -> int:
        return self._size


def load_tokenizer(folder: str | Path, *, compiled: bool = True,
                   switch_s: float | None = SWITCH_S) -> FastTokenizer | None:
    """The tokenizer of a folder converted by mtqa (``mtqa-model.json`` next to a ``tokenizer.json``);
    None for any other folder, or when its files cannot be read this way (the caller then uses
    ``AutoTokenizer``). ``compiled=False``: ``tokenizers`` from the start; ``switch_s``: see
    :class:`FastTokenizer` (None for a model on the CPU: the compiled form throughout)."""
    folder = Path(folder)
    path = folder / "tokenizer.json"
    if not ((folder / "mtqa-model.json").is_file() and path.is_file()):
        return None
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    special = {k: v for k, v in cfg.items() if k.endswith("_token") and isinstance(v, str)}
    if compiled:
        from mtqa.models.bpe import load_compiled

        bpe = load_compiled(path)
        # every special token the config names must be one the compiled form knows (an added token)
        if bpe is not None and all(bpe.token_to_id(t) is not None for t in special.values()):
            return FastTokenizer(None, special, compiled=bpe, json_path=path, switch_s=switch_s)
    from tokenizers import Tokenizer

    return FastTokenizer(Tokenizer.from_file(str(path)), special, json_path=path)
