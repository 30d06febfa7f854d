"""mtqa's own Gemma 3 decoder against transformers' on a device: equal, or how far apart.

    python benchmarks/gemma3_device_check.py [--device cuda] [--dtype bfloat16] [--model gemma-3-270m]

``tests/models/test_gemma3.py`` holds the decoder (:mod:`mtqa.models.gemma3`) to transformers
bit for bit on the CPU. A GPU may run other kernels for the same call (cuBLAS algorithms,
fused attention), so there the question is measured rather than assumed, without pytest (the
lent machine's image has none; ``CHECK=1 bash benchmarks/gpu_offline.sh run N`` runs this):
the last hidden states of padded and unpadded batches and of a 521-token sequence, and the
per-token log-probs and entropies of ``CausalLM.score`` over the bundled sample sentences,
printed as "equal" or the largest absolute difference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _report(name: str, a: torch.Tensor, b: torch.Tensor) -> bool:
    same = torch.equal(a, b)
    diff = 0.0 if same else float((a.float() - b.float()).abs().max())
    print(f"  {name:<44} {'equal' if same else f'max |difference| {diff:.3g}'}")
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32", "float16"))
    ap.add_argument("--model", default="gemma-3-270m")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM

    from mtqa.models import gemma3, resolve
    from mtqa.models.batching import pad_batch
    from mtqa.models.lm import CausalLM
    from mtqa.segment import segment
    from mtqa.types import Article

    path = resolve(args.model).path
    dtype = getattr(torch, args.dtype)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(args.device).eval()
    own = gemma3.load(path, dtype).to(args.device)
    print(f"{args.model}, {args.device}, {args.dtype}: mtqa's decoder against transformers' ({hf.config._attn_implementation})")
    g = torch.Generator().manual_seed(0)
    seqs = [[2] + torch.randint(5, 50_000, (n,), generator=g).tolist() for n in (12, 7, 30, 1)]
    ids, mask = pad_batch(seqs, 0)
    same = True
    with torch.inference_mode():
        for name, m, x in (("padded batch", mask, ids), ("unpadded batch (is_causal)", None, ids[:, :8])):
            a = hf.model(input_ids=x.to(args.device), attention_mask=None if m is None else m.to(args.device))
            b = own.model(input_ids=x.to(args.device), attention_mask=None if m is None else m.to(args.device))
            same &= _report(name, a.last_hidden_state, b.last_hidden_state)
        long = torch.tensor([[2] + torch.randint(5, 50_000, (520,), generator=g).tolist()], device=args.device)
        a = hf.model(input_ids=long, attention_mask=torch.ones_like(long)).last_hidden_state
        b = own.model(input_ids=long, attention_mask=torch.ones_like(long)).last_hidden_state
        same &= _report("521 tokens (past the sliding window)", a, b)
    texts = [s.text for f in sorted((ROOT / "data").glob("*.txt"))
             for s in segment(Article(f.stem, f.read_text(encoding="utf-8"), str(f)), "article")]
    mine = CausalLM(path, device=args.device, dtype=args.dtype, keep_hidden=True)
    theirs = CausalLM.__new__(CausalLM)
    theirs.__dict__.update(mine.__dict__)
    theirs.model, theirs._cache = hf, type(mine._cache)()
    x, y = mine.score(texts), theirs.score(texts)
    same &= _report(f"CausalLM.score log-probs ({len(texts)} sentences)",
                    torch.from_numpy(np.concatenate([s.logprobs for s in x])),
                    torch.from_numpy(np.concatenate([s.logprobs for s in y])))
    same &= _report("CausalLM.score entropies",
                    torch.from_numpy(np.concatenate([s.entropies for s in x])),
                    torch.from_numpy(np.concatenate([s.entropies for s in y])))
    print("all equal" if same else "not all equal (see above)")


if __name__ == "__main__":
    main()
