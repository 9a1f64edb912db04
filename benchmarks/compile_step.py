"""What ``compile=True`` (``torch.compile``) buys a training step, per model, on this machine.

    python benchmarks/compile_step.py --threads 2
    python benchmarks/compile_step.py --models xlstmtime,itransformer --repeats 30

For each model at its paper's ETTh1 size (the network ``fit`` builds, as in ``flops.py``), one fp32
training step (forward, MSE, backward, fused AdamW) on a random batch of 32 windows, run eagerly and
through ``torch.compile`` (inductor, default mode) on the same weights.  The two are timed alternately,
step by step, so that the machine's drift over minutes falls on both; the figure is the median of
``--repeats`` pairs after warm-up.  ``compile s`` is the wall time of the first compiled step (tracing
and code generation; torch caches generated code between processes, so a second run of this script
compiles faster).  Prints a Markdown table and appends one JSON line per model to ``--results``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from flops import network, random_batch, step_arguments  # noqa: E402
from ltsf import git_commit, machine  # noqa: E402


def paired_step_times(net, batch, repeats: int) -> tuple[float, float, float]:
    """(eager seconds, compiled seconds, compile seconds) of a training step, medians of alternating pairs."""
    x, x_mark, y_mark, y = batch
    compiled = torch.compile(net)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)
    net.train()

    def step(fn):
        loss = torch.nn.functional.mse_loss(fn(x, x_mark, y_mark), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step(compiled)
    compile_s = time.perf_counter() - t0
    for _ in range(2):
        step(net)
        step(compiled)
    eager, comp = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(net)
        eager.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        step(compiled)
        comp.append(time.perf_counter() - t0)
    return statistics.median(eager), statistics.median(comp), compile_s


def main(argv=None) -> list[dict]:
    args = step_arguments(__doc__.split("\n\n")[0], repeats=10).parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{machine()}\n\n| model | eager ms / step | compiled ms / step | compiled / eager | compile s |\n"
          "|---|---:|---:|---:|---:|")
    rows = []
    for model in args.models.split(","):
        torch.manual_seed(0)
        torch._dynamo.reset()
        net = network(model, args.horizon, args.lookback)
        batch = random_batch(args.batch, args.lookback, args.horizon)
        eager, comp, compile_s = paired_step_times(net, batch, args.repeats)
        row = {"benchmark": "compile_step", "model": model, "horizon": args.horizon, "batch": args.batch,
               "repeats": args.repeats, "eager_ms": round(1000 * eager, 1), "compiled_ms": round(1000 * comp, 1),
               "ratio": round(comp / eager, 3), "compile_s": round(compile_s, 1),
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        rows.append(row)
        print(f"| {model} | {row['eager_ms']:.0f} | {row['compiled_ms']:.0f} | {row['ratio']:.2f}x | "
              f"{row['compile_s']:.0f} |", flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
