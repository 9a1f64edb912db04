"""Where a fit's peak resident memory goes: imports, weights, the step's live tensors, and the allocator.

    python benchmarks/peak_memory.py --threads 2                       # Informer and ETSformer, ETTh1-96
    python benchmarks/peak_memory.py --models etsformer,itransformer --steps 8

Each case (a model at its paper's ETTh1 size, ``ltsf.CONFIGS``, lookback 96, horizon 96, batch 32, fp32;
without and with ``activation_checkpointing``) trains ``--steps`` steps through the estimator in a fresh
process, twice:

* with glibc's default allocator, as every fit runs: its peak RSS is the figure ``compare.py`` and
  ``checkpointing.py`` report;
* with ``MALLOC_MMAP_THRESHOLD_=65536``: every block of 64 KB or more gets fresh pages and returns them when
  freed, so the RSS follows the live tensors (at about twice the step time: not a setting to train with).

The process's RSS is read after ``import torch``, ``pandas`` and ``lightning`` in turn, after tsformer and
the data, when training starts, at every step's start, and every half millisecond during the steps (a
sampling thread).  The columns: the imports; the data and the network; what the first step leaves behind
(the weights' gradients, AdamW's moments and one-time buffers: the second step's start minus the training
start, allocator off); the step's live tensors at their
busiest (the peak during a step minus its start, allocator off); and what glibc keeps of freed memory on top
(the default run's peak minus the other's).  Appends one JSON line per case to ``--results``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(model: str, steps: int, checkpointing: bool, threads: int | None) -> dict:
    """One case in this (fresh) process; the imports come one at a time so that each is measured."""
    marks = {"python": rss_mb()}
    import torch

    marks["torch"] = rss_mb()
    import pandas  # noqa: F401

    marks["pandas"] = rss_mb()
    import lightning as L

    marks["lightning"] = rss_mb()
    if threads:
        torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    from compare import ROWS
    from ltsf import CONFIGS, TRAINING

    from tsformer import registry
    from tsformer.datasets import load_dataset

    df = load_dataset("ETTh1").iloc[: ROWS[0]]
    marks["tsformer_and_data"] = rss_mb()

    peak = [0.0]

    def sample():
        while True:
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.0005)

    starts, step_peaks = [], []

    class Probe(L.Callback):
        def on_train_start(self, trainer, module):
            marks["train_start"] = rss_mb()
            threading.Thread(target=sample, daemon=True).start()

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            starts.append(rss_mb())
            peak[0] = starts[-1]

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            step_peaks.append(peak[0])

    settings = {**TRAINING, **CONFIGS[model], "patience": None, "lr_schedule": "constant",
                "activation_checkpointing": checkpointing, "max_epochs": 1, "val_size": 0, "random_state": 2021}
    est = registry.get_estimator(model)(lookback=96, horizon=96, accelerator="cpu",
                                         trainer_kwargs={"max_steps": steps, "callbacks": [Probe()]}, **settings)
    est.fit(df)
    return {**{k: round(v) for k, v in marks.items()}, "step_starts": [round(v) for v in starts],
            "step_peaks": [round(v) for v in step_peaks]}


def breakdown(default: dict, fresh_pages: dict) -> dict:
    """The columns of the table from the two runs of one case (``fresh_pages``: the mmap-threshold run)."""
    live = max(p - s for p, s in zip(fresh_pages["step_peaks"][1:], fresh_pages["step_starts"][1:]))
    fresh_peak = max(fresh_pages["step_peaks"])
    default_peak = max(default["step_peaks"])
    return {
        "torch_mb": default["torch"] - default["python"],
        "pandas_mb": default["pandas"] - default["torch"],
        "lightning_mb": default["lightning"] - default["pandas"],
        "imports_and_data_mb": default["tsformer_and_data"],
        "network_mb": default["train_start"] - default["tsformer_and_data"],
        "kept_after_step1_mb": fresh_pages["step_starts"][1] - fresh_pages["train_start"],
        "live_step_mb": live,
        "peak_fresh_pages_mb": fresh_peak,
        "allocator_kept_mb": default_peak - fresh_peak,
        "peak_rss_mb": default_peak,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="informer,etsformer")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(HERE / "results.jsonl"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 3:
        p.error("--steps must be at least 3 (the first step allocates the optimizer's state)")
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.checkpointing, args.threads)))
        return 0
    sys.path.insert(0, str(HERE))
    from compare import run_worker
    from ltsf import CONFIGS, git_commit, machine

    if args.threads:  # the parent runs no step: this labels the machine as its children run it
        import torch

        torch.set_num_threads(args.threads)
    unknown = [m for m in args.models.split(",") if m not in CONFIGS]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {list(CONFIGS)}")
    print(f"peak RSS of {args.steps} training steps, ETTh1 lookback 96, horizon 96, batch 32, fp32; {machine()}")
    print("\n| model | checkpointing | torch / pandas / Lightning imports MB | imports + data MB | network MB "
          "| kept after step 1 MB | live step MB | allocator kept MB | peak RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        for ckpt in (False, True):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", model, "--steps", str(args.steps)]
            cmd += (["--checkpointing"] if ckpt else []) + (["--threads", str(args.threads)] if args.threads else [])
            runs = {}
            for name, extra in (("default", {}), ("fresh_pages", {"MALLOC_MMAP_THRESHOLD_": "65536"})):
                try:
                    runs[name] = run_worker(cmd, env={**os.environ, **extra})
                except subprocess.CalledProcessError as exc:
                    sys.exit(f"{model} (checkpointing={ckpt}, {name}) failed:\n{exc.stderr[-3000:]}")
            b = breakdown(runs["default"], runs["fresh_pages"])
            print(f"| {model} | {'on' if ckpt else 'off'} | {b['torch_mb']} / {b['pandas_mb']} / {b['lightning_mb']} | "
                  f"{b['imports_and_data_mb']} | {b['network_mb']} | {b['kept_after_step1_mb']} | {b['live_step_mb']} | "
                  f"{b['allocator_kept_mb']} | {b['peak_rss_mb']} |", flush=True)
            row = {"benchmark": "peak_memory", "model": model, "horizon": 96, "checkpointing": ckpt, "steps": args.steps,
                   **b, "runs": runs, "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
