"""SentencePiece-style BPE (Gemma's tokenizer) in plain Python over a compiled, compact form.

Why: reading Gemma's ``tokenizer.json`` with ``tokenizers`` takes 0.9-1.3 s of every cold
start (its 514,906 merges and 262,144-word vocabulary parsed from 33 MB of JSON, holding
Python's lock), a third of a one-sentence ``mtqa score``. What the encoder needs fits in
a few numpy arrays (the merges as integer pairs, the single characters' ids, the byte
tokens, the added tokens), compiled once from the JSON and kept on disk
(``$MTQA_HOME/cache/bpe-KEY.npz``, KEY from the file's path, size and modification time): loading
them is ~0.1 s.

What it reproduces, step for step, is ``tokenizers``' pipeline for such a file (and only
such a file: :func:`compile_tokenizer` returns None for anything else, and the caller keeps
``tokenizers``):

1. added tokens matched in the raw text, leftmost-longest (all of Gemma's are literal,
   ``normalized: false``, no strip or single-word rules);
2. each remaining piece normalised by ``Replace(" " -> "▁")`` (one character for one, so
   character offsets carry over unchanged); the ``Split(" ")`` pre-tokeniser then has
   nothing left to split;
3. BPE: one symbol per character (its vocabulary id, else one ``<0xXX>`` token per UTF-8
   byte: ``byte_fallback``), then ``tokenizers``' ``Word::merge_all``: a min-heap of adjacent
   pairs ordered by (merge rank, position), stale entries skipped when the pair now there
   would make another token. ``tokenizers`` runs it over each piece whole (the pre-tokeniser
   splits nothing); here a piece is cut into word-like units first, where provably no merge
   can join them (:meth:`CompiledBPE._units`), and each unit's tokens are cached: texts
   repeat their words, and the word-order search encodes reorderings of the same words;
4. the post-processor's template (``<bos>`` + the text, special tokens at offsets (0, 0)).

Offsets are character offsets into the text, as ``tokenizers`` gives them (a byte token
covers its whole character). ``tests/models/test_bpe.py`` holds it to ``tokenizers`` on
texts in many scripts, ids and offsets.

Speed (one thread): 1.3 µs a token on the shared corpora once their words are cached, 3-8
µs before, against ``tokenizers``' 0.5 µs with two threads; memory 84 MiB against 290 MiB.
:class:`mtqa.models.tokenizer.FastTokenizer` encodes with this form (on a GPU, until encoding
has cost as much time as reading ``tokenizers``' JSON would, then with ``tokenizers``: same
ids, same offsets).
"""

from __future__ import annotations

import heapq
import io
import json
from pathlib import Path

import numpy as np

#: bump when the compiled form changes (old cache files are then not read)
FORMAT = 2
#: units (:meth:`CompiledBPE._units`) whose tokens are kept; the cache is emptied when full
UNIT_CACHE = 200_000
_SHIFT = 20  # pair key = left << _SHIFT | right; vocabularies up to 2**20 tokens


def compile_tokenizer(spec: dict) -> dict[str, np.ndarray] | None:
    """The compact arrays of a ``tokenizer.json`` (parsed), or None where its pipeline is not the one above."""
    model = spec.get("model") or {}
    norm = spec.get("normalizer") or {}
    pre = spec.get("pre_tokenizer")
    post = spec.get("post_processor") or {}
    if not (model.get("type") == "BPE" and model.get("byte_fallback") and not model.get("dropout")
            and not model.get("continuing_subword_prefix") and not model.get("end_of_word_suffix")
            and not model.get("ignore_merges")):
        return None
    if norm != {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}:
        return None
    if pre is not None and pre != {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                                   "invert": False}:
        return None
    if spec.get("truncation") or spec.get("padding"):
        return None
    added = spec.get("added_tokens") or []
    if any(t.get("normalized") or t.get("lstrip") or t.get("rstrip") or t.get("single_word") for t in added):
        return None
    vocab: dict[str, int] = model["vocab"]
    size = max(max(vocab.values(), default=-1), max((t["id"] for t in added), default=-1)) + 1
    if size > 1 << _SHIFT:
        return None
    prefix, suffix = _template(post, vocab, added)
    if prefix is None:
        return None
    merges = model.get("merges") or []
    left, right, new = (np.empty(len(merges), np.int64) for _ in range(3))
    try:
        for i, m in enumerate(merges):
            a, b = m if isinstance(m, list) else m.split(" ", 1)
            left[i], right[i], new[i] = vocab[a], vocab[b], vocab[a + b]
    except (KeyError, ValueError, TypeError):
        return None  # a merge outside the vocabulary: not a file this module can vouch for
    chars = sorted((ord(s), i) for s, i in vocab.items() if len(s) == 1)
    byte_ids = np.array([vocab.get(f"<0x{b:02X}>", -1) for b in range(256)], np.int32)
    if (byte_ids < 0).any():
        return None  # a character could end as <unk>: not reproduced here
    if np.isin(np.concatenate([left, right]), byte_ids).any():
        return None  # byte tokens that merge: CompiledBPE._units' cuts assume they never do
    return {
        "format": np.array([FORMAT]),
        "merge_keys": (left << _SHIFT) | right,  # rank = position in the list
        "merge_new": new.astype(np.int32),
        "char_codes": np.array([c for c, _ in chars], np.int32),
        # characters a vocabulary token holds right before a "▁" (CompiledBPE._units does not cut there)
        "joiners": np.array("".join(sorted({t[i - 1] for t in vocab for i in range(1, len(t))
                                            if t[i] == "▁" and t[i - 1] != "▁"}))),
        "char_ids": np.array([i for _, i in chars], np.int32),
        "byte_ids": byte_ids,
        "added_text": np.array([t["content"] for t in added], dtype=str),
        "added_ids": np.array([t["id"] for t in added], np.int32),
        "prefix": np.array(prefix, np.int32),
        "suffix": np.array(suffix, np.int32),
        "size": np.array([size]),
    }


