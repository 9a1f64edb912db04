"""Arithmetic rate of a training step against the machine's own matmul rate, in fp32 and bf16.

    python benchmarks/flops.py                           # every model, ETTh1 settings, batch 32
    python benchmarks/flops.py --models informer,autoformer --horizon 96 --threads 2
    python benchmarks/flops.py --models etsformer --horizon 720 --fp32-only   # CPUs without bf16 units

For each model at its paper's ETTh1 size (``ltsf.CONFIGS``; 7 variates, 4 calendar features, lookback
96), one training step (forward, MSE, backward, AdamW step) on a random batch of 32 windows is

* counted: the floating-point operations of its matrix products, convolutions and attention kernels
  (``torch.utils.flop_counter.FlopCounterMode``; FFTs, scans and element-wise work are not counted,
  so the rate is a lower bound for the models that use them);
* timed: the median of ``--repeats`` steps after two warm-up steps, in fp32 and under
  ``torch.autocast("cpu", dtype=torch.bfloat16)`` -- what ``precision="bf16-mixed"`` does.  On a CPU
  without bf16 instructions (AVX2 only) bf16 is emulated and a large step can take minutes:
  ``--fp32-only`` skips it.

The reference rate is a plain ``torch.matmul`` of two 2048 x 2048 matrices on the same threads, in
fp32 and bf16.  Prints a Markdown table and appends one JSON line per model to ``--results``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from ltsf import CONFIGS, TRAINING_ONLY, git_commit, machine  # noqa: E402

from tsformer import registry  # noqa: E402


def matmul_rate(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def network(model: str, horizon: int, lookback: int):
    """The estimator's own network, as ``fit`` builds it for ETTh1 (7 variates, 4 hourly calendar features)."""
    cls = registry.get_estimator(model)
    params = {k: v for k, v in CONFIGS[model].items() if k not in TRAINING_ONLY}
    return cls(lookback=lookback, horizon=horizon, **params)._build_network(n_vars=7, n_marks=4)


def random_batch(batch: int, lookback: int, horizon: int):
    """``(x, x_mark, y_mark, y)``: a random ETTh1-shaped batch (7 variates, 4 calendar features in [-0.5, 0.5))."""
    return (torch.randn(batch, lookback, 7), torch.rand(batch, lookback, 4) - 0.5, torch.rand(batch, horizon, 4) - 0.5,
            torch.randn(batch, horizon, 7))


def step_arguments(description: str, *, repeats: int) -> argparse.ArgumentParser:
    """The options every per-step benchmark here takes (models, sizes, repeats, threads, results file)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--models", default=",".join(CONFIGS))
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    return p


def step_time(net, batch, *, bf16: bool, repeats: int) -> float:
    x, x_mark, y_mark, y = batch
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)  # as the training module does
    net.train()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.mse_loss(net(x, x_mark, y_mark).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def count_flops(net, batch) -> int:
    x, x_mark, y_mark, y = batch
    net.train()
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.mse_loss(net(x, x_mark, y_mark), y).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main(argv=None) -> list[dict]:
    parser = step_arguments(__doc__.split("\n\n")[0], repeats=5)
    parser.add_argument("--fp32-only", action="store_true", help="time fp32 steps only (no bf16 autocast)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak32 = matmul_rate(torch.float32)
    peak16 = None if args.fp32_only else matmul_rate(torch.bfloat16)
    print(f"torch.matmul 2048x2048: fp32 {peak32:.0f} GFLOP/s, "
          f"bf16 {'not timed' if peak16 is None else f'{peak16:.0f} GFLOP/s'}; {machine()}")
    print("\n| model | GFLOP / step | fp32 ms / step | fp32 GFLOP/s | of matmul fp32 | bf16 ms / step | "
          "bf16 speed-up |\n|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for model in args.models.split(","):
        torch.manual_seed(0)
        net = network(model, args.horizon, args.lookback)
        batch = random_batch(args.batch, args.lookback, args.horizon)
        flops = count_flops(net, batch) * 1.0  # forward + backward
        t32 = step_time(net, batch, bf16=False, repeats=args.repeats)
        t16 = None if args.fp32_only else step_time(net, batch, bf16=True, repeats=args.repeats)
        row = {"benchmark": "flops", "model": model, "horizon": args.horizon, "batch": args.batch,
               "gflop_per_step": round(flops / 1e9, 2), "fp32_ms": round(1000 * t32, 1),
               "fp32_gflops": round(flops / t32 / 1e9, 1), "fraction_of_matmul": round(flops / t32 / 1e9 / peak32, 3),
               "bf16_ms": None if t16 is None else round(1000 * t16, 1),
               "bf16_speedup": None if t16 is None else round(t32 / t16, 2),
               "matmul_fp32_gflops": round(peak32, 1), "matmul_bf16_gflops": None if peak16 is None else round(peak16, 1),
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        rows.append(row)
        bf16 = "– | –" if t16 is None else f"{row['bf16_ms']:.0f} | {row['bf16_speedup']:.2f}x"
        print(f"| {model} | {row['gflop_per_step']:.1f} | {row['fp32_ms']:.0f} | {row['fp32_gflops']:.0f} | "
              f"{100 * row['fraction_of_matmul']:.0f}% | {bf16} |", flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
