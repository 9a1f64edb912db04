"""Where a training step's time goes: the torch profiler's top operators for each model.

    python benchmarks/profile_step.py                          # every model, ETTh1 settings, batch 32
    python benchmarks/profile_step.py --models autoformer --top 12 --threads 2

Each model at its paper's ETTh1 size (``ltsf.CONFIGS``; 7 variates, 4 calendar features, lookback 96) runs
``--steps`` training steps (forward, MSE, backward, AdamW) on a random batch under
``torch.profiler``, after two warm-up steps; the operators are ranked by their own CPU time.
Prints one Markdown table per model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from flops import network, random_batch  # noqa: E402
from ltsf import CONFIGS, machine  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(CONFIGS))
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"training-step profile, batch {args.batch}, lookback 96, horizon {args.horizon}; {machine()}")
    for model in args.models.split(","):
        torch.manual_seed(0)
        net = network(model, args.horizon, 96).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)  # as the training module does
        x, x_mark, y_mark, y = random_batch(args.batch, 96, args.horizon)

        def step():
            loss = torch.nn.functional.mse_loss(net(x, x_mark, y_mark), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(2):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        print(f"\n**{model}**: {total / 1000 / args.steps:.0f} ms per step (profiled)\n")
        print("| operator | share of step | calls per step |\n|---|---:|---:|")
        for e in events[: args.top]:
            print(f"| `{e.key}` | {100 * e.self_cpu_time_total / total:.1f}% | {e.count // args.steps} |")


if __name__ == "__main__":
    main()
