"""The ``tsformer`` command line.

    tsformer forecast data.csv --model itransformer --horizon 24 [--output fc.csv] [--plot fc.png]
    tsformer fit data.csv --model autoformer --horizon 48 --save-model m.tsf
    tsformer predict m.tsf [--history new.csv] [--level 80,95] [--output fc.csv] [--plot fc.png]
    tsformer backtest data.csv --model mamba --horizon 24 --n-windows 5 [--refit] [--metrics-output m.json]
    tsformer tune data.csv --model itransformer --horizon 24 --n-trials 30 [--storage study.journal] [--workers 4]
    tsformer models | datasets

Input files are CSV or Parquet, outputs CSV, Parquet or JSON (by extension).  A long file
(``--id-col``, ``--time-col``, ``--target-col``; defaults ``unique_id``, ``ds``, ``y``) forecasts every
series and is written back long, with the same column names.  Existing files are never overwritten
without ``--force``.  Every tsformer error becomes one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pandas as pd

from . import registry
from .errors import ConfigError, OutputExistsError, TsformerError
from .training import is_global_zero

EXIT_ERROR = 1
LONG = ("unique_id", "ds", "y")  # the names the estimators read a long frame by


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _numbers(value: str) -> list[float]:
    try:
        return [float(v) for v in _split(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from None


def _param(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip().replace("-", "_"), value


def _val_size(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a row count or a fraction, got {text!r}") from None


# ------------------------------------------------------------------------------------ argument groups


def _add_layout_args(g) -> None:
    g.add_argument("--time-col", help="timestamp column (default: detected: date, ds, time, timestamp, datetime)")
    g.add_argument("--id-col", default=LONG[0], help="series id column of a long file (default: unique_id)")
    g.add_argument("--target-col", default=LONG[2], help="value column of a long file (default: y)")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("data", help="CSV or Parquet file (wide, or long with --id-col), or a bundled dataset name (ETTh1)")
    _add_layout_args(g)
    g.add_argument("--target", type=_split, help="comma-separated columns (long: series ids) to forecast "
                                                 "(default: all)")
    g.add_argument("--future-covariates", type=_split, help="comma-separated columns known in advance; their "
                                                            "horizon values come from --future")
    g.add_argument("--freq", help="pandas frequency of the rows, e.g. h, 15min, D (default: inferred)")
    g.add_argument("--fill", choices=["ffill", "interpolate", "zero"], help="how to fill missing values (default: error)")
    g.add_argument("--series-mode", choices=["auto", "variates", "global"], default="auto",
                   help="long files: aligned series as variates of one model, or one global model (default: auto)")


def _add_model_args(p: argparse.ArgumentParser, *, tuning: bool = False) -> None:
    """The model and training flags; with ``tuning``, lookback and learning rate left out are tuned."""
    g = p.add_argument_group("model and training" + (" (fixed during the search)" if tuning else ""))
    g.add_argument("--model", default="itransformer", help=f"forecaster: {', '.join(registry.available())} (default: itransformer)")
    g.add_argument("--horizon", type=int, default=24, help="steps to forecast (default: 24)")
    g.add_argument("--lookback", type=int, default=None if tuning else 96,
                   help="history length the model reads (default: " + ("tuned: the horizon x 1 to 4" if tuning else "96") + ")")
    g.add_argument("--max-epochs", type=int, help="maximum training epochs (default: the model's)")
    g.add_argument("--patience", type=int, help="early-stopping patience in epochs (default: the model's)")
    g.add_argument("--batch-size", type=int, default=32, help="training batch size (default: 32)")
    g.add_argument("--learning-rate", type=float,
                   help="optimizer learning rate (default: " + ("tuned" if tuning else "the model's") + ")")
    g.add_argument("--val-size", type=_val_size, default=0.2, help="validation tail: rows or fraction (default: 0.2)")
    g.add_argument("--window-step", type=int, default=1,
                   help="rows between consecutive training windows (default: 1, every window)")
    g.add_argument("--loss", choices=["mse", "mae", "huber", "quantile"], help="training loss (default: mse); "
                   "quantile trains interval quantiles into the model, otherwise intervals are conformal")
    g.add_argument("--quantiles", type=_numbers, help="levels for --loss quantile, e.g. 0.1,0.5,0.9")
    g.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same forecast (default: 0)")
    g.add_argument("--accelerator", default="auto", help="auto, cpu, gpu, mps (default: auto)")
    g.add_argument("--devices", default="1", help="devices per machine (default: 1)")
    g.add_argument("--num-nodes", type=int, help="machines of a distributed fit (Lightning's num_nodes)")
    g.add_argument("--strategy", help="Lightning strategy for several devices or machines, e.g. ddp (default: auto)")
    g.add_argument("--precision", default="32-true", help="32-true, bf16-mixed, 16-mixed (default: 32-true)")
    g.add_argument("--compile", action="store_true",
                   help="train through torch.compile, after a compilation at the start; faster for some models "
                        "(on a CPU it needs a C++ compiler)")
    g.add_argument("--activation-checkpointing", action="store_true",
                   help="recompute the layers' activations in the backward pass instead of keeping them: "
                        "less memory a training step (most for long horizons and many columns), more time")
    g.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
                   help="any other estimator parameter, e.g. --param d_model=128 (repeatable); see `tsformer models -v`")


def _add_output_args(p: argparse.ArgumentParser, *, model: bool = True, plot: bool = True) -> argparse._ArgumentGroup:
    g = p.add_argument_group("output")
    g.add_argument("--output", "-o", type=Path, help="write the result to this CSV, Parquet or JSON file "
                                                      "(default: print it)")
    if model:
        g.add_argument("--save-model", type=Path, help="also save the fitted model to this file (.tsf)")
    if plot:
        g.add_argument("--plot", type=Path, help="draw the result to this image file (PNG, SVG, PDF)")
    g.add_argument("--force", action="store_true", help="overwrite existing output files")
    g.add_argument("--quiet", "-q", action="store_true", help="print nothing but the result (no progress)")
    return g


def _add_interval_args(p) -> None:
    p.add_argument("--level", type=_numbers, help="prediction interval levels in percent, e.g. 80,95")
    p.add_argument("--future", help="CSV/Parquet file with the future covariates' values over the horizon")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsformer",
        description="Forecast time series with deep models (Informer, Autoformer, iTransformer, ETSformer, "
                    "xLSTMTime, Mamba).",
        epilog="Run `tsformer COMMAND --help` for a command's flags.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"tsformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("forecast", help="train a model on a file and forecast the steps after it",
                       description="Train a forecaster on DATA and forecast the --horizon steps after its last row.")
    _add_data_args(p)
    _add_model_args(p)
    _add_interval_args(_add_output_args(p))
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("fit", help="train a model on a file and save it",
                       description="Train a forecaster on DATA and save it with --save-model (for `tsformer predict`).")
    _add_data_args(p)
    _add_model_args(p)
    g = p.add_argument_group("output")
    g.add_argument("--save-model", type=Path, required=True, help="file to save the fitted model to (.tsf)")
    g.add_argument("--force", action="store_true", help="overwrite an existing model file")
    g.add_argument("--quiet", "-q", action="store_true", help="print nothing (no progress)")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="forecast with a saved model",
                       description="Forecast the horizon after the training data of MODEL, or after --history.")
    p.add_argument("model_file", metavar="MODEL", type=Path, help="a model file written by fit or --save-model")
    g = p.add_argument_group("data")
    g.add_argument("--history", help="CSV/Parquet file: forecast after this history instead of the training data")
    _add_layout_args(g)
    _add_interval_args(_add_output_args(p, model=False))
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("backtest", help="rolling-origin evaluation on the last windows of a file",
                       description="Train and forecast the last --n-windows horizons of DATA, each from its own "
                                   "history, and report MSE, MAE, RMSE, MAPE, sMAPE, MASE (and interval coverage).")
    _add_data_args(p)
    _add_model_args(p)
    g = p.add_argument_group("backtest")
    g.add_argument("--n-windows", type=int, default=5, help="number of forecast windows (default: 5)")
    g.add_argument("--step", type=int, help="rows between window origins (default: the horizon)")
    g.add_argument("--refit", action="store_true", help="refit the model before every window (default: fit once)")
    g.add_argument("--level", type=_numbers, help="interval levels in percent; coverage is reported")
    out = _add_output_args(p, model=False)
    out.add_argument("--metrics-output", type=Path, help="write the metrics to this JSON (or CSV) file")
    p.set_defaults(func=cmd_backtest)

    _add_tune_parser(sub)

    p = sub.add_parser("models", help="list the available forecasters", description="List the available forecasters.")
    p.add_argument("--verbose", "-v", action="store_true", help="also list each model's parameters and defaults")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("datasets", help="list the known benchmark datasets",
                       description="List the benchmark datasets tsformer knows (ETTh1 is bundled).")
    p.set_defaults(func=cmd_datasets)
    return parser


# ------------------------------------------------------------------------------------------ helpers


def _log(args, msg: str) -> None:
    if not getattr(args, "quiet", False) and is_global_zero():
        print(msg, file=sys.stderr, flush=True)


def _check_writable(args, *names: str) -> None:
    for name in names:
        path = getattr(args, name, None)
        if path is not None and path.exists() and not args.force:
            raise OutputExistsError(f"{path} already exists; pass --force to overwrite it")


def _long_names(args) -> dict[str, str]:
    """The user's long-file names -> the names the estimators read (unique_id, ds, y)."""
    return {args.id_col: LONG[0], args.time_col or LONG[1]: LONG[1], args.target_col: LONG[2]}


