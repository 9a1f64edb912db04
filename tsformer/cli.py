"""The ``tsformer`` command line.

    tsformer forecast data.csv --model itransformer --horizon 24 [--output fc.csv] [--save-model m.tsf]
    tsformer models
    tsformer datasets

Every tsformer error becomes one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and training")
    g.add_argument("--model", default="itransformer", help=f"forecaster: {', '.join(registry.available())} (default: itransformer)")
    g.add_argument("--horizon", type=int, default=24, help="steps to forecast (default: 24)")
    g.add_argument("--lookback", type=int, default=96, help="history length the model reads (default: 96)")
    g.add_argument("--max-epochs", type=int, default=10, help="maximum training epochs (default: 10)")
    g.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs (default: 3)")
    g.add_argument("--batch-size", type=int, default=32, help="training batch size (default: 32)")
    g.add_argument("--learning-rate", type=float, help="optimizer learning rate (default: the model's)")
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


def make_estimator(args):
    cls = registry.get_estimator(args.model)
    params = dict(lookback=args.lookback, horizon=args.horizon, target=args.target, time_col=args.time_col,
                  freq=args.freq, fill=args.fill, max_epochs=args.max_epochs, patience=args.patience,
                  batch_size=args.batch_size, val_size=args.val_size, random_state=args.seed,
                  accelerator=args.accelerator, devices=_devices(args.devices), precision=args.precision,
                  verbose=not args.quiet)
    if args.learning_rate is not None:
        params["learning_rate"] = args.learning_rate
    valid = cls().get_params(deep=False)
    for key, value in args.param:
        if key not in valid:
            raise ConfigError(f"unknown parameter {key!r} for --model {args.model}; valid: {', '.join(sorted(valid))}")
        params[key] = value
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
