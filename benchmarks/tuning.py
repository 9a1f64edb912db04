"""Hyperparameter search benchmark: tuned against the paper's parameters, with and without pruning.

    python benchmarks/tuning.py --model itransformer --horizon 96 --n-trials 20

Protocol (the ETT split of ``ltsf.py``: train / validation / test = 8640 / 2880 / 2880 rows for ETTh):

* The search sees the train and validation months only.  Every trial fits on the train months (their
  last ``val_size`` = 2880 rows drive early stopping and the pruner) and is scored by
  ``tsformer.tuning`` on the validation months: ``n_windows`` = 30 non-overlapping windows of 96 rows,
  MSE on the original scale.  Lookback is fixed at 96 (the protocol's) unless ``--tune-lookback``.
* The baseline is the paper's ETTh1 script (``ltsf.CONFIGS``, ``ltsf.TRAINING``), scored the same way.
* The best parameters, and the baseline's, are refitted on train + validation months (early stopping
  on the validation months, as ``ltsf.py`` does) and tested on the test months: MSE / MAE on the
  z-scored test windows, stride 1, as the papers report.
* The search runs twice from the same seed: with the median pruner and without pruning; the wall
  times of the two searches are compared.

Prints a summary and appends one JSON line to ``--results`` (default benchmarks/results.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import optuna
import torch

sys.path.insert(0, str(Path(__file__).parent))
from ltsf import CONFIGS, ROWS, TRAINING, git_commit, machine, parse_params  # noqa: E402

from tsformer import registry  # noqa: E402
from tsformer.datasets import load_dataset  # noqa: E402
from tsformer.tuning import Tuner  # noqa: E402


def test_scores(est, df, n_train: int, n_val: int, n_test: int) -> dict:
    m = est.evaluate(df.iloc[: n_train + n_val + n_test], start=n_train + n_val, scale="standardized")
    return {"test_mse": round(m["mse"], 4), "test_mae": round(m["mae"], 4)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="itransformer", choices=sorted(CONFIGS))
    p.add_argument("--dataset", default="ETTh1", choices=["ETTh1", "ETTh2", "ETTm1", "ETTm2"])
    p.add_argument("--data-dir", default=None, help="folder with the ETT CSV files (ETTh1 is bundled)")
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--tune-lookback", action="store_true", help="tune the lookback too (horizon x 1 to 4)")
    p.add_argument("--n-trials", type=int, default=20)
    p.add_argument("--max-epochs", type=int, default=TRAINING["max_epochs"])
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--fixed", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a parameter in every trial instead of tuning it (e.g. d_model=16 for a smoke test)")
    p.add_argument("--skip-unpruned", action="store_true", help="run only the search with pruning")
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    n_train, n_val, n_test = ROWS[args.dataset[:4]]
    df = load_dataset(args.dataset, path=args.data_dir) if args.data_dir or args.dataset != "ETTh1" else load_dataset("ETTh1")
    search_rows = df.iloc[: n_train + n_val]
    H = args.horizon
    if n_val % H:
        raise SystemExit(f"the validation months ({n_val} rows) must hold whole windows of horizon {H}")
    accelerator = "cpu" if not torch.cuda.is_available() else "auto"
    common = dict(val_size=n_val, batch_size=TRAINING["batch_size"], max_epochs=args.max_epochs,
                  patience=TRAINING["patience"], lr_schedule=TRAINING["lr_schedule"],
                  gradient_clip_val=TRAINING["gradient_clip_val"], accelerator=accelerator)
    fixed = {**common, **parse_params(args.fixed)}
    if not args.tune_lookback:
        fixed["lookback"] = args.lookback
    n_windows = n_val // H
    cls = registry.get_estimator(args.model)

    # the paper's parameters, scored like a trial, then refitted and tested
    # the search's own epochs and patience (common) apply to the baseline too
    paper = {**{k: v for k, v in CONFIGS[args.model].items() if k not in ("max_epochs", "patience")},
             "learning_rate": TRAINING["learning_rate"]}
    t0 = time.perf_counter()
    base = cls(**common, **paper, lookback=args.lookback, horizon=H, random_state=args.seed)
    base.fit(search_rows.iloc[:n_train])
    base_val = base.evaluate(search_rows, start=n_train, step=H)["mse"]
    base_refit = cls(**common, **paper, lookback=args.lookback, horizon=H, random_state=args.seed).fit(search_rows)
    baseline = {"params": paper, "val_mse": round(base_val, 4), **test_scores(base_refit, df, n_train, n_val, n_test),
                "seconds": round(time.perf_counter() - t0, 1)}
    print(f"paper parameters: validation MSE {base_val:.4f} (original scale), test MSE {baseline['test_mse']:.4f} "
          f"MAE {baseline['test_mae']:.4f} (standardized)", flush=True)

    searches = {}
    for pruner in ("median",) if args.skip_unpruned else ("median", "none"):
        t0 = time.perf_counter()
        tuner = Tuner(args.model, search_rows, horizon=H, n_windows=n_windows, params=fixed, seed=args.seed,
                      pruner=pruner)
        tuner.run(args.n_trials, progress=True)
        seconds = time.perf_counter() - t0
        result = tuner.result(refit=True)
        states = result.trials["state"].value_counts().to_dict()
        searches[pruner] = {
            "best_val_mse": round(result.best_score, 4), "best_trial": result.best_trial,
            "best_params": result.best_params, "trials": states,
            "epochs": int(result.trials["epochs"].sum()),
            **test_scores(result.best_estimator, df, n_train, n_val, n_test),
            "search_seconds": round(seconds, 1),
        }
        print(f"search with pruner {pruner}: best validation MSE {result.best_score:.4f} (trial {result.best_trial}), "
              f"refitted test MSE {searches[pruner]['test_mse']:.4f} MAE {searches[pruner]['test_mae']:.4f}, "
              f"{states}, {searches[pruner]['epochs']} epochs, search {seconds:.0f} s", flush=True)

    record = {
        "benchmark": "tuning", "model": args.model, "dataset": args.dataset, "horizon": H,
        "lookback": "tuned" if args.tune_lookback else args.lookback, "n_trials": args.n_trials,
        "n_windows": n_windows, "max_epochs": args.max_epochs, "seed": args.seed, "fixed": fixed,
        "baseline": baseline, "searches": searches,
        "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
    }
    if "none" in searches:
        ratio = searches["median"]["search_seconds"] / searches["none"]["search_seconds"]
        print(f"wall time with pruning / without: {ratio:.2f}")
        record["pruned_time_ratio"] = round(ratio, 3)
    with open(args.results, "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