def read_input(source: str, args) -> pd.DataFrame:
    """A file path (CSV/Parquet), or the name of a bundled dataset when no such file exists.

    A long file's id, time and value columns are renamed to ``unique_id``, ``ds``, ``y``.
    """
    from .datasets import _BUNDLED, load_dataset, read_table

    path = Path(source)
    if not path.exists() and source in _BUNDLED:
        return load_dataset(source)
    frame = read_table(path)
    if args.id_col in frame.columns:
        for flag, col in (("--time-col", args.time_col or LONG[1]), ("--target-col", args.target_col)):
            if col not in frame.columns:
                raise ConfigError(f"long file {source} has no column {col!r}; name its {flag[2:-4]} column with {flag} "
                                  f"(columns: {list(frame.columns)[:20]})")
        return frame.rename(columns=_long_names(args))
    if args.id_col != LONG[0]:
        raise ConfigError(f"--id-col {args.id_col!r} is not a column of {source} (columns: {list(frame.columns)[:20]})")
    return frame


def _user_names(frame: pd.DataFrame, args, *, values: bool = True) -> pd.DataFrame:
    """Give a long result the user's column names back (``y-lo-80`` -> ``<target-col>-lo-80``).

    With ``values=False`` only the id and time columns are renamed (a backtest keeps ``y`` / ``y_hat``).
    """
    back = {v: k for k, v in _long_names(args).items() if values or v != LONG[2]}
    if values:
        return frame.rename(columns=lambda c: back.get(c, f"{args.target_col}{c[1:]}" if c.startswith("y-") else c))
    return frame.rename(columns=back)


