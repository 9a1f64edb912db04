"""What ``activation_checkpointing=True`` saves and costs: peak memory and time of training steps.

    python benchmarks/checkpointing.py --threads 2                  # every case below
    python benchmarks/checkpointing.py --cases informer-720,itransformer-wide --rounds 2

Each case trains ``--steps`` steps through the estimator (Lightning, no validation) in a fresh process,
once without and once with activation checkpointing, alternating over ``--rounds``; reported: the median
time from one step's start to the next after 5 warm-up steps, and the process's peak RSS (which includes
about 575 MB of Python, torch, Lightning and pandas before any training).

Cases: every model at its paper's ETTh1 size (``ltsf.CONFIGS``, lookback 96, horizon 96, batch 32);
Informer, Autoformer and ETSformer at horizon 720; and ``itransformer-wide``, iTransformer at its paper's
Traffic size (862 variates, d_model 512, d_ff 512, 4 layers, batch 16) on synthetic data of that width,
where attention across the variates dominates the memory.  Appends one JSON line per case to ``--results``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import ROWS, mean, run_worker, time_steps  # noqa: E402
from ltsf import CONFIGS, TRAINING, git_commit, machine  # noqa: E402

#: iTransformer's Traffic script (scripts/multivariate_forecasting/Traffic/iTransformer.sh): 862 variates
WIDE = dict(d_model=512, d_ff=512, e_layers=4, n_heads=8, dropout=0.1, batch_size=16)
CASES = {**{f"{m}-96": (m, 96) for m in CONFIGS}, "informer-720": ("informer", 720),
         "autoformer-720": ("autoformer", 720), "etsformer-720": ("etsformer", 720),
         "itransformer-wide": ("itransformer", 96)}


def worker(case: str, steps: int, checkpointing: bool, threads: int | None) -> dict:
    import torch

    from tsformer.datasets import load_dataset, make_synthetic

    if threads:
        torch.set_num_threads(threads)
    model, horizon = CASES[case]
    if case == "itransformer-wide":
        df, config = make_synthetic(n_steps=1000, n_series=862, freq="h", seed=0), WIDE
    else:
        df, config = load_dataset("ETTh1").iloc[:ROWS[0]], CONFIGS[model]
    settings = {**TRAINING, **config, "patience": None, "lr_schedule": "constant",
                "activation_checkpointing": checkpointing}
    return time_steps(model, df, horizon, settings, steps)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(HERE / "results.jsonl"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.checkpointing, args.threads)))
        return
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    print("| case | ms/step | checkpointed ms/step | time ratio | peak RSS MB | checkpointed peak RSS MB | saved MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.rounds):
            for ckpt in (False, True):
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--steps", str(args.steps)]
                cmd += (["--checkpointing"] if ckpt else []) + (["--threads", str(args.threads)] if args.threads else [])
                try:
                    runs[ckpt].append(run_worker(cmd))
                except subprocess.CalledProcessError as exc:
                    sys.exit(f"{case} (checkpointing={ckpt}) failed:\n{exc.stderr[-3000:]}")
        off, on = runs[False], runs[True]
        row = {"benchmark": "checkpointing", "case": case, "steps": args.steps, "off": off, "on": on,
               "time_ratio": round(mean(on, "ms_per_step") / mean(off, "ms_per_step"), 3),
               "saved_mb": round(mean(off, "peak_rss_mb") - mean(on, "peak_rss_mb")),
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        print(f"| {case} | {mean(off, 'ms_per_step'):.0f} | {mean(on, 'ms_per_step'):.0f} | {row['time_ratio']:.2f} | "
              f"{mean(off, 'peak_rss_mb'):.0f} | {mean(on, 'peak_rss_mb'):.0f} | {row['saved_mb']} |", flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
