"""Does fine-tuning the LM's top layers as a COMET-style estimator beat the frozen-state heads?

    python benchmarks/finetune_top_layers.py extract FEATURES STATES [--per-mlqe-pair 500]
    python benchmarks/finetune_top_layers.py train FEATURES STATES [--layers 2] [--epochs 2] [--lora RANK]

The issue's last untried idea for the with-source quality head (#13): cache the states of the
lower layers once, then train the top ``--layers`` decoder layers of Gemma 3 270M (their
pretrained weights as the start), its final norm and a linear head on the mean of the
sentence's tokens, as a regression on the gold (rank-normal per training set, as the shipped
heads), reading the source the way the ``source`` signal does (``Source: … English
translation: …``, :func:`mtqa.signals.source.conditional_prompt`).

``extract`` (resumable, chunks of 256 rows): per row of the cache that has a source and a
gold (:func:`mtqa.train.cache.wanted`), the input states of layer ``18 - MAX_LAYERS``
for every token of prompt and sentence (at most 256 tokens, the tail kept), float32: Gemma's
residual stream overflows float16. The training rows are newstest2021 and TED MQM (all) and
``--per-mlqe-pair`` seeded rows of each MLQE-PE training pair; the report rows are every dev
row (WMT22 zh-en, MLQE-PE). The rows come from a ``python -m mtqa.train.extract`` cache (its
texts, sources, golds, documents).

``train``: 10% of the training documents (seeded) are held out to choose the epoch; then it
prints per dev set, with document-bootstrap 95% CIs, the Spearman of (a) the pretrained
top layers, frozen, with a ridge on their pooled states (the shipped state heads' kind), (b)
the fine-tuned layers and head, (c) the shipped with-source quality
(``mtqa/resources/quality-gemma-3-270m.json``, as ``benchmarks/quality_cache.py`` applies it)
and (d) the mean of the rank-normal (b) and (c). Nothing here is shipped unless (b) or (d) beats (c) on the dev sets.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: the most top layers ``train`` can fine-tune: ``extract`` keeps the input states of layer
#: 18 - MAX_LAYERS, and ``train`` runs the frozen ones in between once
MAX_LAYERS = 2
MAX_TOKENS = 256
CHUNK = 256


def select_rows(features: str, per_mlqe_pair: int, seed: int = 0) -> list[dict]:
    from mtqa.train.cache import load_features, wanted
    from mtqa.train.quality import is_report_set

    meta, _ = load_features(features)
    rows = [r for r in meta if wanted(r)]
    rng = random.Random(seed)
    out = []
    by_set: dict[str, list[dict]] = {}
    for r in rows:
        by_set.setdefault(r["set"], []).append(r)
    for name in sorted(by_set):
        part = by_set[name]
        if name.startswith("mlqe-") and not is_report_set(name):
            part = rng.sample(part, min(per_mlqe_pair, len(part)))
        out += part
    return out


def extract(features: str, states: str, per_mlqe_pair: int, threads: int | None) -> None:
    import torch

    from mtqa.models import resolve
    from mtqa.models.batching import pad_batch
    from mtqa.models.lm import CausalLM
    from mtqa.signals.source import conditional_prompt

    folder = Path(states)
    folder.mkdir(parents=True, exist_ok=True)
    rows = select_rows(features, per_mlqe_pair)
    listed = folder / "rows.json"
    if listed.is_file():  # a resumed run keeps its rows, even if the cache has grown since
        order = {k: i for i, k in enumerate(json.loads(listed.read_text()))}
        rows = sorted((r for r in rows if r["key"] in order), key=lambda r: order[r["key"]])
    else:
        listed.write_text(json.dumps([r["key"] for r in rows]))
    lm = CausalLM(resolve("gemma-3-270m").path, device="cpu", dtype="float32", threads=threads)
    layer = lm.model.config.num_hidden_layers - MAX_LAYERS
    decoder, _ = lm._decoder_and_head()
    t0 = time.perf_counter()
    for c in range(0, len(rows), CHUNK):
        path = folder / f"states-{c // CHUNK:05d}.npz"
        if path.is_file():
            continue
        part = rows[c:c + CHUNK]
        prompts = [conditional_prompt(r["source"], " ".join(r["text"].split())) for r in part]
        enc = lm.tokenizer([p for p, _ in prompts], add_special_tokens=False, return_offsets_mapping=True)
        seqs, firsts = [], []
        for ids, offs, (_, start) in zip(enc["input_ids"], enc["offset_mapping"], prompts):
            k = next((j for j, (_a, b) in enumerate(offs) if b > start), len(ids))
            ids = list(ids)
            if len(ids) > MAX_TOKENS:
                cut = len(ids) - MAX_TOKENS
                ids, k = ids[cut:], max(0, k - cut)
            seqs.append([lm.prefix_id] + ids)
            firsts.append(1 + k)  # position of the first sentence token in seqs
        kept: list[np.ndarray] = [None] * len(part)  # type: ignore[list-item]
        with torch.inference_mode():
            for batch in lm.batches([len(s) for s in seqs]):
                ids, mask = pad_batch([seqs[i] for i in batch], lm.pad_id)
                out = decoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
                h = out.hidden_states[layer]
                for r, i in enumerate(batch):
                    kept[i] = h[r, :len(seqs[i])].numpy().copy()
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, keys=np.array([r["key"] for r in part]), lens=np.array([len(s) for s in seqs]),
                 first=np.array(firsts), states=np.concatenate(kept))
        tmp.replace(path)
        print(f"{path.name}: {len(part)} rows, {sum(len(s) for s in seqs)} tokens "
              f"[{min(c + CHUNK, len(rows))}/{len(rows)}, {time.perf_counter() - t0:.0f}s]", file=sys.stderr, flush=True)


def load_states(states: str) -> dict[str, tuple[np.ndarray, int]]:
    out = {}
    for p in sorted(Path(states).glob("states-*.npz")):
        z = np.load(p)
        parts = np.split(z["states"], np.cumsum(z["lens"])[:-1])
        for k, s, f in zip(z["keys"].tolist(), parts, z["first"].tolist()):
            out[k] = (s, int(f))
    return out


def _lora_linear(base, rank: int):
    """``base`` (frozen) plus a trainable low-rank update ``B A`` (B starts at zero, so the
    layer starts as the pretrained one)."""
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.base = base
            self.a = torch.nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
            self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x):
            return self.base(x) + (x @ self.a.T) @ self.b.T

    return LoRALinear()


class Estimator:
    """The top ``n`` layers of the LM (trainable copies, or frozen with rank-``lora`` updates of
    their linear maps), its final norm, mean pooling over the sentence's tokens, a linear head."""

    def __init__(self, lm_model, n: int, lora: int = 0):
        import torch

        base = lm_model.model
        cfg = lm_model.config
        top = cfg.num_hidden_layers - n
        self.cfg = cfg
        self.rotary = base.rotary_emb
        self.first = cfg.num_hidden_layers - MAX_LAYERS  # the layer whose input states are cached
        self.frozen = [base.layers[i] for i in range(self.first, top)]  # run once, no grad
        self.layers = torch.nn.ModuleList([copy.deepcopy(base.layers[i]) for i in range(top, cfg.num_hidden_layers)])
        self.types = [cfg.layer_types[i] for i in range(top, cfg.num_hidden_layers)]
        self.frozen_types = [cfg.layer_types[i] for i in range(self.first, top)]
        self.norm = copy.deepcopy(base.norm)
        self.head = torch.nn.Linear(cfg.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)
        for m in (self.layers, self.norm):
            for p in m.parameters():
                p.requires_grad_(not lora or m is self.norm)
        if lora:
            for layer in self.layers:
                for block in (layer.self_attn, layer.mlp):
                    for name, child in list(block.named_children()):
                        if isinstance(child, torch.nn.Linear):
                            setattr(block, name, _lora_linear(child, lora))

    def params(self, layers: bool):
        body = [p for p in list(self.layers.parameters()) + list(self.norm.parameters()) if p.requires_grad] if layers else []
        return body, list(self.head.parameters())

    def _run(self, blocks, types, h, mask, pos):
        pe = {t: self.rotary(h, pos, t) for t in set(types)}
        for layer, t in zip(blocks, types):
            h = layer(h, attention_mask=mask, position_embeddings=pe[t], position_ids=pos)
            if isinstance(h, tuple):
                h = h[0]
        return h

    def inputs(self, seqs: list[tuple[np.ndarray, int]]):
        """Padded states, the 4D causal+padding mask, positions and the pooling weights."""
        import torch

        n = max(len(s) for s, _ in seqs)
        h = torch.zeros(len(seqs), n, self.cfg.hidden_size)
        real = torch.zeros(len(seqs), n, dtype=torch.bool)
        pool = torch.zeros(len(seqs), n)
        for r, (s, f) in enumerate(seqs):
            h[r, :len(s)] = torch.from_numpy(s.astype(np.float32))
            real[r, :len(s)] = True
            if f < len(s):
                pool[r, f:len(s)] = 1.0 / (len(s) - f)
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        mask = (causal[None] & real[:, None, :])[:, None]
        pos = torch.arange(n)[None].expand(len(seqs), n)
        if self.frozen:
            with torch.no_grad():
                h = self._run(self.frozen, self.frozen_types, h, mask, pos)
        return h, mask, pos, pool

    def forward(self, h, mask, pos, pool):
        h = self.norm(self._run(self.layers, self.types, h, mask, pos))
        return self.head((pool[:, :, None] * h).sum(1)).squeeze(1)


