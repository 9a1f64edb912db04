"""tsformer against neuralforecast on ETTh1, side by side, on the same machine, in one run.

    python benchmarks/compare.py --models itransformer,informer,autoformer --epochs 3 \
        --peer-python /path/to/venv-with-neuralforecast/bin/python
    python benchmarks/compare.py --models informer,autoformer,xlstmtime --steps 20 --peer-python ...

For each model the two implementations are run alternately, each in a fresh process (so peak memory
is that run's own), with the same hyper-parameters (each paper's official ETTh1 setting, from
``ltsf.CONFIGS``), the same number of epochs, lookback 96, horizon 96, batch 32, lr 1e-4 halved every
epoch (tsformer's ``"halve"`` from the third epoch on, as the papers' code; neuralforecast's from the
second), seed 2021, and the standard protocol: z-scored with the train split's statistics, test MSE over
every test window.  Reported: seconds per epoch, peak RSS, test MSE, and the ratios ours / theirs.

An *epoch* is one pass over every training window.  tsformer's Informer and Autoformer are multivariate
(one 7-channel window per step of time, as in the papers); neuralforecast's are univariate (each of the 7
series is a separate 1-channel window), so their epoch has 7 times as many windows of 1 channel.  Both
sides are timed over the whole fit (training steps and the validation passes), not the test prediction.

The peer runs with ``--peer-python`` (neuralforecast is the optional ``bench`` extra; it installs its own
Lightning, so a separate virtual environment with the CPU build of torch installed first is simplest).
With ``--compile`` each round also runs tsformer with ``compile=True`` (``torch.compile``), reported as a
row of its own; ``later epochs`` is the mean time of the epochs after the first, which pays for the
compilation.  ``--precision bf16-mixed`` trains *both* sides under that Lightning precision.  ``--param
KEY=VALUE`` changes a tsformer parameter (e.g. ``use_time_features=false``: neuralforecast's iTransformer
has no calendar tokens, tsformer's, like the paper's code, adds one per calendar feature; without them the
two networks are the same).  Results append to benchmarks/results.jsonl (``"benchmark": "compare"``).

``xlstmtime`` is compared with neuralforecast's ``xLSTM``, which is *not the same network*: it runs the xLSTM
over the 96 time steps of each series (univariate, an MLP decoder), where xLSTMTime runs it across the
variates after a decomposition-linear forecast (7 tokens a window here).  Only its mLSTM backbone runs on a
CPU (the sLSTM one builds the ``xlstm`` package's CUDA kernel), so the peer is ``backbone="mLSTM"`` at
xLSTMTime's width and depth; ``--param cell=mlstm`` gives tsformer the same cell.  The peer's environment
needs ``pip install --no-deps xlstm`` beside neuralforecast (its other requirements are for GPUs).  Compare
it a step at a time (``--steps``): an epoch of theirs is 924 steps of about a second on a 2-core machine.

``--steps N`` times training steps instead of whole fits: each side trains ``N`` steps of batch 32 (64 for
xLSTMTime; no validation, no test) and reports the median wall time from one step's start to the next's
(data, forward, backward, optimizer: the whole loop) after 5 warm-up steps, and its peak RSS.  This is how the
encoder-decoder models are compared: neuralforecast's Informer and Autoformer are univariate, so a full
epoch of theirs is 7 times ours (about an hour each on a 2-core machine), while one step of either is one
batch of 32 windows with the same sequence lengths and widths.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = (8640, 2880, 2880)
PEER_PARAMS = {  # tsformer parameter names -> neuralforecast's, per model
    "itransformer": lambda c: dict(hidden_size=c["d_model"], d_ff=c["d_ff"], e_layers=c["e_layers"],
                                   n_heads=c["n_heads"], dropout=c["dropout"], use_norm=True),
    "informer": lambda c: dict(hidden_size=c["d_model"], conv_hidden_size=c["d_ff"], encoder_layers=c["e_layers"],
                               decoder_layers=c["d_layers"], n_head=c["n_heads"], dropout=c["dropout"],
                               factor=c["factor"], distil=True, decoder_input_size_multiplier=c["label_len"] / 96),
    "autoformer": lambda c: dict(hidden_size=c["d_model"], conv_hidden_size=c["d_ff"], encoder_layers=c["e_layers"],
                                 decoder_layers=c["d_layers"], n_head=c["n_heads"], dropout=c["dropout"],
                                 factor=c["factor"], MovingAvg_window=c["moving_avg"],
                                 decoder_input_size_multiplier=c["label_len"] / 96),
    # a different network (see the module doc): the xLSTM over the 96 steps of each series, its mLSTM backbone
    "xlstmtime": lambda c: dict(encoder_hidden_size=c["d_model"], encoder_n_blocks=c["e_layers"], backbone="mLSTM",
                                encoder_dropout=0.0, decoder_hidden_size=c["d_model"]),
}
PEER_CLASS = {"itransformer": "iTransformer", "informer": "Informer", "autoformer": "Autoformer",
              "xlstmtime": "xLSTM"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(model: str, epochs: int, horizon: int, threads: int | None, compile: bool = False,
             precision: str = "32-true", params: tuple[str, ...] = ()) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as tmp:
        cmd = [sys.executable, str(HERE / "ltsf.py"), "--model", model, "--horizon", str(horizon),
               "--max-epochs", str(epochs), "--results", tmp.name, "--precision", precision]
        cmd += param_args(params)
        if threads:
            cmd += ["--threads", str(threads)]
        if compile:
            cmd += ["--compile"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        r = json.loads(Path(tmp.name).read_text().splitlines()[-1])
    return {"s_per_epoch": r["s_per_epoch"], "s_per_later_epoch": r["s_per_later_epoch"],
            "peak_rss_mb": r["peak_rss_mb"], "mse": r["mse"], "mae": r["mae"], "epochs": r["epochs"],
            "compile": compile}


def run_peer(python: str, model: str, epochs: int, horizon: int, threads: int | None, config: dict,
             precision: str = "32-true", steps: int | None = None) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--peer-worker", model, "--epochs", str(epochs), "--horizon",
           str(horizon), "--config", json.dumps(config), "--precision", precision]
    if steps:
        cmd += ["--steps", str(steps)]
    if threads:
        cmd += ["--threads", str(threads)]
    return run_worker(cmd, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def run_worker(cmd: list[str], env: dict | None = None) -> dict:
    """Run a worker process and return the JSON object on the last line it prints."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def param_args(params) -> list[str]:
    """``["KEY=VALUE", ...]`` -> ``["--param", "KEY=VALUE", ...]`` for a child's command line."""
    return [arg for kv in params for arg in ("--param", kv)]


