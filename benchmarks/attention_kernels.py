"""Full attention on a CPU: the explicit form against torch's fused kernel, by sequence length.

    python benchmarks/attention_kernels.py --threads 2            # a Markdown table
    python benchmarks/attention_kernels.py --lengths 7 96 384 --repeats 20

``FullAttention`` computes ``softmax(Q K^T / sqrt(E)) V`` either explicitly (two batched matmuls and a softmax
over the materialized score matrix) or through ``torch.nn.functional.scaled_dot_product_attention``, whose CPU
kernel is a flash-attention one (blocks of queries and keys, no score matrix kept).  Which is faster depends
on the length: this times both on random ``(batch, heads, L, E)`` queries, keys and values, in inference
(``no_grad``) and as a training pass (forward + backward), alternating the two forms pass by pass, and
reports the medians.  ``tsformer.nn.layers.attention.EXPLICIT_MAX_SCORES`` (the largest ``L_q x L_k``
computed explicitly on a CPU) is set from it.  The default lengths are iTransformer's token counts on ETTh1 (7
variates, 11 with the calendar tokens; head width 32) and the square lengths 48 to 384 of the
encoder-decoder models (head width 64), batch 32, 8 heads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def explicit(q, k, v, causal: bool = False):
    """``softmax(Q K^T / sqrt(E)) V`` with the score matrix materialized, as the reference implementations do."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if causal:
        scores = scores.masked_fill(torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def fused(q, k, v, causal: bool = False):
    """torch's fused kernel."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def time_pair(length: int, head_dim: int, batch: int, heads: int, repeats: int) -> dict:
    torch.manual_seed(0)
    q, k, v = (torch.randn(batch, heads, length, head_dim, requires_grad=True) for _ in range(3))
    grad = torch.randn(batch, heads, length, head_dim)
    torch.testing.assert_close(explicit(q, k, v), fused(q, k, v), rtol=1e-4, atol=1e-5)  # the same function
    out = {}
    for mode in ("inference", "training"):
        times = {"explicit": [], "fused": []}
        for i in range(repeats + 2):
            for name, fn in (("explicit", explicit), ("fused", fused)):
                t0 = time.perf_counter()
                if mode == "inference":
                    with torch.no_grad():
                        fn(q, k, v)
                else:
                    fn(q, k, v).backward(grad)
                if i >= 2:  # two warm-up passes
                    times[name].append(time.perf_counter() - t0)
        for name, ts in times.items():
            out[f"{mode} {name} ms"] = 1e3 * statistics.median(ts)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[7, 11, 48, 96, 128, 192, 384])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.heads} heads")
    print("| L | head width | inference: explicit ms | fused ms | fused / explicit "
          "| training: explicit ms | fused ms | fused / explicit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for length in args.lengths:
        head_dim = 32 if length < 24 else 64
        r = time_pair(length, head_dim, args.batch, args.heads, args.repeats)
        ie, if_, te, tf = (r["inference explicit ms"], r["inference fused ms"], r["training explicit ms"],
                           r["training fused ms"])
        print(f"| {length} | {head_dim} | {ie:.2f} | {if_:.2f} | {if_ / ie:.2f}x | {te:.2f} | {tf:.2f} | {tf / te:.2f}x |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
