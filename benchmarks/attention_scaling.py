"""How Informer's ProbSparse self-attention scales with the sequence length, against full attention.

    python benchmarks/attention_scaling.py                       # L = 96, 384, 1536, 6144; a Markdown table
    python benchmarks/attention_scaling.py --lengths 96 768 --batch 2 --threads 2

Times one forward + backward pass of a multi-head self-attention layer (``AttentionLayer``, d_model 512,
8 heads, Informer's width) with three inner attentions on random input of shape ``(batch, L, 512)``:

* ``probsparse``: ``ProbSparseAttention(factor=5)`` (u = U = 5 ceil(ln L) queries / sampled keys);
* ``full (sdpa)``: torch's fused ``scaled_dot_product_attention`` (what tsformer's ``FullAttention`` calls on a
  CPU above ``EXPLICIT_MAX_SCORES`` scores per head, ``attention_kernels.py``);
* ``full (explicit)``: ``softmax(Q K^T / sqrt(E)) V`` with the ``L x L`` score matrix materialized, as the
  reference implementations compute it.

Each (attention, length) runs in a fresh process, so its peak memory is its own: the reported peak is the
process's peak RSS minus its RSS before the first pass.  Times are the fastest of ``--repeats`` passes
after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

KINDS = ("probsparse", "full (sdpa)", "full (explicit)")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_one(kind: str, length: int, batch: int, repeats: int, threads: int | None) -> dict:
    import torch

    from tsformer.nn.layers import AttentionLayer, ProbSparseAttention

    if threads:
        torch.set_num_threads(threads)

    from attention_kernels import explicit, fused  # this folder is on sys.path: the script runs by its path

    class Inner(torch.nn.Module):  # one of attention_kernels' two forms as an inner attention
        def __init__(self, form):
            super().__init__()
            self.form = form

        def forward(self, q, k, v, *, causal=False):
            return self.form(q, k, v, causal)

    inner = {"probsparse": lambda: ProbSparseAttention(factor=5), "full (sdpa)": lambda: Inner(fused),
             "full (explicit)": lambda: Inner(explicit)}[kind]()
    torch.manual_seed(0)
    layer = AttentionLayer(inner, d_model=512, n_heads=8)
    x = torch.randn(batch, length, 512, requires_grad=True)
    base = _rss_mb()
    times = []
    for i in range(repeats + 1):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        start = time.perf_counter()
        layer(x, x, x).square().mean().backward()
        if i:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "length": length, "batch": batch, "ms": round(1000 * min(times), 1),
            "peak_mb": round(peak - base, 1), "threads": torch.get_num_threads()}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[96, 384, 1536, 6144])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--one", nargs=2, metavar=("KIND", "LENGTH"), help=argparse.SUPPRESS)  # a child process
    p.add_argument("--json", action="store_true", help="also print one JSON line per measurement")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.batch, args.repeats, args.threads)))
        return [{}]
    import torch

    print(f"self-attention layer (d_model 512, 8 heads), forward + backward, batch {args.batch}; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}")
    print("\n| L | " + " | ".join(f"{k} ms | {k} peak MB" for k in KINDS) + " | full (sdpa) / probsparse time |")
    print("|---:|" + "---:|---:|" * len(KINDS) + "---:|")
    rows = []
    for length in args.lengths:
        cells = {}
        for kind in KINDS:
            cmd = [sys.executable, __file__, "--one", kind, str(length), "--batch", str(args.batch),
                   "--repeats", str(args.repeats)] + (["--threads", str(args.threads)] if args.threads else [])
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                cells[kind] = {"kind": kind, "length": length, "ms": float("nan"), "peak_mb": float("nan"),
                               "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
            else:
                cells[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(cells[kind])
        ratio = cells["full (sdpa)"]["ms"] / cells["probsparse"]["ms"]
        print(f"| {length} | " + " | ".join(f"{cells[k]['ms']:.1f} | {cells[k]['peak_mb']:.0f}" for k in KINDS)
              + f" | {ratio:.2f}x |", flush=True)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