def mean(rows: list[dict], key: str) -> float:
    """The mean of ``key`` over the rounds."""
    return sum(r[key] for r in rows) / len(rows)


def run_ours_steps(model: str, steps: int, horizon: int, threads: int | None, config: dict, precision: str,
                   params: tuple[str, ...] = ()) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--ours-steps-worker", model, "--steps", str(steps),
           "--horizon", str(horizon), "--config", json.dumps(config), "--precision", precision]
    cmd += param_args(params)
    if threads:
        cmd += ["--threads", str(threads)]
    return run_worker(cmd)


WARMUP_STEPS = 5


def step_timer(callback_base: type, starts: list[float]):
    """A callback (of either side's Lightning package) appending each training step's start, and the fit's end."""

    class StepTimer(callback_base):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            starts.append(time.perf_counter())

        def on_train_end(self, trainer, module):
            starts.append(time.perf_counter())

    return StepTimer()


def step_summary(starts: list[float]) -> dict:
    """Median and spread of the intervals between consecutive step starts, after the warm-up steps."""
    gaps = sorted(b - a for a, b in zip(starts[WARMUP_STEPS:], starts[WARMUP_STEPS + 1:]))
    return {"ms_per_step": round(1000 * statistics.median(gaps), 1), "ms_min": round(1000 * gaps[0], 1),
            "ms_max": round(1000 * gaps[-1], 1), "timed_steps": len(gaps), "peak_rss_mb": round(peak_rss_mb())}


def ours_steps_worker(model: str, steps: int, horizon: int, config: dict, threads: int | None, precision: str,
                      params: dict) -> dict:
    """tsformer's side of ``--steps``: ``steps`` training steps through the estimator, no validation."""
    import torch

    sys.path.insert(0, str(HERE))
    from ltsf import TRAINING

    from tsformer.datasets import load_dataset

    if threads:
        torch.set_num_threads(threads)
    df = load_dataset("ETTh1").iloc[:ROWS[0]]
    return time_steps(model, df, horizon, {**TRAINING, **config, **params}, steps, precision)


def time_steps(model: str, df, horizon: int, settings: dict, steps: int, precision: str = "32-true") -> dict:
    """Fit ``steps`` training steps of the estimator on ``df`` (no validation) and summarize their times."""
    import lightning as L

    from tsformer import registry

    starts: list[float] = []
    trainer_kwargs = {"max_steps": steps, "callbacks": [step_timer(L.Callback, starts)]}
    est = registry.get_estimator(model)(lookback=96, horizon=horizon, precision=precision, accelerator="cpu",
                                         trainer_kwargs=trainer_kwargs,
                                         **{**settings, "max_epochs": 1, "val_size": 0, "random_state": 2021})
    est.fit(df)
    return step_summary(starts)