def _template(post: dict, vocab: dict, added: list) -> tuple[list | None, list | None]:
    """The single-text template's special ids before and after the text (None: not a plain template)."""
    if not post:
        return [], []
    if post.get("type") != "TemplateProcessing":
        return None, None
    ids = {t["content"]: t["id"] for t in added} | vocab
    before: list[int] = []
    after: list[int] = []
    seen_text = False
    for part in post.get("single", []):
        if "Sequence" in part:
            if seen_text or part["Sequence"].get("id") != "A":
                return None, None
            seen_text = True
        elif "SpecialToken" in part:
            name = part["SpecialToken"]["id"]
            toks = post.get("special_tokens", {}).get(name, {}).get("ids")
            toks = toks if toks is not None else ([ids[name]] if name in ids else None)
            if toks is None:
                return None, None
            (after if seen_text else before).extend(toks)
        else:
            return None, None
    return (before, after) if seen_text else (None, None)


def save_compiled(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class CompiledBPE:
    """Encodes texts like ``tokenizers`` does for the files :func:`compile_tokenizer` accepts."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        keys = arrays["merge_keys"]
        self._merges: dict[int, int] = dict(zip(keys.tolist(), range(len(keys))))
        self._new: list[int] = arrays["merge_new"].tolist()
        self._chars: dict[str, int] = dict(zip(map(chr, arrays["char_codes"].tolist()), arrays["char_ids"].tolist()))
        self._bytes: list[int] = arrays["byte_ids"].tolist()
        self._added: dict[str, int] = dict(zip(arrays["added_text"].tolist(), arrays["added_ids"].tolist()))
        # added tokens by first character: the lengths to try there, longest first
        by_first: dict[str, set[int]] = {}
        for t in self._added:
            if t:
                by_first.setdefault(t[0], set()).add(len(t))
        self._first = {c: sorted(ls, reverse=True) for c, ls in by_first.items()}
        self._joiners = set(str(arrays["joiners"]))
        self._unit_cache: dict[str, tuple] = {}
        self._prefix: list[int] = arrays["prefix"].tolist()
        self._suffix: list[int] = arrays["suffix"].tolist()
        self.size = int(arrays["size"][0])

    def token_to_id(self, token: str) -> int | None:
        """The id of an added token (Gemma's special tokens are); None for any other string."""
        return self._added.get(token)

    @classmethod
    def from_file(cls, path: str | Path) -> "CompiledBPE":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if int(arrays["format"][0]) != FORMAT:
            raise ValueError(f"{path}: compiled tokenizer format {int(arrays['format'][0])}, not {FORMAT}")
        return cls(arrays)

    def encode(self, text: str, add_special_tokens: bool = True) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and character offsets of one text."""
        ids: list[int] = []
        offs: list[tuple[int, int]] = []
        if add_special_tokens:
            ids += self._prefix
            offs += [(0, 0)] * len(self._prefix)
        start = 0
        for pos, end, tid in self._added_matches(text):
            if pos > start:
                self._bpe(text, start, pos, ids, offs)
            ids.append(tid)
            offs.append((pos, end))
            start = end
        if start < len(text):
            self._bpe(text, start, len(text), ids, offs)
        if add_special_tokens:
            ids += self._suffix
            offs += [(0, 0)] * len(self._suffix)
        return ids, offs

    def _added_matches(self, text: str):
        """(start, end, id) of the added tokens in ``text``, leftmost-longest, not overlapping."""
        first = self._first
        if not any(c in text for c in first):
            return
        i, n = 0, len(text)
        while i < n:
            lengths = first.get(text[i])
            if lengths:
                for ln in lengths:
                    tid = self._added.get(text[i:i + ln]) if i + ln <= n else None
                    if tid is not None:
                        yield i, i + ln, tid
                        i += ln
                        break
                else:
                    i += 1
            else:
                i += 1

    def _bpe(self, text: str, a: int, b: int, ids: list[int], offs: list[tuple[int, int]]) -> None:
        """BPE of ``text[a:b]`` (normalised: " " -> "▁"), appended to ``ids``/``offs``, unit by unit
        (:meth:`_units`), each unit's tokens cached."""
        norm = text[a:b].replace(" ", "▁")
        cache = self._unit_cache
        for u0, u1 in self._units(norm):
            unit = norm[u0:u1]
            done = cache.get(unit)
            if done is None:
                done = self._bpe_unit(unit)
                if len(cache) >= UNIT_CACHE:
                    cache.clear()
                cache[unit] = done
            at = a + u0
            for tid, lo, hi in done:
                ids.append(tid)
                offs.append((at + lo, at + hi))

    def _units(self, norm: str):
        """Spans of ``norm`` that BPE can treat apart: it is cut before every "▁" that follows
        another character, except where a vocabulary token holds that character followed by
        "▁" (Gemma: only ">▁</"). A merge makes a vocabulary token, so no merge can join two
        units, and each unit's tokens are those of the whole text (``tests/models/test_bpe.py``)."""
        cuts = [0]
        find = norm.find
        i = find("▁", 1)
        while i != -1:
            prev = norm[i - 1]
            if prev != "▁" and prev not in self._joiners:
                cuts.append(i)
            i = find("▁", i + 1)
        cuts.append(len(norm))
        return zip(cuts[:-1], cuts[1:])

    def _bpe_unit(self, unit: str) -> tuple[tuple[int, int, int], ...]:
        """(id, start, end) of the tokens of one unit, offsets within it."""
        chars, nbytes = self._chars, self._bytes
        sym: list[int] = []
        lo: list[int] = []  # character span of each symbol
        hi: list[int] = []
        for p, ch in enumerate(unit):
            tid = chars.get(ch)
            if tid is not None:
                sym.append(tid)
                lo.append(p)
                hi.append(p + 1)
            else:  # byte fallback: every byte has its token (compile_tokenizer checks)
                for x in ch.encode("utf-8"):
                    sym.append(nbytes[x])
                    lo.append(p)
                    hi.append(p + 1)
        if len(sym) > 1:
            self._merge_all(sym, lo, hi)
        return tuple((sym[i], lo[i], hi[i]) for i in range(len(sym)) if hi[i] >= 0)

    def _merge_all(self, sym: list[int], lo: list[int], hi: list[int]) -> None:
        """``tokenizers``' ``Word::merge_all`` in place; merged-away symbols get ``hi = -1``."""
        merges, new, shift = self._merges, self._new, _SHIFT
        n = len(sym)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        heap = []
        for i in range(n - 1):
            r = merges.get(sym[i] << shift | sym[i + 1])
            if r is not None:
                heap.append((r, i))
        heapq.heapify(heap)
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            r, i = pop(heap)
            j = nxt[i]
            if hi[i] < 0 or j == -1:
                continue
            target = new[r]
            now = merges.get(sym[i] << shift | sym[j])
            if now is None or new[now] != target:
                continue  # stale: the pair here has changed since this entry
            sym[i] = target
            hi[i] = hi[j]
            hi[j] = -1
            k = nxt[j]
            nxt[i] = k
            if k != -1:
                prv[k] = i
            p = prv[i]
            if p != -1:
                r2 = merges.get(sym[p] << shift | target)
                if r2 is not None:
                    push(heap, (r2, p))
            if k != -1:
                r2 = merges.get(target << shift | sym[k])
                if r2 is not None:
                    push(heap, (r2, i))


def compiled_file(tokenizer_json: Path) -> Path | None:
    """Where the compiled form of ``tokenizer_json`` is kept (None: the file cannot be read)."""
    from mtqa.models.embedded import derived_cache_file

    return derived_cache_file(tokenizer_json, "bpe", f"bpe-{FORMAT}", ".npz")


def load_compiled(tokenizer_json: Path) -> CompiledBPE | None:
    """The compiled BPE of a ``tokenizer.json``: from the cache, else compiled now and cached.
    None where the file's pipeline is not one this module reproduces."""
    from mtqa.models.embedded import write_cache_file

    cached = compiled_file(tokenizer_json)
    if cached is None:
        return None
    if cached.is_file():
        try:
            return CompiledBPE.from_file(cached)
        except (OSError, ValueError, KeyError):
            pass  # damaged or old: compiled again below
    try:
        spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    arrays = compile_tokenizer(spec)
    if arrays is None:
        return None
    write_cache_file(cached, save_compiled(arrays))
    return CompiledBPE(arrays)
