"""LM-based local reordering search: is a sentence's word order odd, where, and how would it read better?

MT from verb-final or head-final languages (Chinese, Japanese, Korean, Turkish, German,
Persian) leaves verbs at the end of clauses, adjectives after nouns, fronted objects and
misplaced adverbs. This signal asks the language model whether a *small* reordering makes
the sentence markedly more probable than it is as written.

Candidates
    The sentence is cut into units (:func:`split_units`: words, and punctuation marks on their
    own). Only words move, and only inside a *run* (words with nothing but spaces between
    them): punctuation is never moved or crossed, so "improvements" that shift a comma cannot
    happen. A candidate swaps two adjacent blocks ``X Y -> Y X`` of a run: both up to
    ``max_block`` (3) words (adjacent-word swaps, 1-3-word phrases moved by 1-3 words), or one
    up to ``max_block`` and the other up to ``max_move`` (7) words (a verb group brought back
    from the end of its clause). Guards against trivial or unjudgeable "improvements": when the
    sentence's first word moves away it is lowercased if it is a closed-class word ("The",
    "In", "It"; otherwise the candidate is dropped, a name keeps its capital) and the new first
    word is capitalised; no auxiliary is moved to the front of a statement ("Was the company
    founded ..."); blocks made only of capitalised words are not reordered among themselves
    when one of them is a rare word (the order of a name's parts, "Jason Stoltenberg", is not
    the model's to judge; "Court Supreme" is).

Stage 1: an estimate for every candidate (no output-layer pass)
    A swap ``P X Y S -> P Y X S`` changes three transitions: into the block moved forward
    (``P -> Y``), into the block moved back (``Y -> X``) and into the word after them
    (``X -> S``). The base pass (``lm.score``, cached from the LM signal) gave the log-prob of
    every written token; the model's hidden states of the original sentence (one pass of its
    body, or ``TokenScores.hidden`` when the LM kept them) give the log-prob of *any* token at
    any position as one dot product with the output embedding minus the position's
    log-normaliser, which the base pass already fixes
    (``logsumexp = logit(written token) - logprob(written token)``). The estimate is

        prior = [log p(Y0 | P) - log p(X0 | P)]          exact: the first changed token
              + [log p(X0 | P X Y) - log p(Y0 | P X)]    new vs old transition into the moved-back block
              + [log p(S0 | P X) - log p(S0 | P X Y)]    new vs old transition into the word after

    where the last two borrow the original's contexts (the model saw ``P X Y`` where the
    candidate has ``P Y``): a ranking, not a score. Search effort goes where the LM was
    surprised *and* expected a word that stands a few positions away.

Stage 2: exact scoring of the few best candidates
    Per sentence the ``max_candidates`` best candidates with a prior of at least ``min_prior``
    are scored exactly on a *window*: from their first changed token to ``context_after``
    tokens after the change, conditioned on the unchanged prefix (tokens further right are
    assumed to keep their probability). All windows of a sentence are *packed* into one
    sequence after its prefix (a 4D attention mask keeps them apart, position ids restart at
    each window's start), all sentences of the batch go through in a few batched forward
    passes, and the output layer runs only on window tokens (no entropy). This pass runs in
    bfloat16 (:meth:`CausalLM.rescoring_precision`, :meth:`CausalLM.head_logprobs`): window sums
    move by 0.1 nats on average, against a threshold of 5.

    ``min_prior`` is 1 nat: the prior is a rough ranking (a restoring swap such as "and Apollo
    Dionysus -> Apollo and Dionysus" can have a prior of -0.7 and a gain of 11.6), and on
    fluent rows 1000-1999 and perturbed copies of them (``benchmarks/word_order.py --skip
    1000``) lowering it from 4 to 1 raised the adjacent-swap AUROC from 0.92 to 0.96 at 1.7%
    false alarms, for more stage-2 work (more windows) that the bfloat16 pass paid for.
    ``context_after`` is 2 tokens: on the same rows 3, 2 and 1 gave adjacent-swap AUROC
    0.941 / 0.945 / 0.942 and shuffle AUROC 0.990 / 0.990 / 0.984, for a search costing 0.56 /
    0.49 / 0.48 of a bfloat16 base pass on fluent text.

        gain  = log p(candidate window) - log p(original window)          (nats)
        score = gain / sqrt(moved words / 2)                              (:meth:`WordOrderSignal.normalise`)

    An adjacent swap scores its gain; a large move is discounted for the many tokens it
    changes. The gain is *local* (the same few tokens in two orders), so it does not grow with
    the sentence's length as a whole-sentence log-prob does, and the candidate count is capped
    per sentence: long and short sentences share one threshold (the benchmark prints false
    alarms by sentence length).

Output
    ``word_order_score`` (the best candidate's score; 0 when no candidate was searched or none
    beats the sentence as written), ``word_order_suggestion`` (the reordered sentence, only
    when flagged), flag and span ``word_order`` when score >= ``threshold`` (the span covers
    the words that moved, in article offsets; the note shows the better order).

Defaults were set on fluent Wikipedia sentences (MLQE-PE en-de train rows 3000-3399) and
synthetic perturbations of them (:mod:`mtqa.perturb`), never on the seed article; see
``benchmarks/word_order.py``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from mtqa.signals.base import Column, Signal, SignalOutput, flatten
from mtqa.types import Article, Span

if TYPE_CHECKING:  # torch and transformers load only when the signal runs
    import torch

    from mtqa.models.lm import CausalLM, TokenScores

# A word: letters/digits with inner apostrophes, hyphens or dots ("Ukraine’s", "Secretary-General",
# "3.5", "U.S"); everything else that is not a space is a punctuation unit of one character.
_UNIT = re.compile(r"[^\W_]+(?:['’\-.][^\W_]+)*|[^\w\s]|_")


@dataclass(frozen=True)
class Unit:
    text: str
    start: int
    end: int
    is_word: bool


def split_units(text: str) -> list[Unit]:
    """Words and punctuation marks of ``text`` with their character offsets."""
    return [Unit(m.group(), m.start(), m.end(), m.group()[0].isalnum()) for m in _UNIT.finditer(text)]


def word_runs(units: list[Unit]) -> list[list[int]]:
    """Runs of word units separated by whitespace only (unit indices); punctuation ends a run."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, u in enumerate(units):
        if u.is_word and current and units[current[-1]].end < u.start:
            current.append(i)
            continue
        if current:
            runs.append(current)
        current = [i] if u.is_word else []
    if current:
        runs.append(current)
    return runs


