"""The command line, end to end in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from tsformer.datasets import make_synthetic


def run(*args, cwd=None):
    """``python -m tsformer ARGS`` in a new process (about 10 s of imports each on the CI machine)."""
    return subprocess.run([sys.executable, "-m", "tsformer", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


# ``python -m tsformer ARGS``, then the heavy packages that process had imported, on a last stderr line
_REPORTING = """
import runpy, sys
sys.argv = ["tsformer", *sys.argv[1:]]
try:
    runpy.run_module("tsformer", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("loaded:", *[m for m in ("torch", "lightning") if m in sys.modules], file=sys.stderr)
sys.exit(code)
"""


def run_reporting_imports(*args):
    """``run(*args)`` and the set of {torch, lightning} the process imported."""
    r = subprocess.run([sys.executable, "-c", _REPORTING, *map(str, args)], capture_output=True, text=True, timeout=300)
    *rest, last = r.stderr.rstrip("\n").split("\n")
    assert last.startswith("loaded:"), r.stderr
    r.stderr = "\n".join(rest)
    return r, set(last.split()[1:])


def run_here(capsys, *args):
    """The same command through ``tsformer.cli.main`` in this process: its exit code, stdout and stderr.

    For everything a new process would only repeat the imports for (about 10 s each on the CI machine);
    what must work from a real shell (a forecast, fit then predict in separate processes, help) uses ``run``.
    """
    from tsformer.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors and --help
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


FAST = ["--lookback", "24", "--horizon", "6", "--max-epochs", "1", "--val-size", "24", "--accelerator", "cpu",
        "--param", "d_model=16", "--param", "n_heads=2", "--param", "d_ff=16", "--param", "e_layers=1"]


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "data.csv"
    make_synthetic(n_steps=300, n_series=2, seed=0).reset_index().to_csv(path, index=False)
    return path


def test_forecast_prints_a_table_and_writes_files(csv, tmp_path, capsys):
    r = run("forecast", csv, *FAST, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "series_0" in r.stdout and len(r.stdout.strip().splitlines()) == 6 + 2  # header lines + 6 rows
    out, model = tmp_path / "fc.csv", tmp_path / "m.tsf"
    r = run_here(capsys, "forecast", csv, *FAST, "--target", "series_1", "--output", out, "--save-model", model)
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stderr and "train_loss" in r.stderr and "val_loss" in r.stderr
    fc = pd.read_csv(out, parse_dates=["date"])
    assert list(fc.columns) == ["date", "series_1"] and len(fc) == 6 and model.stat().st_size > 0


def test_existing_output_is_not_overwritten_without_force(csv, tmp_path, capsys):
    out = tmp_path / "fc.csv"
    out.write_text("precious")
    r = run_here(capsys, "forecast", csv, *FAST, "--output", out, "--quiet")
    assert r.returncode == 1 and "--force" in r.stderr and out.read_text() == "precious"
    assert run_here(capsys, "forecast", csv, *FAST, "--output", out, "--quiet", "--force").returncode == 0
    assert out.read_text() != "precious"


@pytest.mark.parametrize("content, args, message", [
    ("date,a\n2020-01-01,1\nnot a date,2\n2020-01-01 02:00,3\n", [], "not timestamps"),
    ("date,a\n2020-01-01,1\n2020-01-01,2\n2020-01-02,3\n", [], "duplicate timestamps"),
    ("a,b\n1,2\n3,4\n", [], "no time axis"),
    ("date,a\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n", [], "missing values"),
    ("", [], "cannot read"),
    ("date,a\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n", ["--target", "zz"], "unknown target"),
    ("date,a\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n", [], "need at least"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, capsys, content, args, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    r = run_here(capsys, "forecast", bad, *FAST, *args, "--quiet")
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_usage_errors(csv, capsys):
    r = run_here(capsys, "forecast", csv, "--no-such-flag")
    assert r.returncode == 2 and "unrecognized arguments: --no-such-flag" in r.stderr
    r = run_here(capsys, "forecast", csv, "--model", "nosuch", "--quiet")
    assert r.returncode == 1 and "unknown model 'nosuch'" in r.stderr
    r = run_here(capsys, "forecast", csv, "--param", "bogus=1", "--quiet")
    assert r.returncode == 1 and "unknown parameter 'bogus'" in r.stderr
    assert run_here(capsys, "forecast", "missing.csv", "--quiet").returncode == 1


def test_models_datasets_and_help(capsys):
    r, loaded = run_reporting_imports("--help")  # the entry point itself, in a new process
    assert r.returncode == 0 and "forecast" in r.stdout and "models" in r.stdout
    assert not loaded, f"--help imported {loaded}: it should answer without torch or Lightning"
    r = run_here(capsys, "models")
    assert r.returncode == 0 and "itransformer" in r.stdout
    assert "ETTh1" in run_here(capsys, "datasets").stdout
    r = run_here(capsys, "forecast", "--help")
    for flag in ("--model", "--horizon", "--lookback", "--time-col", "--target", "--max-epochs", "--output",
                 "--save-model", "--quiet", "--force", "--param"):
        assert flag in r.stdout


# ------------------------------------------------------------------------------ fit / predict / backtest
def test_fit_then_predict_in_separate_processes_reproduces_forecast(csv, tmp_path, capsys):
    direct, model, later = tmp_path / "direct.csv", tmp_path / "m.tsf", tmp_path / "later.csv"
    # the same fit in this process gives the forecast to compare with; fit and predict each run in a new one
    assert run_here(capsys, "forecast", csv, *FAST, "--quiet", "--output", direct).returncode == 0
    r = run("fit", csv, *FAST, "--quiet", "--save-model", model)
    assert r.returncode == 0, r.stderr
    r, loaded = run_reporting_imports("predict", model, "--output", later, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "lightning" not in loaded, "forecasting with a saved model needs no Lightning"
    pd.testing.assert_frame_equal(pd.read_csv(direct), pd.read_csv(later))
    # after a different history: the forecast starts after that history's last row
    history = tmp_path / "history.csv"
    pd.read_csv(csv).iloc[:200].to_csv(history, index=False)
    r = run_here(capsys, "predict", model, "--history", history, "--level", "80", "--quiet")
    assert r.returncode == 0, r.stderr
    first = r.stdout.strip().splitlines()[2].split()[:2]
    assert " ".join(first) == str(pd.Timestamp(pd.read_csv(history)["date"].iloc[-1]) + pd.Timedelta(hours=1))
    assert "series_0-lo-80" in r.stdout
    # nothing the user wrote is overwritten without --force
    before = model.read_bytes()
    r = run_here(capsys, "fit", csv, *FAST, "--quiet", "--save-model", model)
    assert r.returncode == 1 and "--force" in r.stderr and model.read_bytes() == before
    r = run_here(capsys, "predict", model, "--output", later, "--quiet")
    assert r.returncode == 1 and "already exists" in r.stderr


def test_parquet_in_parquet_out(tmp_path, capsys):
    data, out = tmp_path / "d.parquet", tmp_path / "fc.parquet"
    make_synthetic(n_steps=300, n_series=2, seed=0).to_parquet(data)
    r = run_here(capsys, "forecast", data, *FAST, "--quiet", "--output", out, "--level", "80")
    assert r.returncode == 0, r.stderr
    fc = pd.read_parquet(out)
    assert list(fc.columns) == ["date", "series_0", "series_0-lo-80", "series_0-hi-80", "series_1", "series_1-lo-80",
                                "series_1-hi-80"] and len(fc) == 6


def test_long_file_keeps_its_names_and_missing_id_column_is_clear(tmp_path, capsys):
    parts = [make_synthetic(n, 1, seed=i, start=s).reset_index().set_axis(["when", "sales"], axis=1).assign(store=f"s{i}")
             for i, (n, s) in enumerate([(200, "2020-01-01"), (260, "2020-01-03")])]
    data, out = tmp_path / "long.csv", tmp_path / "fc.csv"
    pd.concat(parts).to_csv(data, index=False)
    names = ["--id-col", "store", "--time-col", "when", "--target-col", "sales"]
    r = run_here(capsys, "forecast", data, *FAST, *names, "--quiet", "--output", out)
    assert r.returncode == 0, r.stderr
    fc = pd.read_csv(out)
    assert list(fc.columns) == ["store", "when", "sales"] and fc.groupby("store").size().to_dict() == {"s0": 6, "s1": 6}
    r = run_here(capsys, "forecast", data, *FAST, "--id-col", "shop", "--quiet")
    assert r.returncode == 1 and "--id-col 'shop' is not a column" in r.stderr and "Traceback" not in r.stderr
    r = run_here(capsys, "forecast", data, *FAST, "--id-col", "store", "--quiet")
    assert r.returncode == 1 and "--time-col" in r.stderr


def test_backtest_command_writes_windows_metrics_and_plot(csv, tmp_path, capsys):
    windows, metrics, plot = tmp_path / "w.csv", tmp_path / "m.json", tmp_path / "bt.png"
    r = run_here(capsys, "backtest", csv, *FAST, "--n-windows", "3", "--level", "80", "--output", windows, "--metrics-output",
            metrics, "--plot", plot, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "overall" in r.stdout and "coverage-80" in r.stdout
    w = pd.read_csv(windows)
    assert {"column", "window", "cutoff", "train_end", "date", "y", "y_hat", "y_hat-lo-80"} <= set(w.columns)
    m = json.loads(metrics.read_text())
    assert set(m) == {"series_0", "series_1", "overall"} and {"mse", "mae", "rmse", "mape", "smape", "mase"} <= set(m["overall"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_here(capsys, "forecast", csv, *FAST, "--plot", tmp_path / "fc.png", "--quiet")
    assert r.returncode == 0 and (tmp_path / "fc.png").read_bytes()[:4] == b"\x89PNG"


def test_forecast_with_every_other_model(csv, capsys):
    from tsformer.cli import main  # in-process: one cheap smoke test for each model's CLI path

    tiny_params = {"informer": ["d_model=16", "n_heads=2", "e_layers=2", "d_ff=16"],
                   "autoformer": ["d_model=16", "n_heads=2", "e_layers=1", "d_ff=16", "moving_avg=5"],
                   "etsformer": ["d_model=16", "n_heads=2", "e_layers=1", "d_ff=16"],
                   "xlstmtime": ["d_model=16", "n_heads=2", "e_layers=1"],
                   "mamba": ["d_model=16", "d_state=4", "e_layers=1", "d_ff=16"]}
    for model, params in tiny_params.items():
        args = ["forecast", str(csv), "--model", model, *FAST[:10], "--quiet"]
        code = main(args + [x for p in params for x in ("--param", p)])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "series_0" in out.out and len(out.out.strip().splitlines()) == 6 + 2


@pytest.mark.parametrize("flag, param", [("--compile", "compile"),
                                         ("--activation-checkpointing", "activation_checkpointing")])
def test_training_switches_reach_the_estimator(csv, flag, param):
    from tsformer import registry
    from tsformer.cli import build_parser, estimator_params, read_input

    cls = registry.get_estimator("itransformer")
    for flags, expected in (([], False), ([flag], True)):
        args = build_parser().parse_args(["forecast", str(csv), *FAST, *flags])
        assert estimator_params(args, read_input(args.data, args), cls)[param] is expected


def test_epochs_and_patience_default_to_the_models_own(csv):
    from tsformer import registry
    from tsformer.cli import build_parser, estimator_params, read_input

    cls = registry.get_estimator("etsformer")
    args = build_parser().parse_args(["forecast", str(csv), "--model", "etsformer"])
    est = cls(**estimator_params(args, read_input(args.data, args), cls))
    assert (est.max_epochs, est.patience, est.lr_schedule) == (15, 5, "warmup")  # its reference code's training
    args = build_parser().parse_args(["forecast", str(csv), "--model", "etsformer", "--max-epochs", "2", "--patience", "1"])
    assert {k: estimator_params(args, read_input(args.data, args), cls)[k] for k in ("max_epochs", "patience")} == \
        {"max_epochs": 2, "patience": 1}
