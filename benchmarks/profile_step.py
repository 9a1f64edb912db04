"""Where a training step's time goes: the torch profiler's top operators for each model.

    python benchmarks/profile_step.py                          # every model, ETTh1 settings, batch 32
    python benchmarks/profile_step.py --models autoformer --top 12 --threads 2
    python benchmarks/profile_step.py --device cuda --models itransformer,informer

Each model at its paper's ETTh1 size (``ltsf.CONFIGS``; 7 variates, 4 calendar features, lookback 96) runs
``--steps`` training steps (forward, MSE, backward, AdamW) on a random batch under
``torch.profiler``, after two warm-up steps; the operators are ranked by their own CPU time.
Prints one Markdown table per model.

With ``--device cuda`` the step runs on the GPU and the profile also records the GPU's kernels: the table
gains each operator's GPU time, and the header gives the step's wall time (timed without the profiler,
synchronized), the GPU's busy time per step (the sum of the kernels' times) and the number of kernels
launched, which together say whether the step is bound by the GPU's arithmetic or by launching it.
"""

from __future__ import annotations

import argparse
import sys
import time
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
    p.add_argument("--device", default="cpu", help="cpu, or cuda to profile the step on the GPU")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    where = f"; {torch.cuda.get_device_name(device)}" if gpu else ""
    print(f"training-step profile, batch {args.batch}, lookback 96, horizon {args.horizon}; {machine()}{where}")
    for model in args.models.split(","):
        torch.manual_seed(0)
        net = network(model, args.horizon, 96).train().to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)  # as the training module does
        x, x_mark, y_mark, y = (t.to(device) for t in random_batch(args.batch, 96, args.horizon))

        def step():
            loss = torch.nn.functional.mse_loss(net(x, x_mark, y_mark), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(2):
            step()
        if gpu:  # the step's wall time without the profiler's own cost
            torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            torch.cuda.synchronize(device)
            wall_ms = (time.perf_counter() - t0) * 1000 / args.steps
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                step()
            if gpu:
                torch.cuda.synchronize(device)
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        head = f"\n**{model}**: {total / 1000 / args.steps:.1f} ms of CPU per step (profiled)"
        if gpu:
            kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
            busy_ms = sum(e.device_time_total for e in kernels) / 1000 / args.steps
            head += (f"; {wall_ms:.1f} ms wall per step without the profiler; GPU busy {busy_ms:.2f} ms per step "
                     f"({100 * busy_ms / wall_ms:.0f}% of the wall time); {len(kernels) // args.steps} kernels per step")
        print(head)
        print("\n| operator | share of step's CPU time | calls per step |" + (" GPU ms per step |" if gpu else "")
              + "\n|---|---:|---:|" + ("---:|" if gpu else ""))
        for e in events[: args.top]:
            row = f"| `{e.key}` | {100 * e.self_cpu_time_total / total:.1f}% | {e.count // args.steps} |"
            if gpu:
                row += f" {e.self_device_time_total / 1000 / args.steps:.3f} |"
            print(row)


if __name__ == "__main__":
    main()