def render(text: str, units: list[Unit], order: dict[int, int], recase: dict[int, str] | None = None) -> tuple[str, int, int]:
    """``text`` with the unit at position ``p`` replaced by unit ``order[p]`` (and ``recase`` texts).

    The characters between units stay where they are. Returns the new text and the changed
    character range in it (``0, 0`` when nothing changed).
    """
    recase = recase or {}
    parts: list[str] = []
    cursor = length = 0
    start = end = None
    for p, u in enumerate(units):
        gap = text[cursor:u.start]
        src = order.get(p, p)
        word = recase.get(src, units[src].text)
        parts += [gap, word]
        length += len(gap)
        if word != u.text:
            start = length if start is None else start
            end = length + len(word)
        length += len(word)
        cursor = u.end
    parts.append(text[cursor:])
    return "".join(parts), start or 0, end or 0


# Closed-class words that may lose their sentence-initial capital when moved ("The" -> "the").
_LOWERABLE = frozenset(
    """a an the this that these those his her its their our my your some any each every all both
    no in on at by for with from to of as after before during since until while when if because
    although though it he she they we you there here what which who how why also however then
    thus so and but or yet not only even still already now today yesterday""".split()
)
_AUXILIARIES = frozenset(
    """is are was were am be been has have had do does did will would shall should can could may
    might must""".split()
)


@dataclass
class Candidate:
    """One reordering: the blocks X (run positions a..b-1) and Y (b..c-1) of a word run swapped."""

    text: str  # the reordered sentence
    start: int  # changed character range in the ORIGINAL sentence
    end: int
    new_start: int  # changed character range in the candidate
    new_end: int
    bounds: tuple[int, int, int]  # units entered by the changed transitions: X0, Y0, S0 (-1: end of text)
    moved_first: str  # X's first word as it reads in the candidate (after Y)
    prior: float = float("-inf")  # stage-1 estimate of the gain (nats)
    gain: float = float("nan")  # stage 2: log p(candidate window) - log p(original window) (nats)
    window: int = 0  # tokens scored in stage 2
    moved_words: int = 2  # words in X and Y together
    score: float = float("nan")  # gain / sqrt(moved_words / 2): see WordOrderSignal.normalise
    ids: list[int] = field(default_factory=list, repr=False)  # its LM tokens
    detail: tuple = field(default=(), repr=False)  # stage 2: (first changed token, original window end, window log-probs)


