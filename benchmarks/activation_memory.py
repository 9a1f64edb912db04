"""What a training step keeps for backward: the tensors autograd saves, per model and per source line.

    python benchmarks/activation_memory.py                         # every model, horizon 96
    python benchmarks/activation_memory.py --models informer --horizon 720 --precision bf16-mixed

One forward pass of each model at its paper's ETTh1 size (``ltsf.CONFIGS``), batch 32, in training mode,
under ``torch.autograd.graph.saved_tensors_hooks``: every tensor saved for the backward pass is counted
once (by its storage), with the line of tsformer that saved it.  This is the activation memory a step
holds at its peak, on top of the weights, their gradients and the optimizer's two moments (``4 x`` the
weights in fp32).  ``--precision bf16-mixed`` runs the forward pass under CPU autocast to bfloat16, as
Lightning's ``bf16-mixed`` does.  Appends one JSON line per model to ``--results``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from flops import network, random_batch  # noqa: E402
from ltsf import CONFIGS, git_commit, machine  # noqa: E402

MB = 2 ** 20


def saved_for_backward(net, batch, precision: str) -> dict:
    seen: dict[int, tuple[int, str, str]] = {}

    def pack(t):
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            frames = [f for f in traceback.extract_stack() if "/tsformer/" in f.filename.replace("\\", "/")]
            where = f"{frames[-1].filename.split('tsformer/')[-1]}:{frames[-1].lineno}" if frames else "(outside tsformer)"
            seen[key] = (t.untyped_storage().nbytes(), str(t.dtype).removeprefix("torch."), where)
        return t

    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16-mixed"
                else contextlib.nullcontext())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        net(*batch)
    lines = collections.defaultdict(lambda: [0, 0])
    dtypes = collections.Counter()
    for nbytes, dtype, where in seen.values():
        lines[where][0] += nbytes
        lines[where][1] += 1
        dtypes[dtype] += nbytes
    return {"saved_mb": round(sum(n for n, _, _ in seen.values()) / MB, 1), "n_saved": len(seen),
            "by_dtype_mb": {k: round(v / MB, 1) for k, v in dtypes.most_common()},
            "top_lines": [{"where": w, "mb": round(n / MB, 1), "tensors": c}
                          for w, (n, c) in sorted(lines.items(), key=lambda kv: -kv[1][0])[:8]]}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(CONFIGS))
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"], default="32-true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"saved for backward, batch {args.batch_size}, lookback {args.lookback}, horizon {args.horizon}, "
          f"{args.precision}; {machine()}")
    print("\n| model | weights MB | saved for backward MB | tensors | largest sources |\n|---|---:|---:|---:|---|")
    rows = []
    for model in args.models.split(","):
        torch.manual_seed(0)
        net = network(model, args.horizon, args.lookback).train()
        x, x_mark, y_mark, _ = random_batch(args.batch_size, args.lookback, args.horizon)
        found = saved_for_backward(net, (x, x_mark, y_mark), args.precision)
        row = {"benchmark": "activation_memory", "model": model, "horizon": args.horizon, "lookback": args.lookback,
               "batch_size": args.batch_size, "precision": args.precision,
               "weights_mb": round(sum(t.numel() * t.element_size() for t in net.parameters()) / MB, 1), **found,
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        rows.append(row)
        top = "; ".join(f"{t['where']} {t['mb']:.0f}" for t in found["top_lines"][:3])
        print(f"| {model} | {row['weights_mb']:.0f} | {found['saved_mb']:.0f} | {found['n_saved']} | {top} |",
              flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
