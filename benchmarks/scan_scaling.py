"""How the pure-PyTorch selective scan scales with the sequence length.

    python benchmarks/scan_scaling.py                      # L = 96 ... 3072, prints a Markdown table
    python benchmarks/scan_scaling.py --lengths 96 768 --batch 8 --channels 64 --state 16

Times one forward + backward pass of ``tsformer.nn.layers.ssm.selective_scan`` in its parallel form
(the odd-even scan: ``O(log L)`` sequential steps, ``O(L)`` work, used for training) against the same
recurrence run as a sequential loop (``mode="recurrent"``, one step per position, differentiated by
autograd), on random Δ, A, B, C, D, z of shape ``(batch, channels, L)`` / ``(channels, state)``.
Each figure is the fastest of ``--repeats`` runs after one warm-up; both forms are checked to agree.
On a CPU the parallel form runs over chunks of the time axis sized to ``ssm.CPU_CHUNK_BYTES``; ``--whole``
adds a column with the whole sequence as one chunk (the form before chunking), to show what chunking gains
where ``batch * channels * state`` is large (``--batch 32 --channels 512 --state 16 --lengths 325``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from tsformer.nn.layers import ssm
from tsformer.nn.layers.ssm import selective_scan


def inputs(batch: int, channels: int, state: int, length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    u, delta, z = (torch.randn(batch, channels, length, generator=g) for _ in range(3))
    A = -torch.rand(channels, state, generator=g) - 0.1
    B, C = (torch.randn(batch, state, length, generator=g) for _ in range(2))
    D, bias = torch.randn(channels, generator=g), torch.randn(channels, generator=g) * 0.5
    return [t.requires_grad_() for t in (u, delta, A, B, C, D, z, bias)]


def forward_backward(mode: str, args) -> tuple[float, torch.Tensor]:
    for t in args:
        t.grad = None
    u, delta, A, B, C, D, z, bias = args
    start = time.perf_counter()
    y = selective_scan(u, delta, A, B, C, D, z, bias, delta_softplus=True, mode=mode)
    y.square().mean().backward()
    return time.perf_counter() - start, y.detach()


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[96, 192, 384, 768, 1536, 3072])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--channels", type=int, default=32, help="d_inner of the Mamba block")
    p.add_argument("--state", type=int, default=16, help="d_state")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="also print one JSON line per length")
    p.add_argument("--whole", action="store_true", help="also time the parallel form over the whole sequence at once")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"selective scan, forward + backward, batch {args.batch}, channels {args.channels}, state {args.state}; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    whole = " parallel, one chunk (ms) |" if args.whole else ""
    print(f"\n| L | parallel scan (ms) | sequential loop (ms) | loop / parallel |{whole}\n|---:|---:|---:|---:|"
          + ("---:|" if args.whole else ""))
    rows = []
    chunk_bytes = ssm.CPU_CHUNK_BYTES
    for length in args.lengths:
        x = inputs(args.batch, args.channels, args.state, length)
        times = {}
        for mode in ("parallel", "recurrent") + (("whole",) if args.whole else ()):
            ssm.CPU_CHUNK_BYTES = 2**62 if mode == "whole" else chunk_bytes
            mode_ = "parallel" if mode == "whole" else mode
            forward_backward(mode_, x)  # warm-up
            runs = [forward_backward(mode_, x) for _ in range(args.repeats)]
            times[mode] = min(r[0] for r in runs)
            times[mode + "_y"] = runs[0][1]
        ssm.CPU_CHUNK_BYTES = chunk_bytes
        torch.testing.assert_close(times["parallel_y"], times["recurrent_y"], rtol=1e-4, atol=1e-4)
        row = {"length": length, "parallel_ms": round(1000 * times["parallel"], 2),
               "loop_ms": round(1000 * times["recurrent"], 2)}
        row["ratio"] = round(row["loop_ms"] / row["parallel_ms"], 1)
        line = f"| {length} | {row['parallel_ms']:.1f} | {row['loop_ms']:.1f} | {row['ratio']:.1f}x |"
        if args.whole:
            row["whole_ms"] = round(1000 * times["whole"], 2)
            line += f" {row['whole_ms']:.1f} |"
        rows.append(row)
        print(line, flush=True)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