@dataclass(frozen=True)
class Move:
    """Swap of blocks ``run[a:b]`` (X) and ``run[b:c]`` (Y) of one word run: ``X Y -> Y X``."""

    run: tuple[int, ...]
    a: int
    b: int
    c: int

    @property
    def bounds(self) -> tuple[int, int, int]:
        """Units whose incoming transition changes: X0, Y0 and the unit after Y (-1: none)."""
        return self.run[self.a], self.run[self.b], (self.run[self.c] if self.c < len(self.run) else self.after)

    after: int = -1  # the unit after the run (-1: end of text)


def enumerate_moves(units: list[Unit], max_block: int = 3, max_move: int = 7) -> list[Move]:
    """All block swaps: both blocks up to ``max_block`` words, or one up to ``max_block`` and the
    other up to ``max_move`` (a short phrase moved far: a verb group back from the clause end)."""
    moves = []
    for run in word_runs(units):
        n = len(run)
        after = run[-1] + 1 if run[-1] + 1 < len(units) else -1
        r = tuple(run)
        for a in range(n - 1):
            for b in range(a + 1, min(a + max_move, n - 1) + 1):
                x = b - a
                y_max = max_block if x > max_block else max_move
                for c in range(b + 1, min(b + y_max, n) + 1):
                    moves.append(Move(r, a, b, c, after))
    return moves


def _start_recase(units: list[Unit], m: Move, first_word: int, question: bool) -> dict[int, str] | None:
    """Capitalisation for a move that takes the sentence's first word away (None: drop the move)."""
    if m.a != 0 or m.run[0] != first_word:
        return {}
    old, new = units[m.run[m.a]].text, units[m.run[m.b]].text
    if new.lower() in _AUXILIARIES and not question:
        return None  # "Was the company founded ...": a question, not a better order
    recase: dict[int, str] = {}
    if old[:1].isupper() and (old[1:].islower() or len(old) == 1):
        if old != "I":
            if old.lower() not in _LOWERABLE:
                return None  # a name or a noun: its capital cannot be judged
            recase[m.run[m.a]] = old.lower()
        if new[:1].islower():
            recase[m.run[m.b]] = new[:1].upper() + new[1:]
    return recase


def _name_parts(units: list[Unit], m: Move, first_word: int) -> bool:
    """Would the move only reorder the parts of a name ("Jason Stoltenberg" -> "Stoltenberg Jason")?

    That is: every moved word is capitalised and one is a rare word (Zipf frequency under 3,
    "Stoltenberg", "Ribéry"). The order of a rare name's parts is not the model's to judge
    (and MT keeps a source's name order on purpose); capitalised common words are
    ("Court Supreme" -> "Supreme Court"). The sentence's first word does not count.
    """
    moved = [units[i].text for i in m.run[m.a:m.c] if i != first_word]
    return bool(moved) and all(w[:1].isupper() for w in moved) and any(_zipf(w) < 3.0 for w in moved)


@lru_cache(maxsize=50_000)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def apply_move(text: str, units: list[Unit], m: Move, recase: dict[int, str]) -> Candidate:
    run = list(m.run)
    order_idx = run[:m.a] + run[m.b:m.c] + run[m.a:m.b] + run[m.c:]
    new_text, new_start, new_end = render(text, units, {run[p]: order_idx[p] for p in range(len(run))}, recase)
    moved_first = recase.get(run[m.a], units[run[m.a]].text)
    return Candidate(new_text, units[run[m.a]].start, units[run[m.c - 1]].end, new_start, new_end, m.bounds, moved_first,
                     moved_words=m.c - m.a)


def enumerate_swaps(text: str, max_block: int = 3, max_move: int = 7) -> tuple[list[Unit], list[Candidate]]:
    """Every reordering of ``text`` the search considers, rendered, without duplicates."""
    units = split_units(text)
    words = [i for i, u in enumerate(units) if u.is_word]
    if len(words) < 3:
        return units, []
    question = text.rstrip("\"'”’) ").endswith("?")
    out, seen = [], {text}
    for m in enumerate_moves(units, max_block, max_move):
        recase = _start_recase(units, m, words[0], question)
        if recase is None or _name_parts(units, m, words[0]):
            continue
        c = apply_move(text, units, m, recase)
        if c.text not in seen:
            seen.add(c.text)
            out.append(c)
    return units, out


