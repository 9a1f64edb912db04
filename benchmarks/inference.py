"""Latency of ``predict`` on a fitted model: every model at its paper's ETTh1 size, lookback 96.

    python benchmarks/inference.py                         # horizon 96, every model
    python benchmarks/inference.py --models informer --horizon 24 --threads 2

Each model (``ltsf.CONFIGS``) is fitted on ETTh1 for two training batches (the weights do not change the
cost of a forward pass), then timed: ``predict()`` (after the training data: the stored last window)
and ``predict(history)`` (a new 1,000-row history frame, validated and scaled on every call), the
median of ``--repeats`` calls after three warm-up calls.  Appends one JSON line per model to ``--results``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from ltsf import CONFIGS, TRAINING_ONLY, git_commit, machine  # noqa: E402

from tsformer import registry  # noqa: E402
from tsformer.datasets import load_dataset  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(CONFIGS))
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    df = load_dataset("ETTh1")
    history = df.iloc[-1000:]
    print(f"predict latency, lookback 96, horizon {args.horizon}; {machine()}")
    print("\n| model | weights | predict() ms | predict(history) ms |\n|---|---:|---:|---:|")
    rows = []
    for model in args.models.split(","):
        params = {k: v for k, v in CONFIGS[model].items() if k not in TRAINING_ONLY}
        est = registry.get_estimator(model)(
            lookback=96, horizon=args.horizon, max_epochs=1, accelerator="cpu", random_state=0,
            trainer_kwargs={"limit_train_batches": 2, "limit_val_batches": 1}, **params).fit(df)
        row = {"benchmark": "inference", "model": model, "horizon": args.horizon,
               "n_weights": sum(t.numel() for t in est.network_.parameters()),
               "predict_ms": round(median_ms(est.predict, args.repeats), 2),
               "predict_history_ms": round(median_ms(lambda: est.predict(history), args.repeats), 2),
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        rows.append(row)
        print(f"| {model} | {row['n_weights']:,} | {row['predict_ms']:.1f} | {row['predict_history_ms']:.1f} |",
              flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