def peer_worker(model: str, epochs: int, horizon: int, config: dict, threads: int | None, precision: str = "32-true",
                steps: int | None = None) -> dict:
    """Runs inside the peer's environment: neuralforecast on the standard protocol."""
    import logging

    import numpy as np
    import pandas as pd
    import pytorch_lightning as pl
    import torch
    from neuralforecast import NeuralForecast, models
    from neuralforecast.losses.pytorch import MSE

    logging.disable(logging.WARNING)
    if threads:
        torch.set_num_threads(threads)
    n_train, n_val, n_test = ROWS
    csv = HERE.parent / "tsformer" / "datasets" / "data" / "ETTh1.csv"
    wide = pd.read_csv(csv, parse_dates=["date"]).set_index("date").iloc[: n_train + n_val + n_test]
    train = wide.iloc[:n_train]
    z = (wide - train.mean()) / train.std(ddof=0)
    long = z.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    n_series = wide.shape[1]
    windows = n_train - 96 - horizon + 1
    cls = getattr(models, PEER_CLASS[model])
    multivariate = getattr(cls, "MULTIVARIATE", False)
    batch = config.get("batch_size", 32)  # the papers' batch (xLSTMTime's 64) on both sides
    steps_per_epoch = int(np.ceil(windows * (1 if multivariate else n_series) / batch))

    fit = {}  # neuralforecast deep-copies its callbacks: record into this closure, not on the callback

    class FitTimer(pl.Callback):
        def on_fit_start(self, trainer, module):
            fit["t0"] = time.perf_counter()

        def on_fit_end(self, trainer, module):
            fit["seconds"] = time.perf_counter() - fit["t0"]
            fit["steps"] = trainer.global_step

    timer = FitTimer()
    extra = {"n_series": n_series} if multivariate else {"batch_size": n_series}
    if steps:  # step timing: no validation, no early stopping, no test
        starts: list[float] = []
        # a step of a univariate model is windows_batch_size = ``batch`` one-channel windows drawn from its
        # batch_size series: the same sequence lengths and widths as tsformer's ``batch`` seven-channel windows
        net = cls(h=horizon, input_size=96, loss=MSE(), learning_rate=1e-4, max_steps=steps, val_check_steps=10 ** 9,
                  windows_batch_size=batch, scaler_type="identity", random_seed=2021,
                  enable_progress_bar=False, enable_model_summary=False, logger=False,
                  callbacks=[step_timer(pl.Callback, starts)],
                  precision=precision,
                  **extra, **PEER_PARAMS[model](config))
        NeuralForecast(models=[net], freq="h").fit(df=long[long["ds"] < wide.index[n_train]], val_size=0)
        return step_summary(starts)
    net = cls(h=horizon, input_size=96, loss=MSE(), learning_rate=1e-4, max_steps=epochs * steps_per_epoch,
              num_lr_decays=epochs, val_check_steps=steps_per_epoch, early_stop_patience_steps=3,
              windows_batch_size=batch, inference_windows_batch_size=1024, scaler_type="identity", random_seed=2021,
              enable_progress_bar=False, enable_model_summary=False, logger=False, callbacks=[timer],
              precision=precision, **extra, **PEER_PARAMS[model](config))
    nf = NeuralForecast(models=[net], freq="h")
    cv = nf.cross_validation(df=long, val_size=n_val, test_size=n_test, n_windows=None, step_size=1, refit=False)
    pred_col = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")][0]
    err = cv["y"].to_numpy() - cv[pred_col].to_numpy()
    return {"s_per_epoch": round(fit["seconds"] / max(fit["steps"] / steps_per_epoch, 1e-9), 1),
            "peak_rss_mb": round(peak_rss_mb()), "mse": round(float(np.mean(err ** 2)), 4),
            "mae": round(float(np.mean(np.abs(err))), 4), "epochs": round(fit["steps"] / steps_per_epoch, 2),
            "test_windows": int(cv["cutoff"].nunique())}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="itransformer,informer,autoformer")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--peer-python", default=os.environ.get("TSFORMER_PEER_PYTHON"),
                   help="python of an environment with neuralforecast installed")
    p.add_argument("--compile", action="store_true",
                   help="also run tsformer with compile=True (torch.compile) in each round, reported as its own row")
    p.add_argument("--rounds", type=int, default=1, help="alternations per model (timings are the mean)")
    p.add_argument("--precision", default="32-true", help="Lightning precision of both sides: 32-true or bf16-mixed")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="change a tsformer parameter (as ltsf.py's --param), e.g. use_time_features=false")
    p.add_argument("--steps", type=int, default=None,
                   help="time this many training steps on each side instead of whole fits (no MSE)")
    p.add_argument("--results", default=str(HERE / "results.jsonl"))
    p.add_argument("--peer-worker", help=argparse.SUPPRESS)
    p.add_argument("--ours-steps-worker", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps is not None and args.steps <= WARMUP_STEPS + 1:
        p.error(f"--steps must be more than {WARMUP_STEPS + 1} (the first {WARMUP_STEPS} are warm-up)")
    if args.peer_worker:
        print(json.dumps(peer_worker(args.peer_worker, args.epochs, args.horizon, json.loads(args.config), args.threads,
                                     args.precision, args.steps)))
        return
    sys.path.insert(0, str(HERE))
    from ltsf import CONFIGS, git_commit, machine, parse_params

    if args.ours_steps_worker:
        print(json.dumps(ours_steps_worker(args.ours_steps_worker, args.steps, args.horizon, json.loads(args.config),
                                           args.threads, args.precision, parse_params(args.param))))
        return
    if not args.peer_python:
        p.error("--peer-python (or TSFORMER_PEER_PYTHON) must point to a python with neuralforecast installed")
    if args.steps:
        compare_steps(args)
        return

    print("| model | ours s/epoch | later epochs | theirs s/epoch | ratio | ours MB | theirs MB | ratio | ours MSE | "
          "theirs MSE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    variants = [False, True] if args.compile else [False]
    for model in args.models.split(","):
        ours, theirs = {v: [] for v in variants}, []
        for _ in range(args.rounds):  # alternating: ours (eager, then compiled), theirs
            for v in variants:
                ours[v].append(run_ours(model, args.epochs, args.horizon, args.threads, compile=v,
                                        precision=args.precision, params=tuple(args.param)))
            theirs.append(run_peer(args.peer_python, model, args.epochs, args.horizon, args.threads, CONFIGS[model],
                                   precision=args.precision))
        for v in variants:
            mine = ours[v]
            later = [r["s_per_later_epoch"] for r in mine if r["s_per_later_epoch"] is not None]
            row = {"benchmark": "compare", "model": model, "epochs": args.epochs, "horizon": args.horizon,
                   "compile": v, "precision": args.precision, "params": args.param, "ours": mine, "theirs": theirs,
                   "time_ratio": round(mean(mine, "s_per_epoch") / mean(theirs, "s_per_epoch"), 3),
                   "later_epoch_time_ratio": (round(sum(later) / len(later) / mean(theirs, "s_per_epoch"), 3)
                                              if later else None),
                   "memory_ratio": round(mean(mine, "peak_rss_mb") / mean(theirs, "peak_rss_mb"), 3),
                   "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
            later_s = f"{sum(later) / len(later):.1f}" if later else "-"
            print(f"| {model}{' (compile)' if v else ''} | {mean(mine, 's_per_epoch'):.1f} | {later_s} | "
                  f"{mean(theirs, 's_per_epoch'):.1f} | {row['time_ratio']:.2f} | {mean(mine, 'peak_rss_mb'):.0f} | "
                  f"{mean(theirs, 'peak_rss_mb'):.0f} | {row['memory_ratio']:.2f} | {mean(mine, 'mse'):.4f} | "
                  f"{mean(theirs, 'mse'):.4f} |", flush=True)
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")


def compare_steps(args) -> None:
    """``--steps``: alternate tsformer's and the peer's step timings, one table row per model."""
    from ltsf import CONFIGS as configs, git_commit, machine  # main() has put this folder on sys.path

    print("| model | ours ms/step | theirs ms/step | ratio | ours MB | theirs MB | ratio |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run_ours_steps(model, args.steps, args.horizon, args.threads, configs[model], args.precision,
                                       tuple(args.param)))
            theirs.append(run_peer(args.peer_python, model, args.epochs, args.horizon, args.threads, configs[model],
                                   precision=args.precision, steps=args.steps))
        row = {"benchmark": "compare_steps", "model": model, "steps": args.steps, "horizon": args.horizon,
               "precision": args.precision, "params": args.param, "ours": ours, "theirs": theirs,
               "time_ratio": round(mean(ours, "ms_per_step") / mean(theirs, "ms_per_step"), 3),
               "memory_ratio": round(mean(ours, "peak_rss_mb") / mean(theirs, "peak_rss_mb"), 3),
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        print(f"| {model} | {mean(ours, 'ms_per_step'):.0f} | {mean(theirs, 'ms_per_step'):.0f} | "
              f"{row['time_ratio']:.2f} | {mean(ours, 'peak_rss_mb'):.0f} | {mean(theirs, 'peak_rss_mb'):.0f} | "
              f"{row['memory_ratio']:.2f} |", flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