def train(features: str, states: str, n_layers: int, epochs: int, lr: float, batch: int, threads: int | None,
          seed: int, lora: int = 0) -> None:
    import torch
    from scipy.stats import spearmanr

    from mtqa.models import resolve
    from mtqa.models.lm import CausalLM
    from mtqa.train.cache import load_features
    from mtqa.train.model import rank_normal
    from mtqa.train.quality import is_report_set, spearman_ci

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    st = load_states(states)
    meta, arrays = load_features(features)
    rows = [r for r in meta if r["key"] in st]
    y = np.zeros(len(rows))
    sets = np.array([r["set"] for r in rows])
    gold = np.array([r["gold"] for r in rows], dtype=np.float64)
    for s in set(sets):
        m = sets == s
        y[m] = rank_normal(gold[m])
    train_idx = [i for i, r in enumerate(rows) if not is_report_set(r["set"])]
    docs = sorted({(rows[i]["set"], rows[i]["doc"]) for i in train_idx})
    random.Random(seed).shuffle(docs)
    held_docs = set(docs[: len(docs) // 10])
    val = [i for i in train_idx if (rows[i]["set"], rows[i]["doc"]) in held_docs]
    fit = [i for i in train_idx if (rows[i]["set"], rows[i]["doc"]) not in held_docs]
    report = [i for i, r in enumerate(rows) if is_report_set(r["set"])]
    print(f"rows: fit {len(fit)}, validation {len(val)} ({len(held_docs)} documents), report {len(report)}; "
          f"fine-tuning the top {n_layers} layers" + (f" (rank-{lora} updates)" if lora else ""), flush=True)

    lm = CausalLM(resolve("gemma-3-270m").path, device="cpu", dtype="float32", threads=threads)
    for p in lm.model.parameters():
        p.requires_grad_(False)

    def batches(idx, shuffle, rng=None):
        idx = sorted(idx, key=lambda i: len(st[rows[i]["key"]][0]))  # by length, as COMET does
        chunks = [idx[i:i + batch] for i in range(0, len(idx), batch)]
        if shuffle:
            rng.shuffle(chunks)
        return chunks

    def predict(est, idx):
        out = np.zeros(len(rows))
        with torch.no_grad():
            for b in batches(idx, False):
                out[b] = est.forward(*est.inputs([st[rows[i]["key"]] for i in b])).numpy()
        return out[idx]

    def ridge_on_frozen(est, fit, val, report) -> np.ndarray:
        """Baseline: the pretrained top layers, frozen; a ridge on the pooled final states
        (penalty chosen on the validation documents)."""
        from mtqa.train.model import fit_ridge, predict_linear

        X = np.zeros((len(rows), lm.model.config.hidden_size))
        with torch.no_grad():
            for b in batches(fit + val + report, False):
                h, mask, pos, pool = est.inputs([st[rows[i]["key"]] for i in b])
                h = est.norm(est._run(est.layers, est.types, h, mask, pos))
                X[b] = (pool[:, :, None] * h).sum(1).numpy()
        best = None
        for alpha in (1.0, 10.0, 100.0, 1000.0, 10000.0):
            r = fit_ridge(X[fit], y[fit], alpha)
            pv = predict_linear(r, X[val])
            rho = float(np.mean([spearmanr(pv[sets[val] == s], y[val][sets[val] == s]).statistic for s in set(sets[val])]))
            print(f"  frozen ridge {alpha:g}: validation mean Spearman {rho:.3f}", flush=True)
            if best is None or rho > best[0]:
                best = (rho, r)
        out = np.full(len(rows), np.nan)
        out[report] = predict_linear(best[1], X[report])
        return out

    def run(layers: bool) -> np.ndarray:
        est = Estimator(lm.model, n_layers, lora if layers else 0)
        body, head = est.params(layers)
        print(f"  trainable parameters: {sum(p.numel() for p in body + head):,}", flush=True)
        groups = [{"params": head, "lr": 1e-3}] + ([{"params": body, "lr": lr}] if body else [])
        opt = torch.optim.AdamW(groups, weight_decay=0.01)
        steps = epochs * math.ceil(len(fit) / batch)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
        rng = random.Random(seed)
        best, best_state, t0 = -2.0, None, time.perf_counter()
        for ep in range(epochs):
            for j, b in enumerate(batches(fit, True, rng)):
                pred = est.forward(*est.inputs([st[rows[i]["key"]] for i in b]))
                loss = torch.nn.functional.mse_loss(pred, torch.tensor(y[b], dtype=torch.float32))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                if j % 50 == 0:
                    print(f"  epoch {ep + 1} step {j} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)
            pv = predict(est, val)
            rho = float(np.mean([spearmanr(pv[sets[val] == s], y[val][sets[val] == s]).statistic for s in set(sets[val])]))
            print(f"  epoch {ep + 1}: validation mean Spearman {rho:.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)
            if rho > best:
                best = rho
                best_state = copy.deepcopy((est.layers.state_dict(), est.norm.state_dict(), est.head.state_dict()))
        est.layers.load_state_dict(best_state[0])
        est.norm.load_state_dict(best_state[1])
        est.head.load_state_dict(best_state[2])
        out = np.full(len(rows), np.nan)
        out[report] = predict(est, report)
        return out

    frozen = ridge_on_frozen(Estimator(lm.model, n_layers), fit, val, report)
    tuned = run(layers=True)
    # the shipped with-source quality on the same rows, as benchmarks/quality_cache.py computes it
    from quality_cache import COLUMNS, SOURCE_COLUMNS, vectors_of

    from mtqa.combine import LearnedCombiner, resource_path
    from mtqa.train.cache import vector_lookups

    comb = LearnedCombiner.from_file(resource_path("gemma-3-270m"), 0.5)
    rep = [rows[i] for i in report]
    cols = {c: [r.get(c) if r.get(c) is not None else math.nan for r in rep] for c in COLUMNS + list(SOURCE_COLUMNS)}
    cols["src_lang"] = [r.get("src_lang") for r in rep]
    q = comb.combine(cols, [list(r["flags"]) for r in rep], vectors_of(rep, vector_lookups(meta, arrays))).quality
    shipped = np.full(len(rows), np.nan)
    shipped[report] = np.array(q, float)
    print(f"{'set':14s} {'n':>5s}  {'frozen + ridge':>22s}  {'fine-tuned':>22s}  {'shipped with-source':>22s}  {'mean of both':>22s}")
    for s in sorted({sets[i] for i in report}):
        m = np.array([i for i in report if sets[i] == s])
        d = np.array([rows[i]["doc"] for i in m])
        both = rank_normal(tuned[m]) + rank_normal(shipped[m])
        cells = []
        for v in (frozen[m], tuned[m], shipped[m], both):
            rho, lo, hi = spearman_ci(v, gold[m], d)
            cells.append(f"{rho:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        print(f"{s:14s} {len(m):5d}  " + "  ".join(f"{c:>22s}" for c in cells), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("extract", "train"))
    p.add_argument("features", help="a cache written by python -m mtqa.train.extract (+ extract_source)")
    p.add_argument("states", help="folder for the cached lower-layer states")
    p.add_argument("--per-mlqe-pair", type=int, default=500)
    p.add_argument("--layers", type=int, default=MAX_LAYERS)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of the layers (default 2e-5, with --lora 1e-3); the head's is 1e-3")
    p.add_argument("--lora", type=int, default=0, help="rank of low-rank updates instead of training the layers' weights")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.step == "extract":
        extract(a.features, a.states, a.per_mlqe_pair, a.threads)
    else:
        if not 1 <= a.layers <= MAX_LAYERS:
            raise SystemExit(f"--layers: 1 to {MAX_LAYERS} (extract keeps the input states of the top {MAX_LAYERS})")
        lr = a.lr if a.lr is not None else (1e-3 if a.lora else 2e-5)
        train(a.features, a.states, a.layers, a.epochs, lr, a.batch, a.threads, a.seed, a.lora)
    return 0


if __name__ == "__main__":
    sys.exit(main())
