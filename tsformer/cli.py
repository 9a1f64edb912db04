"""The ``tsformer`` command line.

    tsformer forecast data.csv --model itransformer --horizon 24 [--output fc.csv] [--save-model m.tsf]
    tsformer tune data.csv --model itransformer --horizon 24 --n-trials 30 [--storage study.journal] [--workers 4]
    tsformer models
    tsformer datasets

Every tsformer error becomes one line on stderr and a non-zero exit status, never a traceback.
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

EXIT_ERROR = 1
EXIT_USAGE = 2


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


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


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("data", help="CSV or Parquet file, or the name of a bundled dataset (ETTh1)")
    g.add_argument("--time-col", help="timestamp column (default: detected: date, ds, time, timestamp, datetime)")
    g.add_argument("--target", type=_split, help="comma-separated columns to forecast (default: all numeric columns)")
    g.add_argument("--freq", help="pandas frequency of the rows, e.g. h, 15min, D (default: inferred)")
    g.add_argument("--fill", choices=["ffill", "interpolate", "zero"], help="how to fill missing values (default: error)")


def _add_model_args(p: argparse.ArgumentParser, *, tuning: bool = False) -> None:
    """The model and training flags; with ``tuning``, lookback and learning rate left out are tuned."""
    g = p.add_argument_group("model and training" + (" (fixed during the search)" if tuning else ""))
    g.add_argument("--model", default="itransformer", help=f"forecaster: {', '.join(registry.available())} (default: itransformer)")
    g.add_argument("--horizon", type=int, default=24, help="steps to forecast (default: 24)")
    g.add_argument("--lookback", type=int, default=None if tuning else 96,
                   help="history length the model reads (default: " + ("tuned: the horizon x 1 to 4" if tuning else "96") + ")")
    g.add_argument("--max-epochs", type=int, default=10, help="maximum training epochs (default: 10)")
    g.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs (default: 3)")
    g.add_argument("--batch-size", type=int, default=32, help="training batch size (default: 32)")
    g.add_argument("--learning-rate", type=float,
                   help="optimizer learning rate (default: " + ("tuned" if tuning else "the model's") + ")")
    g.add_argument("--val-size", type=_val_size, default=0.2, help="validation tail: rows or fraction (default: 0.2)")
    g.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same forecast (default: 0)")
    g.add_argument("--accelerator", default="auto", help="auto, cpu, gpu, mps (default: auto)")
    g.add_argument("--devices", default="1", help="devices per machine (default: 1)")
    g.add_argument("--precision", default="32-true", help="32-true, bf16-mixed, 16-mixed (default: 32-true)")
    g.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
                   help="any other estimator parameter, e.g. --param d_model=128 (repeatable); see `tsformer models -v`")


def _add_output_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--output", "-o", type=Path, help="write the forecast to this CSV, Parquet or JSON file "
                                                      "(default: print it)")
    g.add_argument("--save-model", type=Path, help="also save the fitted model to this file (.tsf)")
    g.add_argument("--force", action="store_true", help="overwrite existing output files")
    g.add_argument("--quiet", "-q", action="store_true", help="print nothing but the result (no progress)")


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
    _add_output_args(p)
    p.set_defaults(func=cmd_forecast)

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
    if not getattr(args, "quiet", False):
        print(msg, file=sys.stderr, flush=True)


def _check_writable(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force to overwrite it")


def read_input(source: str) -> pd.DataFrame:
    """A file path, or the name of a bundled dataset when no such file exists."""
    from .datasets import _BUNDLED, load_dataset, read_table

    path = Path(source)
    if not path.exists() and source in _BUNDLED:
        return load_dataset(source)
    return read_table(path)


def write_output(frame: pd.DataFrame, path: Path, force: bool) -> None:
    _check_writable(path, force)
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


def estimator_params(args, cls) -> dict:
    """The estimator parameters the model, data and ``--param`` flags give (``None``: not given)."""
    params = dict(lookback=args.lookback, horizon=args.horizon, target=args.target, time_col=args.time_col,
                  freq=args.freq, fill=args.fill, max_epochs=args.max_epochs, patience=args.patience,
                  batch_size=args.batch_size, val_size=args.val_size, random_state=args.seed,
                  accelerator=args.accelerator, devices=_devices(args.devices), precision=args.precision,
                  verbose=not args.quiet, learning_rate=args.learning_rate)
    valid = cls().get_params(deep=False)
    for key, value in args.param:
        if key not in valid:
            raise ConfigError(f"unknown parameter {key!r} for --model {args.model}; valid: {', '.join(sorted(valid))}")
        params[key] = value
    return params


def make_estimator(args):
    cls = registry.get_estimator(args.model)
    params = estimator_params(args, cls)
    if params["learning_rate"] is None:
        del params["learning_rate"]
    return cls(**params)


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


# ----------------------------------------------------------------------------------------- commands


def cmd_forecast(args) -> int:
    _check_writable(args.output, args.force)
    _check_writable(args.save_model, args.force)
    est = make_estimator(args)
    df = read_input(args.data)
    _log(args, f"training {args.model} on {args.data}: {len(df)} rows, lookback {args.lookback}, horizon {args.horizon}")
    est.fit(df)
    forecast = est.predict()
    if args.save_model:
        est.save(args.save_model, overwrite=args.force)
        _log(args, f"saved the model to {args.save_model}")
    if args.output:
        write_output(forecast, args.output, args.force)
        _log(args, f"wrote {len(forecast)} forecast rows to {args.output}")
    else:
        _print_frame(forecast)
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
        for path in (args.output, args.save_model, args.trials_csv):
            _check_writable(path, args.force)
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
    fixed = {k: v for k, v in estimator_params(args, cls).items()
             if v is not None and k not in ("horizon", "random_state", "verbose")}
    df = read_input(args.data)
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
        _check_writable(args.output, args.force)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
        _log(args, f"wrote the best parameters to {args.output}")
    else:
        print(text)
    if args.trials_csv:
        _check_writable(args.trials_csv, args.force)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
