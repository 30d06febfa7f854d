"""The word-order search's model passes: rank candidate reorderings, then score the best exactly.

Candidates come from :mod:`mtqa.signals.word_order.candidates` (no model); everything here
asks the model through :class:`~mtqa.models.lm.CausalLM`'s public methods only.

Stage 1: an estimate for every candidate (no output-layer pass)
    A swap ``P X Y S -> P Y X S`` changes three transitions: into the block moved forward
    (``P -> Y``), into the block moved back (``Y -> X``) and into the word after them
    (``X -> S``). The base pass (:meth:`CausalLM.score`, cached from the LM signal) gave the log-prob of
    every written token; the model's hidden states of the original sentence (one pass of its
    body, or ``TokenScores.hidden`` when the model keeps them) give the log-prob of *any* token at
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
    assumed to keep their probability). When the base pass kept the sentence's attention keys
    and values (``keep_kv``, as ``mtqa score`` does), the windows' tokens continue from them:
    the model's body runs over the windows alone, not over the prefix again (the prefix was 40%
    of this pass's tokens on the bundled articles, and the pass ran 35-45% faster without it;
    the whole search: 0.37x -> 0.33x the base pass on perturbed rows, unchanged at 0.18x on
    clean fluent rows, where the output layer and the bounds are its cost).
    Otherwise all windows of a sentence are *packed* into one sequence after its prefix (a 4D
    attention mask keeps them apart, position ids restart at each window's start). Either way
    several sentences share a row, and all go through the model's body in a few batched
    forward passes (:meth:`CausalLM.window_states`). The output layer runs
    only on window tokens (no entropy), and exactly only where it can matter
    (:meth:`ReorderSearch._best_only_logprobs`): a shortlist of 18,766 common English tokens
    bounds every window's log-probs from above, and only candidates whose bound could still be
    their sentence's best positive score get the whole 262k-word layer (40% of the windows on
    fluent and perturbed tuning rows). Where bf16 is native this pass runs in bfloat16
    (:meth:`CausalLM.rescoring_precision`, :meth:`CausalLM.head_logprobs`): window sums move
    by 0.1 nats on average, against a threshold of 5.

    ``window_price`` is 0.3 nat per window token: of the ``max_candidates`` best-ranked
    candidates only those whose prior reaches ``min_prior + window_price x window tokens`` are
    scored exactly (the window's tokens each cost a row of the 262k-word output layer, as much
    as a token of the base pass). Chosen on fluent rows 1000-1499 and perturbed copies (seed 1):
    candidates with a prior of 1-2 nats reach a score of 5 in 0.6% of cases, 2-4 nats in 2.8%;
    the price cut the exact pass's tokens to 0.57 of an unpriced search for a mean AUROC over
    the six perturbation kinds of 0.811 instead of 0.816, detection at the threshold 50.3%
    instead of 50.6%, false alarms 1.4% instead of 1.6% (4.5% of the sentences' scores move,
    by 1.6 on average). Prices of 0.5 or more lose verb-final clauses (AUROC 0.91 -> 0.84).
    On the report rows 0-999 it halved the search's cost (README, *Word order*).

    ``min_prior`` is 1 nat: the prior is a rough ranking (a restoring swap such as "and Apollo
    Dionysus -> Apollo and Dionysus" can have a prior of -0.7 and a gain of 11.6), and on
    fluent rows 1000-1999 and perturbed copies of them (``benchmarks/word_order.py --skip
    1000``) lowering it from 4 to 1 raised the adjacent-swap AUROC from 0.92 to 0.96 at 1.7%
    false alarms, for more stage-2 work (more windows) that the bfloat16 pass paid for.
    ``context_after`` is 2 tokens: on the same rows 3, 2 and 1 gave adjacent-swap AUROC
    0.941 / 0.945 / 0.942 and shuffle AUROC 0.990 / 0.990 / 0.984, for a search costing 0.56 /
    0.49 / 0.48 of a bfloat16 base pass on fluent text.

        gain  = log p(candidate window) - log p(original window)          (nats)
        score = gain / sqrt(moved words / 2)                              (:meth:`ReorderSearch.normalise`)

    An adjacent swap scores its gain; a large move is discounted for the many tokens it
    changes. The gain is *local* (the same few tokens in two orders), so it does not grow with
    the sentence's length as a whole-sentence log-prob does, and the candidate count is capped
    per sentence: long and short sentences share one threshold (the benchmark prints false
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mtqa.models.windows import WindowGroup, WindowStates
from mtqa.signals.word_order.candidates import Candidate, Unit, allowed_move_table, apply_move, split_units

if TYPE_CHECKING:  # torch and transformers load only when the signal runs
    from pathlib import Path

    from mtqa.models.lm import CausalLM, TokenScores


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



#: the shortlist of :func:`english_shortlist`: the most frequent English words (wordfreq)
SHORTLIST_WORDS = 5000
_shortlists: dict[int, tuple] = {}


def english_shortlist(lm: "CausalLM"):
    """Sorted token ids that carry most of an English LM's probability mass at most positions.

    The first LM token of each of the :data:`SHORTLIST_WORDS` most frequent English words
    (``wordfreq``), lower-case and capitalised, at a sentence's start and after a space, plus
    ASCII punctuation and digits: 18,766 of Gemma's 262,144 tokens. Only the *cost* of the
    search depends on it (:meth:`ReorderSearch._best_only_logprobs` bounds with it, and scores
    exactly whatever the bound cannot rule out), never its result. 5,000 words was the cheapest
    of 2,000 / 5,000 / 20,000 on the tuning rows (shortlist cost plus exact windows: 0.49 /
    0.47 / 0.55 of scoring every window exactly). Built once per tokenizer: about 1 s on a
    2-core CPU (wordfreq's list and 20,000 encodings), a third of what a one-sentence job
    spends scoring, so it is also kept on disk (:func:`_shortlist_file`).
    """
    import torch

    key = id(lm.tokenizer)
    if key not in _shortlists:
        cached = _shortlist_file(lm)
        ids = _load_shortlist(cached, len(lm.tokenizer)) if cached is not None else None
        if ids is None:
            from wordfreq import top_n_list

            forms = set(" .,;:!?\"'()-%$0123456789")
            for w in top_n_list("en", SHORTLIST_WORDS):
                forms.update((w, " " + w, w.capitalize(), " " + w.capitalize()))
            found = {i for enc in lm.tokenizer(sorted(forms), add_special_tokens=False)["input_ids"] for i in enc}
            ids = np.array(sorted(found), dtype=np.int64)
            if cached is not None:
                _save_shortlist(cached, ids)
        _shortlists[key] = (lm.tokenizer, torch.from_numpy(ids))
    return _shortlists[key][1]


def _shortlist_file(lm: "CausalLM") -> "Path | None":
    """Where the shortlist of ``lm``'s tokenizer is kept: ``$MTQA_HOME/cache/shortlist-KEY.npy``, KEY
    from the tokenizer file (path, size, modification time), ``SHORTLIST_WORDS`` and wordfreq's
    version. None for a tokenizer without a ``tokenizer.json`` in the model folder. A stale or
    damaged file can only cost time: any set of token ids gives valid bounds (see above), and
    one that does not fit the vocabulary is rebuilt."""
    from importlib.metadata import version
    from pathlib import Path

    from mtqa.models.embedded import derived_cache_file

    tok = Path(getattr(lm, "path", "") or "") / "tokenizer.json"
    return derived_cache_file(tok, "shortlist", f"{SHORTLIST_WORDS}|wordfreq-{version('wordfreq')}", ".npy")


def _load_shortlist(path: "Path", vocab: int) -> np.ndarray | None:
    try:
        ids = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = ids.ndim == 1 and ids.dtype == np.int64 and len(ids) and ids[0] >= 0 and ids[-1] < vocab \
        and bool(np.all(ids[1:] > ids[:-1]))
    return ids if ok else None


def _save_shortlist(path: "Path", ids: np.ndarray) -> None:
    import io

    from mtqa.models.embedded import write_cache_file

    buf = io.BytesIO()
    np.save(buf, ids)
    write_cache_file(path, buf.getvalue())


class ReorderSearch:
    """Per sentence, the best small reordering under the LM (stage 1 ranks, stage 2 scores)."""

    def __init__(self, lm: "CausalLM", *, max_candidates: int = 3, max_block: int = 3, max_move: int = 7,
                 min_prior: float = 1.0, window_price: float = 0.3, context_after: int = 2, max_words: int = 80):
        self.lm = lm
        self.max_candidates = max_candidates
        self.max_block = max_block
        self.max_move = max_move
        self.min_prior = min_prior
        self.window_price = window_price
        self.context_after = context_after
        self.max_words = max_words
        self._first_token_cache: dict[tuple[str, bool], int] = {}
        #: seconds spent, summed over calls: stage 1 (its body pass apart) and stage 2
        self.timings = {"stage1_body_s": 0.0, "stage1_s": 0.0, "stage2_s": 0.0}
        #: work done, summed over calls: window states through the model's body (stage 2's tokens)
        #: and those of them given the whole output layer (``benchmarks/word_order.py --floor``)
        self.counts = {"window_rows": 0, "exact_rows": 0}

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
            if sum(u.is_word for u in units) > self.max_words:
                continue
            table = allowed_move_table(text, units, self.max_block, self.max_move)
            tix = np.array(_unit_tokens(text, units, ts.offsets) + [n])  # index -1 (the end of the text) -> n
            ta, tb, tc = (tix[table.bounds[:, j]] for j in range(3))
            keep = np.flatnonzero((ta >= 0) & (tb >= 0) & (tc >= 0))
            if not len(keep):
                continue
            ua, ub = table.bounds[keep, 0], table.bounds[keep, 1]
            # Y0 enters where X0 stood: after a space when X0 had one; X0 now follows Y (a space)
            spaced = np.array([i > 0 and text[u.start - 1:u.start].isspace() for i, u in enumerate(units)])[ua]
            y_keys = [(units[b].text, bool(sp)) for b, sp in zip(ub.tolist(), spaced.tolist())]
            x_keys = [(units[a].text, True) for a in ua.tolist()]
            for j, i in enumerate(keep.tolist()):
                rc = table.recase.get(i)
                if rc:
                    y_keys[j] = (rc.get(int(ub[j]), y_keys[j][0]), y_keys[j][1])
                    x_keys[j] = (rc.get(int(ua[j]), x_keys[j][0]), True)
            keys.update(y_keys)
            keys.update(x_keys)
            plans.append((k, units, table, keep, ta[keep], tb[keep], tc[keep], y_keys, x_keys))
        if not plans:
            return out
        first = self._first_tokens(keys)
        # hidden states of the original: from the base pass when the model keeps them (``TokenScores.hidden``,
        # row t predicting token t), else one pass of the model's body here
        hidden: list = [getattr(bases[k], "hidden", None) for k, *_ in plans]
        todo = [i for i, h in enumerate(hidden) if h is None or len(h) < len(orig_ids[plans[i][0]])]
        t_body = time.perf_counter()
        for i, h in zip(todo, self.lm.hidden_states([orig_ids[plans[i][0]][:-1] for i in todo])):
            hidden[i] = h
        self.timings["stage1_body_s"] += time.perf_counter() - t_body
        # every output-matrix row stage 1 needs, gathered once (on a GPU: one copy, not two per sentence)
        need = [np.asarray(orig_ids[k]) for k, *_ in plans] + [np.fromiter(first.values(), dtype=np.int64, count=len(first))]
        out_rows = self.lm.output_rows(np.concatenate(need))
        logits = out_rows.logits if out_rows is not None else self.lm.token_logits
        with torch.inference_mode():
            for (k, units, table, keep, ta, tb, tc, y_keys, x_keys), h in zip(plans, hidden):
                h = torch.as_tensor(h).float()
                o = np.asarray(orig_ids[k])
                lp_o = bases[k].logprobs.astype(np.float64)
                n = len(o)
                inside = tc < n
                tc_row = np.where(inside, tc, 0)
                y_tok = np.array([first[key] for key in y_keys])
                x_tok = np.array([first[key] for key in x_keys])
                s_tok = o[tc_row]
                # log-normaliser of each row from the base pass: logit(written) - logprob(written)
                lse = logits(h[:n], torch.from_numpy(o[:, None])).reshape(n) - lp_o
                vocab = np.unique(np.concatenate([y_tok, x_tok, s_tok]))  # sorted: columns by searchsorted
                logp = logits(h[:n], torch.from_numpy(vocab)) - lse[:, None]  # [n, |vocab|]
                cy, cx, cs = (np.searchsorted(vocab, t) for t in (y_tok, x_tok, s_tok))
                prior = logp[ta, cy] - lp_o[ta]
                prior += np.where(inside, logp[tc_row, cx] - lp_o[tb] + logp[tb, cs] - lp_o[tc_row], 0.0)
                # the exact pass costs one output-layer row per window token: a candidate must
                # earn its window (tokens changed + context after) at ``window_price`` nats each
                window = tc - ta + np.where(inside, np.minimum(self.context_after, n - tc), 0)
                bar = self.min_prior + self.window_price * window
                # of the ``limit`` best-ranked distinct candidates, those that clear their bar
                seen = {texts[k]}
                picked: list[Candidate] = []
                ranked = 0
                for i in np.argsort(-prior, kind="stable"):
                    if prior[i] < self.min_prior or ranked >= limit:
                        break
                    row = int(keep[i])
                    c = apply_move(texts[k], units, table.move(row), table.recase.get(row, {}))
                    if c.text in seen:
                        continue
                    seen.add(c.text)
                    ranked += 1
                    if prior[i] >= bar[i]:
                        c.prior = float(prior[i])
                        picked.append(c)
                out[k] = picked
        return out

    # -- stage 2 --------------------------------------------------------------------------

    def score(self, texts: Sequence[str], bases: Sequence["TokenScores"], cands: Sequence[list[Candidate]],
              context_after: int | None = None, *, best_only: bool = False) -> None:
        """Stage 2: fill ``gain``, ``score``, ``window`` and ``detail`` of the given candidates (one
        batched, packed pass of the model's body, then the output layer).

        ``best_only``: exact figures only where they can matter to :meth:`search`, i.e. for each
        sentence's best candidate when its score is positive; candidates that provably cannot be
        that keep ``score`` NaN and carry the bound that ruled them out (``bound``). The result of
        :meth:`search` is the same (see :meth:`_best_only_logprobs`).
        """
        after = self.context_after if context_after is None else context_after
        orig_ids = self.lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        untokenized = [c for cs in cands for c in cs if not c.ids]
        if untokenized:  # one tokenizer call for all (one per candidate cost more than the search's bookkeeping)
            for c, ids in zip(untokenized, self.lm.tokenizer([c.text for c in untokenized],
                                                             add_special_tokens=False)["input_ids"]):
                c.ids = ids
        groups, owners, spans = [], [], []
        for k, cs in enumerate(cands):
            if not cs:
                continue
            o = orig_ids[k]
            g = WindowGroup(o, [], [])
            span = []
            for c in cs:
                ids = c.ids
                p = _common_prefix(o, ids)
                s = _common_suffix(o, ids, p)
                tail = min(after, s)
                g.starts.append(p)
                g.windows.append(ids[p:len(ids) - s + tail])
                span.append((p, len(o) - s + tail))
            groups.append(g)
            owners.append(k)
            spans.append(span)
        if not groups:
            return
        out_rows = None  # the output rows the windows' first log-probs need, gathered once for all groups
        if self.lm.has_output_matrix:
            out_rows = self.lm.output_rows(np.array([t for g in groups for t in (*(g.prefix[p] for p in g.starts),
                                                                                 *(w[0] for w in g.windows if w))],
                                                    dtype=np.int64))
        first = [self._first_logprobs(bases[k], g, out_rows) for k, g in zip(owners, groups)]
        states = self.lm.window_states(groups, first, [bases[k].kv for k in owners])
        self.counts["window_rows"] += len(states.targets)
        # log p(original window) per candidate: from the base pass
        orig = [[float(bases[k].logprobs[p:e].sum()) for p, e in span] for k, span in zip(owners, spans)]
        if states.computed is not None:
            rows = states.computed
        elif best_only and self.lm.has_output_matrix:
            rows = self._best_only_logprobs(states, [cands[k] for k in owners], orig)
        else:
            rows = self.lm.head_logprobs(states.hidden, states.targets).cpu().numpy()
            self.counts["exact_rows"] += len(rows)
        for g, (k, span) in enumerate(zip(owners, spans)):
            for w, (c, (p, end_o)) in enumerate(zip(cands[k], span)):
                if best_only and np.isnan(rows[states.rows[g][w]]).any():
                    continue  # ruled out by its bound
                lp = states.window_logprobs(g, w, rows)
                c.gain = float(lp.sum()) - orig[g][w]
                c.score = self.normalise(c.gain, c.moved_words)
                c.window = len(lp)
                c.detail = (p, end_o, lp)

    def _best_only_logprobs(self, states: WindowStates, cands: list[list[Candidate]], orig: list[list[float]]) -> np.ndarray:
        """Per-row exact log-probs of the windows that can be their sentence's best; NaN for the others.

        Every window first gets an upper bound of its log-probs from a shortlist of the
        vocabulary (:meth:`CausalLM.head_logprob_bounds`, ~7% of the output layer's cost): the
        log-normaliser over fewer tokens is smaller, so each log-prob, the gain and the score
        are bounded from above. Then, in rounds, each sentence's candidate with the highest
        bound still above its best exact score so far (and above 0: :meth:`search` reports
        no candidate that does not beat the sentence) is scored exactly with the whole output
        layer; a sentence is done when no bound beats its best. A candidate left out cannot be
        the best, so :meth:`search`'s result is the exact search's (to float rounding: the
        output layer sees other row blocks). On fluent and perturbed tuning rows (1000-1199,
        seed 1) 40% of the windows needed the whole output layer.

        In bfloat16 re-scoring the exact normaliser is itself approximate (within 0.05 nats a
        row), so bounds get that slack per row.
        """
        import torch

        shortlist = english_shortlist(self.lm)
        bound_rows = self.lm.head_logprob_bounds(states.hidden, states.targets, shortlist).cpu().numpy()
        slack = 0.05 if "bfloat16" in self.lm.rescoring_dtype() else 1e-4
        exact = np.full(len(bound_rows), np.nan)
        todo = []  # per sentence: [best exact score so far, pending windows best bound first]
        for g, cs in enumerate(cands):
            for w, c in enumerate(cs):
                lp = states.window_logprobs(g, w, bound_rows)
                c.bound = self.normalise(float(lp.sum()) - orig[g][w] + slack * len(lp), c.moved_words)
            todo.append([0.0, sorted(range(len(cs)), key=lambda w: -cs[w].bound)])
        while True:
            now = []
            for g, (best, pending) in enumerate(todo):
                if pending and cands[g][pending[0]].bound <= best:
                    pending.clear()  # sorted by bound: none of the rest can beat the best either
                if pending:
                    now.append((g, pending.pop(0)))
            if not now:
                return exact
            idx = np.concatenate([states.rows[g][w] for g, w in now])
            if len(idx):
                sel = torch.from_numpy(idx).to(states.targets.device)
                exact[idx] = self.lm.head_logprobs(states.hidden[sel], states.targets[sel]).cpu().numpy()
                self.counts["exact_rows"] += len(idx)
            for g, w in now:
                lp = states.window_logprobs(g, w, exact)
                score = self.normalise(float(lp.sum()) - orig[g][w], cands[g][w].moved_words)
                todo[g][0] = max(todo[g][0], score)

    def _first_logprobs(self, base: "TokenScores", g: WindowGroup, out_rows=None) -> list[float | None]:
        """Log-prob of each window's first token from the base pass's kept hidden states.

        That token is predicted from the unchanged prefix, i.e. from the very state that
        predicted the written token there, whose log-normaliser the base pass fixes
        (``logit(written) - logprob(written)``): a dot product instead of a row of the output
        layer. None (computed in the pass) when the states were not kept. ``out_rows``: the output
        rows these dot products need, gathered once for all groups (:meth:`CausalLM.output_rows`).
        """
        import torch

        if base.hidden is None or not self.lm.has_output_matrix or not g.windows:
            return [None] * len(g.windows)
        starts = np.array(g.starts)
        with torch.inference_mode():
            h = torch.from_numpy(base.hidden[starts]).float()
            written = torch.tensor([g.prefix[p] for p in starts])[:, None]
            new = torch.tensor([w[0] for w in g.windows])[:, None]
            logits = out_rows.logits if out_rows is not None else self.lm.token_logits
            lse = logits(h, written)[:, 0] - base.logprobs[starts].astype(np.float64)
            return [float(v) for v in logits(h, new)[:, 0] - lse]

    # -- both stages ---------------------------------------------------------------------

    def search(self, texts: Sequence[str]) -> list[Candidate | None]:
        """The best reordering of each text (``None`` where no candidate beats it)."""
        bases = self.lm.score(list(texts))
        t0 = time.perf_counter()
        short = self.propose(texts, bases)
        t1 = time.perf_counter()
        self.score(texts, bases, short, best_only=True)
        self.timings["stage1_s"] += t1 - t0
        self.timings["stage2_s"] += time.perf_counter() - t1
        best = []
        for cs in short:
            c = max((c for c in cs if not np.isnan(c.score)), key=lambda c: c.score, default=None)
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
