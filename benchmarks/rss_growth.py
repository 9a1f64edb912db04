"""Resident memory over the training steps of one process: does it stay flat, or grow step after step?

    python benchmarks/rss_growth.py                                  # Informer, fp32 and bf16-mixed
    python benchmarks/rss_growth.py --models informer,autoformer --steps 60
    python benchmarks/rss_growth.py --tsformer-path /tmp/older-checkout   # the same at another commit

Each (model, precision) runs in a fresh process: ``--steps`` training steps (forward, MSE, backward, fused
AdamW) of the model at its paper's ETTh1 size (lookback 96, ``--horizon``), batch 32, a new random
ETTh1-shaped batch every step; RSS is read after steps 5, 20, 40, ... and the last, peak RSS at the end.
A flat curve is a step that reuses its memory; a rising one keeps asking the system for more (e.g.
tensors of a new size every step fragmenting the CPU heap), which is how a long fit would end far above
what one step needs.  Appends one JSON line per case to ``--results``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import torch  # noqa: E402
from ltsf import git_commit, machine  # noqa: E402

CHILD = r"""
import contextlib, json, resource, statistics, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from flops import network, random_batch
model, precision = sys.argv[2], sys.argv[3]
steps, threads, horizon = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = network(model, horizon, 96).train()
opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True)
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) // 1024
curve, times = {}, []
for step in range(1, steps + 1):
    x, x_mark, y_mark, y = random_batch(32, 96, horizon)  # a new batch every step, as a loader gathers one
    t0 = time.perf_counter()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16-mixed" else contextlib.nullcontext()
    with autocast:
        loss = F.mse_loss(net(x, x_mark, y_mark).float(), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t0)
    if step == 5 or step % 20 == 0 or step == steps:
        curve[step] = rss()
print(json.dumps({"rss_mb": curve, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                  "s_per_step": round(statistics.median(times[5:] or times), 3)}))
"""


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="informer")
    p.add_argument("--precisions", default="32-true,bf16-mixed")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tsformer-path", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)  # the parent runs no step: this labels the machine as its children run it
    here = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": args.tsformer_path}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=args.tsformer_path).stdout.strip() or "?"
    print(f"RSS over {args.steps} training steps, batch 32, ETTh1 lookback 96, horizon {args.horizon}, "
          f"tsformer at {commit}; {machine()}")
    print("\n| model | precision | RSS MB after steps | peak RSS MB | s / step |\n|---|---|---|---:|---:|")
    rows = []
    for model in args.models.split(","):
        for precision in args.precisions.split(","):
            r = subprocess.run([sys.executable, "-c", CHILD, here, model, precision, str(args.steps), str(args.threads),
                                str(args.horizon)],
                               capture_output=True, text=True, env=env,
                               cwd=args.tsformer_path)  # python -c puts the working directory first on sys.path
            if r.returncode != 0:
                raise SystemExit(f"{model} {precision}: exit {r.returncode}\n{r.stderr[-2000:]}")
            found = json.loads(r.stdout.strip().splitlines()[-1])
            row = {"benchmark": "rss_growth", "model": model, "horizon": args.horizon, "precision": precision,
                   "steps": args.steps, **found, "tsformer_commit": commit, "machine": machine(), "commit": git_commit(),
                   "date": time.strftime("%Y-%m-%d")}
            rows.append(row)
            curve = ", ".join(f"{k}: {v}" for k, v in found["rss_mb"].items())
            print(f"| {model} | {precision} | {curve} | {found['peak_rss_mb']} | {found['s_per_step']:.3f} |", flush=True)
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