def _unit_tokens(text: str, units: list[Unit], offsets: np.ndarray) -> list[int]:
    """For each unit, the LM token that enters it (-1 where the LM did not reach it).

    That is the first token overlapping the unit, or the whitespace-only token right before
    it (Gemma writes " 1990" as " ", "1", "9", "9", "0": the surprise is on the space).
    """
    first = [-1] * len(units)
    t = 0
    for k, u in enumerate(units):
        while t < len(offsets) and int(offsets[t][1]) <= u.start:
            t += 1
        if t < len(offsets) and int(offsets[t][0]) < u.end:
            first[k] = t
            a, b = (int(x) for x in offsets[t - 1]) if t > 0 else (0, 0)
            if t > 0 and b == u.start and a < b and not text[a:b].strip() and int(offsets[t][0]) >= b:
                first[k] = t - 1
    return first


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = min(len(a), len(b)) - limit
    i = 0
    while i < n and a[len(a) - 1 - i] == b[len(b) - 1 - i]:
        i += 1
    return i


def _batches(lengths: Sequence[int], batch_tokens: int, batch_size: int) -> list[list[int]]:
    """Indices grouped by increasing length, each group at most ``batch_tokens`` padded tokens."""
    out: list[list[int]] = []
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batch and (len(batch) + 1 > batch_size or (len(batch) + 1) * lengths[i] > batch_tokens):
            out.append(batch)
            batch = []
        batch.append(i)
    if batch:
        out.append(batch)
    return out


def hidden_states(lm: "CausalLM", seqs: Sequence[Sequence[int]], batch_tokens: int = 4096,
                  batch_size: int = 64) -> list["torch.Tensor"]:
    """Last hidden states [len+1, H] of ``[start token] + seq`` for each seq (the model's body only)."""
    import torch

    decoder, _ = lm._decoder_and_head()
    out: list[torch.Tensor] = [None] * len(seqs)  # type: ignore[list-item]
    with torch.inference_mode():
        for batch in _batches([len(s) + 1 for s in seqs], batch_tokens, batch_size):
            width = max(len(seqs[i]) for i in batch) + 1
            ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                ids[r, : len(seqs[i]) + 1] = torch.tensor([lm.prefix_id] + list(seqs[i]))
                mask[r, : len(seqs[i]) + 1] = 1
            hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), use_cache=False).last_hidden_state
            for r, i in enumerate(batch):
                out[i] = hidden[r, : len(seqs[i]) + 1].float().cpu()
    return out


@dataclass
class Group:
    """Windows that share one prefix: window ``i`` scores ``windows[i]`` after ``prefix[:starts[i]]``."""

    prefix: Sequence[int]
    starts: list[int]
    windows: list[Sequence[int]]

    def packed_length(self) -> int:
        return 1 + max(self.starts) + sum(max(len(w) - 1, 0) for w in self.windows)


def _attention_mask(lm: "CausalLM", allowed: "torch.Tensor") -> "torch.Tensor | None":
    """A 4D mask in the form the model's attention takes (None: it takes none, pack nothing)."""
    import torch

    impl = getattr(lm.model.config, "_attn_implementation", None)
    if impl == "sdpa":
        return allowed[:, None]
    if impl == "eager":
        dtype = next(lm.model.parameters()).dtype
        out = torch.zeros(allowed.shape, dtype=dtype)
        out.masked_fill_(~allowed, torch.finfo(dtype).min)
        return out[:, None]
    return None


