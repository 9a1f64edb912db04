"""Long-horizon forecasting benchmark on the ETT data, standard protocol.

    python benchmarks/ltsf.py --model itransformer --dataset ETTh1 --horizon 96

Protocol (as in the Informer, Autoformer, ETSformer, iTransformer and Mamba papers; see
shared/data/README.md): train / validation / test = the first 12 / next 4 / next 4 months
(ETTh: 8640 / 2880 / 2880 rows, ETTm: four times that); each later split starts `lookback` rows
early; every column z-scored with the train split's statistics; MSE and MAE on the z-scored test
windows, every window (stride 1), none dropped.

The model is trained through the public estimator API: ``fit`` on train + validation rows with
``val_size`` = the validation months (so the scaler sees the train rows only and early stopping
watches the validation months), then ``evaluate(..., start=<first test row>, scale="standardized")``.

Prints one result line and appends it as JSON to ``--results`` (default benchmarks/results.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from tsformer import registry
from tsformer.datasets import load_dataset

# Reference hyper-parameters from each paper's official ETTh1 script (lookback 96).
# Keys are estimator parameters; training settings shared by all papers are in TRAINING (an entry may override them).
CONFIGS: dict[str, dict] = {
    # iTransformer scripts/multivariate_forecasting/ETT/iTransformer_ETTh1.sh
    "itransformer": dict(d_model=256, d_ff=256, e_layers=2, n_heads=8, dropout=0.1),
    # Informer: zhouhaoyi/Informer2020 main_informer.py defaults for ETTh1 (prob attention, distil, timeF embedding);
    # mix "all" as the Informer of thuml's Autoformer / Time-Series-Library code behind the published lookback-96 figures
    "informer": dict(d_model=512, d_ff=2048, e_layers=2, d_layers=1, n_heads=8, label_len=48, factor=5, dropout=0.05,
                     mix="all"),
    # Autoformer: thuml/Autoformer scripts/ETT_script/Autoformer_ETTh1.sh (factor 3, moving_avg 25)
    "autoformer": dict(d_model=512, d_ff=2048, e_layers=2, d_layers=1, n_heads=8, label_len=48, factor=3,
                       moving_avg=25, dropout=0.05),
    # ETSformer: the official repo has no ETTh1 script; the published ETTh1 figures come from Time-Series-Library's
    # scripts/long_term_forecast/ETT_script/ETSformer_ETTh1.sh (e/d_layers 2, its defaults: top_k 5, dropout 0.1, gelu)
    "etsformer": dict(d_model=512, n_heads=8, e_layers=2, d_ff=2048, top_k=5, dropout=0.1, activation="gelu"),
    # xLSTMTime official xlstm.py / main.py: embedding 256, 3 sLSTM blocks (4 heads, conv 4), L1 loss, batch 64,
    # lr 1e-3, fit_one_cycle(pct_start=0.2) keeping the best validation epoch, no early stopping; the paper's
    # lookback is 512 (--lookback 512).  The reference trains 100 epochs; 30 here (the warm-up is then 6 epochs)
    "xlstmtime": dict(d_model=256, e_layers=3, n_heads=4, cell="slstm", loss="mae", batch_size=64, learning_rate=1e-3,
                      lr_schedule="onecycle", max_epochs=30, patience=None),
    # S-Mamba scripts/multivariate_forecasting/ETT/S_Mamba_ETTh1.sh (horizons 96/192; 336/720: BY_HORIZON)
    "mamba": dict(d_model=256, d_ff=256, e_layers=2, d_state=2, learning_rate=7e-05),
}
#: what a reference script changes with the horizon: {model: {horizon: overrides of CONFIGS[model]}}
BY_HORIZON: dict[str, dict[int, dict]] = {
    # S-Mamba's ETTh1 script trains horizons 336 and 720 at learning_rate 5e-05
    "mamba": {336: dict(learning_rate=5e-05), 720: dict(learning_rate=5e-05)},
}
# (ETSformer's estimator defaults to salesforce/ETSformer's recipe instead: the reference scripts here train it as
# Time-Series-Library does, like the others; benchmarks/etsformer_recipe.py runs the recipe)
TRAINING = dict(batch_size=32, learning_rate=1e-4, max_epochs=10, patience=3, lr_schedule="halve",
                gradient_clip_val=None)
#: keys of a CONFIGS entry that set the training, not the network (scripts that only build networks drop them)
TRAINING_ONLY = ("loss", "batch_size", "learning_rate", "lr_schedule", "max_epochs", "patience", "gradient_clip_val")
ROWS = {"ETTh": (8640, 2880, 2880), "ETTm": (34560, 11520, 11520)}


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    where = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        where += f", GPU {torch.cuda.get_device_name(0)}"
    return where


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "?"


def parse_value(text: str):
    """A ``--param`` value: JSON (``1e-4``, ``false``, ``[1, 2]``), Python's ``True``/``False``/``None``, else text.

    (Before Python's spellings were accepted, ``use_time_features=False`` passed the string "False", which is true.)
    """
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(pairs) -> dict:
    """``["KEY=VALUE", ...]`` (``--param``) -> ``{KEY: parse_value(VALUE)}``."""
    return {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in pairs)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=sorted(CONFIGS))
    p.add_argument("--dataset", default="ETTh1", choices=["ETTh1", "ETTh2", "ETTm1", "ETTm2"])
    p.add_argument("--data-dir", default=None, help="folder with the ETT CSV files (ETTh1 is bundled)")
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--max-epochs", type=int, default=None,
                   help=f"(default: the model's reference setting, else {TRAINING['max_epochs']})")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--precision", default="32-true", help="Lightning precision: 32-true (default) or bf16-mixed")
    p.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                   help="train through torch.compile (compile=True); a MODE such as reduce-overhead (CUDA graphs) "
                        "is passed on as compile={'mode': MODE}")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="override a model parameter")
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    p.add_argument("--verbose", action="store_true", help="print a line per epoch")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    n_train, n_val, n_test = ROWS[args.dataset[:4]]
    df = load_dataset(args.dataset, path=args.data_dir) if args.data_dir or args.dataset != "ETTh1" else load_dataset("ETTh1")
    params = {**TRAINING, **CONFIGS[args.model], **BY_HORIZON.get(args.model, {}).get(args.horizon, {})}
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    params.update(parse_params(args.param))
    cls = registry.get_estimator(args.model)
    compile_ = False if args.compile is None else True if args.compile == "default" else {"mode": args.compile}
    est = cls(lookback=args.lookback, horizon=args.horizon, val_size=n_val, random_state=args.seed,
              precision=args.precision, compile=compile_, accelerator="cpu" if not torch.cuda.is_available() else "auto",
              verbose=args.verbose, **params)

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    est.fit(df.iloc[: n_train + n_val])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = est.evaluate(df.iloc[: n_train + n_val + n_test], start=n_train + n_val, scale="standardized")
    eval_s = time.perf_counter() - t0
    epochs = est.history_
    result = {
        "model": args.model, "dataset": args.dataset, "lookback": args.lookback, "horizon": args.horizon,
        "seed": args.seed, "precision": args.precision, "compile": {None: False, "default": True}.get(args.compile, args.compile),
        "mse": round(metrics["mse"], 4), "mae": round(metrics["mae"], 4), "test_windows": metrics["n_windows"],
        "epochs": len(epochs), "best_epoch": 1 + min(range(len(epochs)), key=lambda i: epochs[i].get("val_loss", 1e9)),
        "s_per_epoch": round(sum(e["seconds"] for e in epochs) / max(len(epochs), 1), 1),
        # without the first epoch, which pays for torch.compile's compilation (and the first calls' warm-up)
        "s_per_later_epoch": (round(sum(e["seconds"] for e in epochs[1:]) / (len(epochs) - 1), 1)
                              if len(epochs) > 1 else None),
        "history": [{k: round(v, 6) if isinstance(v, float) else v for k, v in e.items()} for e in epochs],
        "fit_s": round(fit_s, 1), "eval_s": round(eval_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "peak_gpu_mb": (round(torch.cuda.max_memory_allocated() / 2**20, 0) if torch.cuda.is_available() else None),
        "params": {k: v for k, v in est.get_params().items() if k in params},
        "n_weights": sum(p.numel() for p in est.network_.parameters()),
        "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{args.model} {args.dataset} L={args.lookback} H={args.horizon}: test MSE {result['mse']:.4f} "
          f"MAE {result['mae']:.4f} | {result['epochs']} epochs (best {result['best_epoch']}), "
          f"{result['s_per_epoch']} s/epoch | peak RSS {result['peak_rss_mb']:.0f} MB"
          + (f", GPU {result['peak_gpu_mb']:.0f} MB" if result["peak_gpu_mb"] is not None else "")
          + f" | {result['machine']}")
    with open(args.results, "a") as f:
        f.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