def write_output(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    out = frame.reset_index() if isinstance(frame.index, pd.DatetimeIndex) else frame
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    elif suffix == ".json":
        out.to_json(path, orient="records", date_format="iso", indent=1)
    elif suffix in (".csv", ".txt", ""):
        out.to_csv(path, index=False)
    else:
        raise ConfigError(f"cannot tell the format of {path}: use a .csv, .parquet or .json file name")


def estimator_params(args, df: pd.DataFrame, cls) -> dict:
    """The estimator parameters the flags give, for the frame ``read_input`` returned."""
    long = LONG[0] in df.columns  # read_input already renamed a long file's columns
    params = dict(lookback=args.lookback, horizon=args.horizon, target=args.target,
                  time_col=None if long else args.time_col,
                  future_covariates=args.future_covariates, freq=args.freq, fill=args.fill,
                  series_mode=args.series_mode,
                  batch_size=args.batch_size, val_size=args.val_size, window_step=args.window_step,
                  random_state=args.seed,
                  accelerator=args.accelerator, devices=_devices(args.devices), precision=args.precision,
                  compile=args.compile, activation_checkpointing=args.activation_checkpointing,
                  verbose=not args.quiet)
    for key in ("max_epochs", "patience", "learning_rate", "loss", "quantiles"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    distributed = {k: v for k, v in (("strategy", args.strategy), ("num_nodes", args.num_nodes)) if v is not None}
    if distributed:
        params["trainer_kwargs"] = distributed
    valid = cls().get_params(deep=False)
    for key, value in args.param:
        if key not in valid:
            raise ConfigError(f"unknown parameter {key!r} for --model {args.model}; valid: {', '.join(sorted(valid))}")
        params[key] = value
    return params


def make_estimator(args, df: pd.DataFrame):
    """The estimator the flags describe, for the frame ``read_input`` returned."""
    cls = registry.get_estimator(args.model)
    return cls(**estimator_params(args, df, cls))


def _devices(text: str):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        return text  # a device list such as "0,1" is Lightning's to parse


def _print_frame(frame: pd.DataFrame) -> None:
    with pd.option_context("display.max_rows", 1000, "display.max_columns", 100, "display.width", 200):
        print(frame.to_string())


def _save_plot(fig, path: Path, args) -> None:
    fig.savefig(path, dpi=100)
    _log(args, f"drew {path}")


def _forecast_out(est, forecast: pd.DataFrame, history: pd.DataFrame, args) -> None:
    """Write or print a forecast, and plot it."""
    layout_long = est.schema_.layout == "long"
    shown = _user_names(forecast, args) if layout_long else forecast
    if args.plot:
        from .plotting import plot_forecast

        _save_plot(plot_forecast(history, forecast), args.plot, args)
    if args.output:
        write_output(shown, args.output)
        _log(args, f"wrote {len(shown)} forecast rows to {args.output}")
    else:
        _print_frame(shown)


def _future(args):
    if not getattr(args, "future", None):
        return None
    return read_input(args.future, args)


# ----------------------------------------------------------------------------------------- commands


def cmd_forecast(args) -> int:
    _check_writable(args, "output", "save_model", "plot")
    df = read_input(args.data, args)
    est = make_estimator(args, df)
    _log(args, f"training {args.model} on {args.data}: {len(df)} rows, lookback {args.lookback}, horizon {args.horizon}")
    est.fit(df)
    if not is_global_zero():  # one process of a distributed fit: rank 0 reports
        return 0
    forecast = est.predict(future=_future(args), level=args.level)
    if args.save_model:
        est.save(args.save_model, overwrite=args.force)
        _log(args, f"saved the model to {args.save_model}")
    _forecast_out(est, forecast, df, args)
    return 0


def cmd_fit(args) -> int:
    _check_writable(args, "save_model")
    df = read_input(args.data, args)
    est = make_estimator(args, df)
    _log(args, f"training {args.model} on {args.data}: {len(df)} rows, lookback {args.lookback}, horizon {args.horizon}")
    est.fit(df)
    est.save(args.save_model, overwrite=args.force)
    _log(args, f"saved the model to {args.save_model}")
    return 0


def cmd_predict(args) -> int:
    from .base import load

    _check_writable(args, "output", "plot")
    if args.plot and not args.history:
        raise ConfigError("--plot needs --history (the model file keeps only the last lookback rows)")
    est = load(args.model_file)
    history = read_input(args.history, args) if args.history else None
    forecast = est.predict(history, future=_future(args), level=args.level)
    _forecast_out(est, forecast, history, args)
    return 0


def cmd_backtest(args) -> int:
    _check_writable(args, "output", "metrics_output", "plot")
    df = read_input(args.data, args)
    est = make_estimator(args, df)
    _log(args, f"backtesting {args.model} on {args.data}: {args.n_windows} windows of {args.horizon} steps"
               f"{', refitting each time' if args.refit else ''}")
    result = est.backtest(df, n_windows=args.n_windows, step=args.step, refit=args.refit, level=args.level)
    if not is_global_zero():
        return 0
    forecasts = result.forecasts
    metrics = result.metrics
    if LONG[0] in df.columns:
        forecasts = _user_names(forecasts, args, values=False)
        metrics = metrics.rename_axis(args.id_col)
    if args.output:
        write_output(forecasts, args.output)
        _log(args, f"wrote {len(forecasts)} rows (every window's forecast and actual) to {args.output}")
    if args.metrics_output:
        path = args.metrics_output
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            metrics.to_csv(path)
        else:
            path.write_text(json.dumps(json.loads(metrics.to_json(orient="index")), indent=1))
        _log(args, f"wrote the metrics to {path}")
    if args.plot:
        from .plotting import plot_backtest

        _save_plot(plot_backtest(result), args.plot, args)
    with pd.option_context("display.max_columns", 20, "display.width", 200, "display.float_format", "{:.4g}".format):
        print(metrics.to_string())
    return 0


def cmd_models(args) -> int:
    for name in registry.available():
        print(f"{name:14s} {registry.describe(name)}")
        if args.verbose:
            params = registry.get_estimator(name)().get_params(deep=False)
            print("    " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    return 0


def cmd_datasets(args) -> int:
    from .datasets import list_datasets

    for name, about in list_datasets().items():
        print(f"{name:8s} {about}")
    return 0


# --------------------------------------------------------------------------------------------- tune


def _add_tune_parser(sub) -> None:
    from .tuning import METRICS, PRUNERS

    p = sub.add_parser(
        "tune", help="search a model's hyperparameters with Optuna (many workers can share one study)",
        description="Search the hyperparameters of --model on DATA: each trial trains on the rows before the last "
                    "--n-windows windows of --horizon rows and is scored on them. Processes given the same --storage "
                    "and --study-name share one study; running the command again resumes it.",
    )
    _add_data_args(p)
    _add_model_args(p, tuning=True)
    g = p.add_argument_group("search")
    g.add_argument("--n-trials", type=int, default=20,
                   help="complete + pruned trials the study should hold, over all its workers (default: 20)")
    g.add_argument("--timeout", type=float, help="seconds after which a worker starts no new trial (default: none)")
    g.add_argument("--metric", choices=METRICS, default="mse", help="validation metric, original scale (default: mse)")
    g.add_argument("--n-windows", type=int, default=3,
                   help="rolling-origin validation windows at the end of the data (default: 3)")
    g.add_argument("--pruner", choices=PRUNERS, default="median",
                   help="stop unpromising trials early on their epochs' val_loss (default: median)")
    g.add_argument("--storage", help="where the study lives: a journal file (study.journal) or a database URL "
                                     "(sqlite:///study.db, postgresql://user:pw@host/db); default: in memory")
    g.add_argument("--study-name", help="study to create or join (default: MODEL-hHORIZON)")
    g.add_argument("--workers", type=int, default=1,
                   help="worker processes to start on this machine (default: 1); without --storage they share "
                        "a temporary journal file")
    g.add_argument("--heartbeat", type=float, default=30.0,
                   help="seconds between a running trial's heartbeats; a trial silent for twice as long belongs to "
                        "a dead worker and is marked failed (default: 30)")
    g.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set on the processes --workers starts
    o = p.add_argument_group("output")
    o.add_argument("--output", "-o", type=Path, help="write the best parameters to this JSON file (default: print them)")
    o.add_argument("--save-model", type=Path, help="refit the best parameters on all the data and save the model (.tsf)")
    o.add_argument("--trials-csv", type=Path, help="write the table of trials to this CSV file")
    o.add_argument("--force", action="store_true", help="overwrite existing output files")
    o.add_argument("--quiet", "-q", action="store_true", help="print nothing but the result (no progress lines)")
    p.set_defaults(func=cmd_tune)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_tune(args) -> int:
    import optuna

    if args.worker_index is None:
        _check_writable(args, "output", "save_model", "trials_csv")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if threading.current_thread() is not threading.main_thread():  # signals can only be handled there
        return _tune(args)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a terminated worker leaves its trial FAIL, not RUNNING
    try:
        return _tune(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tune(args) -> int:
    from .tuning import Tuner, trials_table

    is_worker = args.worker_index is not None
    cls = registry.get_estimator(args.model)
    df = read_input(args.data, args)
    fixed = {k: v for k, v in estimator_params(args, df, cls).items()
             if v is not None and k not in ("horizon", "random_state", "verbose")}
    with tempfile.TemporaryDirectory(prefix="tsformer-tune-") as tmp:
        storage = args.storage
        if storage is None and args.workers > 1:
            storage = str(Path(tmp) / "study.journal")
        tuner = Tuner(args.model, df, horizon=args.horizon, metric=args.metric, n_windows=args.n_windows,
                      storage=storage, study_name=args.study_name, seed=args.seed, params=fixed, pruner=args.pruner,
                      heartbeat=args.heartbeat)
        if is_worker:
            tuner.run(args.n_trials, timeout=args.timeout, progress=not args.quiet, label=f"[worker {args.worker_index}] ")
            return 0
        _log(args, f"tuning {args.model} on {args.data}: {len(df)} rows, horizon {args.horizon}, "
                   f"{args.n_windows} validation windows; study {tuner.study.study_name!r} in {tuner.storage_text}, "
                   f"{tuner.n_done()}/{args.n_trials} trials done")
        failed_workers = 0
        if args.workers > 1:
            failed_workers = _run_workers(args, storage, tuner.study.study_name)
        else:
            tuner.run(args.n_trials, timeout=args.timeout, progress=not args.quiet)
        if args.save_model:
            _log(args, "refitting the best parameters on all the data")
        result = tuner.result(refit=args.save_model is not None)
    counts = tuner.counts()
    summary = {
        "model": args.model, "metric": result.metric, "best_score": result.best_score, "best_trial": result.best_trial,
        "best_params": result.best_params, "fixed_params": fixed, "horizon": args.horizon, "n_windows": args.n_windows,
        "study_name": tuner.study.study_name, "storage": tuner.storage_text,
        "trials": {state.lower(): counts[state] for state in ("COMPLETE", "PRUNED", "FAIL")},
    }
    text = json.dumps(summary, indent=2, default=str)
    if args.output:
        _check_writable(args, "output")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
        _log(args, f"wrote the best parameters to {args.output}")
    else:
        print(text)
    if args.trials_csv:
        _check_writable(args, "trials_csv")
        trials_table(result.study).to_csv(args.trials_csv, index=False)
        _log(args, f"wrote {len(result.study.trials)} trials to {args.trials_csv}")
    if args.save_model:
        result.best_estimator.save(args.save_model, overwrite=args.force)
        _log(args, f"saved the refitted best model to {args.save_model}")
    done = counts["COMPLETE"] + counts["PRUNED"]
    _log(args, f"best {result.metric} {result.best_score:.4g} (trial {result.best_trial}); {counts['COMPLETE']} complete, "
               f"{counts['PRUNED']} pruned, {counts['FAIL']} failed")
    if done < args.n_trials:
        _log(args, f"the study holds {done} of {args.n_trials} trials; run the same command again to go on")
    return EXIT_ERROR if failed_workers else 0


def _run_workers(args, storage: str, study_name: str) -> int:
    """Start ``--workers`` processes of this same command on one study, wait for them; the number that failed."""
    extra = ["--workers", "1", "--storage", str(storage), "--study-name", study_name]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.workers)))  # no oversubscription
    procs = [subprocess.Popen([sys.executable, "-m", "tsformer", *args.argv, *extra, "--worker-index", str(i)], env=env)
             for i in range(args.workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # each records its running trial as failed, then exits
        for p in procs:
            p.wait()
        raise
    for i, code in enumerate(codes):
        if code != 0:
            _log(args, f"worker {i} exited with status {code}")
    return sum(code != 0 for code in codes)


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except TsformerError as exc:
        print(f"tsformer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tsformer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
        sys.stderr.close()
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