def score_groups(lm: "CausalLM", groups: Sequence[Group], batch_tokens: int = 4096,
                 batch_size: int = 64, first: Sequence[Sequence[float | None]] | None = None) -> list[list[np.ndarray]]:
    """Per group, per window: the log-prob of each window token given the prefix and the window before it.

    ``first[g][w]``, when given and not None, is the log-prob of window ``w``'s first token,
    known already (it is predicted from the unchanged prefix, as in the base pass): the output
    layer then skips it.

    The windows of one group are packed into one sequence after their shared prefix, with a
    4D attention mask (each window sees the prefix up to its start, and itself) and position
    ids restarting at each window's start: the prefix runs through the model once per group
    and the output layer runs only on window tokens. Models whose attention takes no such mask
    get one row per window instead.
    """
    import torch

    decoder, head = lm._decoder_and_head()
    packable = decoder is not None and _attention_mask(lm, torch.ones(1, 1, 1, dtype=torch.bool)) is not None
    where = [(g, w) for g in range(len(groups)) for w in range(len(groups[g].windows))]
    known_flat = [first[g][w] if first is not None else None for g, w in where]
    if packable:
        units = list(groups)
        bounds = np.cumsum([0] + [len(g.windows) for g in groups])
        known = [known_flat[bounds[g]:bounds[g + 1]] for g in range(len(groups))]
    else:
        units = [Group(g.prefix, [s], [w]) for g in groups for s, w in zip(g.starts, g.windows)]
        known = [[k] for k in known_flat]
    flat: list[np.ndarray] = []
    per_unit: dict[int, list[np.ndarray]] = {}
    with torch.inference_mode():
        live = [i for i, g in enumerate(units) if g.windows]
        for batch in _batches([units[i].packed_length() for i in live], batch_tokens, batch_size):
            batch = [live[i] for i in batch]
            width = max(units[i].packed_length() for i in batch)
            ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long)
            pos = torch.zeros((len(batch), width), dtype=torch.long)
            allowed = torch.zeros((len(batch), width, width), dtype=torch.bool)
            allowed[:, :, 0] = True  # padding attends to the start token (its output is never read)
            rows, cols, targets = [], [], []
            sizes_of: dict[int, list[int]] = {i: [] for i in batch}
            for r, i in enumerate(batch):
                g = units[i]
                P = max(g.starts)
                ids[r, : P + 1] = torch.tensor([lm.prefix_id] + list(g.prefix[:P]))
                pos[r, : P + 1] = torch.arange(P + 1)
                allowed[r, : P + 1, : P + 1] = torch.tril(torch.ones(P + 1, P + 1, dtype=torch.bool))
                cursor = P + 1
                for s, w in zip(g.starts, g.windows):
                    n_in = max(len(w) - 1, 0)  # the window's last token is only a target
                    if n_in:
                        ids[r, cursor:cursor + n_in] = torch.tensor(list(w[:n_in]))
                        pos[r, cursor:cursor + n_in] = torch.arange(s + 1, s + 1 + n_in)
                        allowed[r, cursor:cursor + n_in, : s + 1] = True
                        allowed[r, cursor:cursor + n_in, cursor:cursor + n_in] = torch.tril(
                            torch.ones(n_in, n_in, dtype=torch.bool))
                    # window token k is predicted at prefix position s (k = 0), then at window input k-1
                    skip = 1 if w and known[i][len(sizes_of[i])] is not None else 0
                    rows += [r] * (len(w) - skip)
                    cols += ([s] + list(range(cursor, cursor + n_in)))[skip:]
                    targets += list(w)[skip:]
                    sizes_of[i].append(len(w) - skip)
                    cursor += n_in
            if packable:
                mask = _attention_mask(lm, allowed)
                with lm.rescoring_precision():
                    hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                                     position_ids=pos.to(lm.device), use_cache=False).last_hidden_state
            else:  # one window per row: a plain causal model with right padding
                mask2d = allowed.diagonal(dim1=1, dim2=2).long()
                if decoder is not None:
                    hidden = decoder(input_ids=ids.to(lm.device), attention_mask=mask2d.to(lm.device),
                                     use_cache=False).last_hidden_state
                else:
                    hidden = None
            r_t = torch.tensor(rows, dtype=torch.long, device=lm.device)
            c_t = torch.tensor(cols, dtype=torch.long, device=lm.device)
            tgt = torch.tensor(targets, dtype=torch.long, device=lm.device)
            if hidden is not None:
                lp = lm.head_logprobs(hidden[r_t, c_t], tgt).cpu().numpy()
            else:
                logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask2d.to(lm.device)).logits[r_t, c_t]
                logits = logits.float()
                if lm.softcap:
                    logits = torch.tanh(logits / lm.softcap) * lm.softcap
                lp = (logits.gather(1, tgt[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)).cpu().numpy()
            cursor = 0
            for i in batch:
                out = []
                for w, size in enumerate(sizes_of[i]):
                    part = lp[cursor:cursor + size].astype(np.float32)
                    if size < len(units[i].windows[w]):
                        part = np.concatenate([np.array([known[i][w]], np.float32), part])
                    out.append(part)
                    cursor += size
                per_unit[i] = out
    for i, g in enumerate(units):
        flat.extend(per_unit.get(i, [np.zeros(0, np.float32) for _ in g.windows]))
    results: list[list[np.ndarray]] = [[] for _ in groups]
    for (g, _), lp in zip(where, flat):
        results[g].append(lp)
    return results


class WordOrderSignal(Signal):
    """Flags sentences that a small reordering makes markedly more probable under the LM."""

    name = "word_order"
    # 2: stage 2 runs in bfloat16 (CausalLM.rescoring_precision, CausalLM.head_logprobs)
    version = "2"
    columns = (
        Column("word_order_score", "float32",
               "LM log-prob gain (nats) of the best local reordering over the sentence as written, divided by "
               "sqrt(moved words / 2); 0 when none was searched or none is better"),
        Column("word_order_suggestion", "string", "the sentence in the better order (only when flagged)"),
    )
    labels = {"word_order": "a small reordering of these words makes the sentence markedly more probable (odd word order)"}

    def __init__(self, lm: "CausalLM", *, threshold: float = 5.0, max_candidates: int = 3, max_block: int = 3,
                 max_move: int = 7, min_prior: float = 1.0, context_after: int = 2, max_words: int = 80,
                 batch_tokens: int = 4096, batch_size: int = 64):
        self.lm = lm
        # the base pass keeps its hidden states, so stage 1 needs no second pass of the model's body
        lm.keep_hidden = True
        self.threshold = threshold
        self.max_candidates = max_candidates
        self.max_block = max_block
        self.max_move = max_move
        self.min_prior = min_prior
        self.context_after = context_after
        self.max_words = max_words
        self.batch_tokens = batch_tokens
        self.batch_size = batch_size
        self._first_token_cache: dict[tuple[str, bool], int] = {}
        #: seconds spent, summed over calls: stage 1 (its body pass apart) and stage 2
        self.timings = {"stage1_body_s": 0.0, "stage1_s": 0.0, "stage2_s": 0.0}

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "max_candidates": self.max_candidates, "max_block": self.max_block,
                "max_move": self.max_move,
                "min_prior": self.min_prior, "context_after": self.context_after, "max_words": self.max_words,
                "max_tokens": self.lm.max_tokens, "log": "e",
                # int8 models keep their int8 body in stage 2; the log-normaliser is bfloat16 either way
                "rescoring": "bfloat16" if self.lm.quantize == "none" else "int8+bfloat16-normaliser"}

    # -- stage 1 --------------------------------------------------------------------------

    def _first_tokens(self, keys: set[tuple[str, bool]]) -> dict[tuple[str, bool], int]:
        """First LM token of each (word, after a space?) key, cached."""
        todo = [k for k in keys if k not in self._first_token_cache]
        if todo:
            enc = self.lm.tokenizer([(" " if spaced else "") + w for w, spaced in todo], add_special_tokens=False)
            if len(self._first_token_cache) > 200_000:
                self._first_token_cache.clear()
            for k, ids in zip(todo, enc["input_ids"]):
                self._first_token_cache[k] = ids[0] if ids else self.lm.pad_id
        return {k: self._first_token_cache[k] for k in keys}

    def propose(self, texts: Sequence[str], bases: Sequence["TokenScores"], limit: int | None = None) -> list[list[Candidate]]:
        """Stage 1: per sentence, the ``limit`` (default ``max_candidates``) best candidates with a prior
        of at least ``min_prior``, best first (rendered, not yet scored)."""
        import torch

        limit = self.max_candidates if limit is None else limit
        out: list[list[Candidate]] = [[] for _ in texts]
        orig_ids = self.lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        plans = []
        keys: set[tuple[str, bool]] = set()
        for k, (text, ts) in enumerate(zip(texts, bases)):
            n = len(ts.logprobs)
            if ts.truncated or n < 3 or n != len(orig_ids[k]):
                continue
            units = split_units(text)
            words = [i for i, u in enumerate(units) if u.is_word]
            if len(words) < 3 or len(words) > self.max_words:
                continue
            question = text.rstrip("\"'”’) ").endswith("?")
            tix = _unit_tokens(text, units, ts.offsets)
            rows = []  # per move: ta, tb, tc, Y0 key, X0 key
            for m in enumerate_moves(units, self.max_block, self.max_move):
                recase = _start_recase(units, m, words[0], question)
                if recase is None or _name_parts(units, m, words[0]):
                    continue
                ua, ub, uc = m.bounds
                ta, tb, tc = tix[ua], tix[ub], (tix[uc] if uc >= 0 else n)
                if min(ta, tb, tc) < 0:
                    continue
                x0, y0 = units[ua], units[ub]
                y_key = (recase.get(ub, y0.text), ua > 0 and text[x0.start - 1:x0.start].isspace())
                x_key = (recase.get(ua, x0.text), True)
                keys.update((y_key, x_key))
                rows.append((m, recase, ta, tb, tc, y_key, x_key))
            if rows:
                plans.append((k, units, rows))
        if not plans:
            return out
        first = self._first_tokens(keys)
        # hidden states of the original: from the base pass when the LM keeps them (``TokenScores.hidden``,
        # row t predicting token t), else one pass of the model's body here
        hidden: list = [getattr(bases[k], "hidden", None) for k, _, _ in plans]
        todo = [i for i, h in enumerate(hidden) if h is None or len(h) < len(orig_ids[plans[i][0]])]
        t_body = time.perf_counter()
        for i, h in zip(todo, hidden_states(self.lm, [orig_ids[plans[i][0]][:-1] for i in todo],
                                            self.batch_tokens, self.batch_size)):
            hidden[i] = h
        self.timings["stage1_body_s"] += time.perf_counter() - t_body
        weight, bias = self.lm.output_weight()
        with torch.inference_mode():
            for (k, units, rows), h in zip(plans, hidden):
                h = torch.as_tensor(h).float()
                o = np.asarray(orig_ids[k])
                lp_o = bases[k].logprobs.astype(np.float64)
                n = len(o)
                ta = np.array([r[2] for r in rows])
                tb = np.array([r[3] for r in rows])
                tc = np.array([r[4] for r in rows])
                inside = tc < n
                tc_row = np.where(inside, tc, 0)
                y_tok = np.array([first[r[5]] for r in rows])
                x_tok = np.array([first[r[6]] for r in rows])
                s_tok = o[tc_row]
                # log-normaliser of each row from the base pass: logit(written) - logprob(written)
                lse = self._logits(h[:n], weight, bias, torch.from_numpy(o[:, None])).reshape(n) - lp_o
                vocab = np.unique(np.concatenate([y_tok, x_tok, s_tok]))
                col = {int(t): i for i, t in enumerate(vocab)}
                table = self._logits(h[:n], weight, bias, torch.from_numpy(vocab)) - lse[:, None]  # [n, |vocab|]
                cy = np.array([col[int(t)] for t in y_tok])
                cx = np.array([col[int(t)] for t in x_tok])
                cs = np.array([col[int(t)] for t in s_tok])
                prior = table[ta, cy] - lp_o[ta]
                prior += np.where(inside, table[tc_row, cx] - lp_o[tb] + table[tb, cs] - lp_o[tc_row], 0.0)
                seen = {texts[k]}
                picked: list[Candidate] = []
                for i in np.argsort(-prior, kind="stable"):
                    if prior[i] < self.min_prior or len(picked) >= limit:
                        break
                    m, recase = rows[i][0], rows[i][1]
                    c = apply_move(texts[k], units, m, recase)
                    if c.text in seen:
                        continue
                    seen.add(c.text)
                    c.prior = float(prior[i])
                    picked.append(c)
                out[k] = picked
        return out

    def _logits(self, h: "torch.Tensor", weight: "torch.Tensor | None", bias, ids: "torch.Tensor") -> np.ndarray:
        """Logits of tokens ``ids`` at hidden states ``h``: [rows, ids] for a 1D ``ids``, row-wise for [rows, 1]."""
        import torch

        if weight is None:  # no float matrix to take dot products with: the whole output layer
            _, head = self.lm._decoder_and_head()
            full = head(h.to(self.lm.device, self.lm.dtype)).float().cpu()
            x = full.gather(1, ids) if ids.dim() == 2 else full[:, ids]
        else:  # the few rows of the output matrix needed, brought to the (CPU) states, e.g. from a GPU
            rows = ids[:, 0] if ids.dim() == 2 else ids
            w = weight[rows.to(weight.device)].float().to(h.device)
            b = bias[rows.to(bias.device)].float().to(h.device) if bias is not None else None
            if ids.dim() == 2:  # one token per row
                x = (h * w).sum(-1, keepdim=True) + (b[:, None] if b is not None else 0.0)
            else:
                x = h @ w.T + (b[None, :] if b is not None else 0.0)
        x = x.float()
        if self.lm.softcap:
            x = torch.tanh(x / self.lm.softcap) * self.lm.softcap
        return x.numpy().astype(np.float64)

    # -- stage 2 --------------------------------------------------------------------------

    def score(self, texts: Sequence[str], bases: Sequence["TokenScores"], cands: Sequence[list[Candidate]],
              context_after: int | None = None) -> None:
        """Stage 2: fill ``gain`` and ``window`` of the given candidates (one batched, packed search)."""
        after = self.context_after if context_after is None else context_after
        orig_ids = self.lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        groups, owners, spans = [], [], []
        for k, cs in enumerate(cands):
            if not cs:
                continue
            o = orig_ids[k]
            g = Group(o, [], [])
            for c in cs:
                ids = c.ids or self.lm.tokenizer(c.text, add_special_tokens=False)["input_ids"]
                p = _common_prefix(o, ids)
                s = _common_suffix(o, ids, p)
                tail = min(after, s)
                g.starts.append(p)
                g.windows.append(ids[p:len(ids) - s + tail])
                spans.append((p, len(o) - s + tail))
            groups.append(g)
            owners.append(k)
        first = [self._first_logprobs(bases[k], g) for k, g in zip(owners, groups)]
        it = iter(spans)
        for k, lps in zip(owners, score_groups(self.lm, groups, self.batch_tokens, self.batch_size, first)):
            for c, lp in zip(cands[k], lps):
                p, end_o = next(it)
                c.gain = float(lp.sum()) - float(bases[k].logprobs[p:end_o].sum())
                c.score = self.normalise(c.gain, c.moved_words)
                c.window = len(lp)
                c.detail = (p, end_o, lp)

    def _first_logprobs(self, base: "TokenScores", g: Group) -> list[float | None]:
        """Log-prob of each window's first token from the base pass's kept hidden states.

        That token is predicted from the unchanged prefix, i.e. from the very state that
        predicted the written token there, whose log-normaliser the base pass fixes
        (``logit(written) - logprob(written)``): a dot product instead of a row of the output
        layer. None (computed in the pass) when the states were not kept.
        """
        import torch

        weight, bias = self.lm.output_weight()
        if base.hidden is None or weight is None or not g.windows:
            return [None] * len(g.windows)
        starts = np.array(g.starts)
        with torch.inference_mode():
            h = torch.from_numpy(base.hidden[starts]).float()
            written = torch.tensor([g.prefix[p] for p in starts])[:, None]
            new = torch.tensor([w[0] for w in g.windows])[:, None]
            lse = self._logits(h, weight, bias, written)[:, 0] - base.logprobs[starts].astype(np.float64)
            return [float(v) for v in self._logits(h, weight, bias, new)[:, 0] - lse]

    # -- the signal -----------------------------------------------------------------------

    def search(self, texts: Sequence[str]) -> list[Candidate | None]:
        """The best reordering of each text (``None`` where no candidate beats it)."""
        bases = self.lm.score(list(texts), batch_tokens=self.batch_tokens, batch_size=self.batch_size)
        t0 = time.perf_counter()
        short = self.propose(texts, bases)
        t1 = time.perf_counter()
        self.score(texts, bases, short)
        self.timings["stage1_s"] += t1 - t0
        self.timings["stage2_s"] += time.perf_counter() - t1
        best = []
        for cs in short:
            c = max(cs, key=lambda c: c.score, default=None)
            best.append(c if c is not None and c.score > 0 else None)
        return best

    @staticmethod
    def normalise(gain: float, moved_words: int) -> float:
        """The score of a reordering: its gain divided by sqrt(moved words / 2).

        An adjacent swap (2 words) scores its gain in nats. A larger reordering changes more
        tokens, and the difference of two sums of per-token log-probs grows with their number
        even between two acceptable orders, like the spread of a sum of noisy terms (sqrt n):
        the division keeps a 7-word move from out-scoring a real swap on noise alone. The
        sentence's length does not enter (the gain is local), so long and short sentences
        share one threshold.
        """
        return gain / float(np.sqrt(max(moved_words, 2) / 2))

    def compute(self, articles: Sequence[Article]) -> SignalOutput:
        sentences = flatten(articles)
        best = self.search([s.text for s in sentences])
        out = SignalOutput.empty(len(sentences))
        scores, suggestions = [], []
        for k, (sent, c) in enumerate(zip(sentences, best)):
            score = c.score if c is not None else 0.0
            scores.append(score)
            if c is None or score < self.threshold:
                suggestions.append(None)
                continue
            suggestions.append(c.text)
            out.flags[k].append("word_order")
            out.spans[k].append(Span(sent.start + c.start, sent.start + c.end, "word_order", score, self.note(c)))
        out.columns = {"word_order_score": scores, "word_order_suggestion": suggestions}
        return out

    @staticmethod
    def note(c: Candidate) -> str:
        """``reads better as "… heavy weapons supply …"``: the changed words and one word either side."""
        text = c.text
        lo = text.rfind(" ", 0, max(text.rfind(" ", 0, c.new_start), 0)) + 1 if c.new_start > 0 else 0
        if text.rfind(" ", 0, c.new_start) < 0:
            lo = 0
        nxt = text.find(" ", c.new_end)
        hi = len(text) if nxt < 0 else (text.find(" ", nxt + 1) if text.find(" ", nxt + 1) >= 0 else len(text))
        piece = " ".join(text[lo:hi].split())
        return f'reads better as "{"… " if lo > 0 else ""}{piece}{" …" if hi < len(text) else ""}"'
