"""The forecasting workflow on top of fit/predict: backtests, intervals, covariates, many series, plots.

All of it lives in the shared layers, so most tests run over every registered model.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pandas as pd
import pytest

import tsformer
from tsformer import registry
from tsformer.datasets import make_synthetic
from tsformer.errors import ConfigError, DataError

from .conftest import tiny

# settings under which a tiny model fits a simple signal well enough for calibration to be testable
WELL_FITTED = dict(max_epochs=12, lr_schedule="constant", learning_rate=3e-3, d_model=32, d_ff=32)


def seasonal_with_gaussian_noise(n=1400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = np.stack([5 * np.sin(2 * np.pi * t / 24), 3 * np.cos(2 * np.pi * t / 24)], 1) + rng.normal(0, 1, (n, 2))
    return pd.DataFrame(values, columns=["a", "b"], index=pd.date_range("2021-01-01", periods=n, freq="h", name="date"))


def three_series_long() -> pd.DataFrame:
    parts = []
    for i, (n, start) in enumerate([(300, "2020-01-01"), (420, "2020-01-05"), (260, "2020-02-01")]):
        s = make_synthetic(n, 1, seed=i, start=start, periods=(24,))
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": s.index, "y": s.iloc[:, 0].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------------ backtest
def test_backtest_windows_never_see_their_future_and_metrics_are_right(model_name, synthetic):
    bt = tiny(model_name).backtest(synthetic, n_windows=3, step=6)
    f, m = bt
    assert len(f) == 3 * 12 * 3 and set(f["window"]) == {0, 1, 2}
    assert (f["date"] > f["cutoff"]).all() and (f["date"] > f["train_end"]).all()
    assert f["train_end"].nunique() == 1  # refit=False: one model, trained before the first window
    assert (f.groupby("window")["cutoff"].first().diff().dropna() == pd.Timedelta(hours=6)).all()
    assert f["date"].max() == synthetic.index[-1]
    truth = synthetic.stack().rename("v").reset_index().rename(columns={"level_1": "column"})
    merged = f.merge(truth, on=["date", "column"])
    np.testing.assert_allclose(merged["y"], merged["v"])
    for col in synthetic.columns:
        part = f[f["column"] == col]
        assert m.loc[col, "mae"] == pytest.approx(np.mean(np.abs(part["y"] - part["y_hat"])))
        assert m.loc[col, "mse"] == pytest.approx(np.mean((part["y"] - part["y_hat"]) ** 2))
        scale = np.mean(np.abs(np.diff(synthetic[col].to_numpy()[: len(synthetic) - 12 - 12])))
        assert m.loc[col, "mase"] == pytest.approx(m.loc[col, "mae"] / scale)
    assert m.loc["overall", "rmse"] == pytest.approx(np.sqrt(np.mean((f["y"] - f["y_hat"]) ** 2)))


def test_refit_backtest_trains_up_to_each_window(synthetic):
    f = tiny("itransformer").backtest(synthetic, n_windows=2, refit=True).forecasts
    assert (f["train_end"] == f["cutoff"]).all() and f["train_end"].nunique() == 2


def test_backtest_rejects_too_many_windows(synthetic):
    with pytest.raises(DataError, match="too few for 50 windows"):
        tiny("itransformer").backtest(synthetic, n_windows=50)


# ------------------------------------------------------------------------------ intervals
def _assert_nested(frame: pd.DataFrame, col: str, levels=(50, 80)) -> None:
    inner, outer = levels
    lo_i, hi_i, lo_o, hi_o = (frame[f"{col}-{s}-{lv}"] for s, lv in (("lo", inner), ("hi", inner), ("lo", outer),
                                                                      ("hi", outer)))
    assert (lo_o <= lo_i + 1e-9).all() and (lo_i <= frame[col] + 1e-9).all()
    assert (frame[col] <= hi_i + 1e-9).all() and (hi_i <= hi_o + 1e-9).all()


def test_quantile_and_conformal_intervals_are_ordered(model_name, synthetic, tmp_path):
    quant = tiny(model_name, loss="quantile", quantiles=[0.1, 0.25, 0.75, 0.9]).fit(synthetic)
    fc = quant.predict(level=[50, 80])
    assert list(fc.columns[:5]) == ["series_0", "series_0-lo-50", "series_0-hi-50", "series_0-lo-80", "series_0-hi-80"]
    conf = tiny(model_name).fit(synthetic)
    for est in (quant, conf):
        fc = est.predict(level=[50, 80])
        for col in synthetic.columns:
            _assert_nested(fc, col)
        same = tsformer.load(est.save(tmp_path / f"{est.loss}.tsf"))
        pd.testing.assert_frame_equal(same.predict(level=[50, 80]), fc)
    with pytest.raises(ConfigError, match="needs the quantiles 0.025 and 0.975"):
        quant.predict(level=95)


@pytest.mark.parametrize("loss", ["quantile", "mse"])
def test_80_percent_intervals_cover_about_80_percent(loss):
    df = seasonal_with_gaussian_noise()
    est = tiny("itransformer", loss=loss, val_size=240, **WELL_FITTED)
    bt = est.backtest(df, n_windows=30, step=12, level=[80])  # 720 held-out steps x 2 columns
    assert 70 <= bt.metrics.loc["overall", "coverage-80"] <= 90, bt.metrics


def test_conformal_intervals_need_validation_windows(synthetic):
    est = tiny("itransformer", val_size=0).fit(synthetic)
    with pytest.raises(ConfigError, match="val_size > 0 or use loss='quantile'"):
        est.predict(level=80)
    with pytest.raises(ConfigError, match="between 0 and 100"):
        est.predict(level=180)


# ------------------------------------------------------------------------------ covariates
def covariate_frame(n=900, seed=0) -> pd.DataFrame:
    """A target that is 3 x a known-in-advance covariate + noise: unpredictable from its own past."""
    rng = np.random.default_rng(seed)
    cov = rng.normal(size=n)
    index = pd.date_range("2021-01-01", periods=n, freq="h", name="date")
    return pd.DataFrame({"load": 3 * cov + rng.normal(0, 0.3, n), "price": cov}, index=index)


def test_future_covariates_flow_and_their_errors():
    df = covariate_frame(400)
    est = tiny("itransformer", future_covariates=["price"]).fit(df.iloc[:388])
    assert est.n_marks_ == 4 + 1  # hourly calendar features + the covariate
    future = df.iloc[388:][["price"]]
    fc = est.predict(future=future)
    assert list(fc.columns) == ["load"] and fc.index.equals(df.index[388:])
    assert not np.allclose(fc.to_numpy(), est.predict(future=future * 0 + 5).to_numpy())  # the covariate matters
    with pytest.raises(DataError, match=r"uses future covariates \['price'\].*predict\(future=frame\)"):
        est.predict()
    with pytest.raises(DataError, match="missing for 2 of the 12"):
        est.predict(future=future.iloc[:-2])
    with pytest.raises(DataError, match="lacks covariate column"):
        est.predict(future=future.rename(columns={"price": "cost"}))
    with pytest.raises(ConfigError, match="cannot also be targets"):
        tiny("itransformer", future_covariates=["price"], target="price").fit(df)


def test_future_covariate_makes_every_model_better(model_name):
    _covariate_gain(model_name)


def _covariate_gain(model_name):
    df = covariate_frame()
    settings = dict(val_size=96, max_epochs=4, batch_size=16, lr_schedule="constant", learning_rate=5e-3)
    with_cov = tiny(model_name, future_covariates=["price"], **settings).backtest(df, n_windows=4)
    without = tiny(model_name, target="load", **settings).backtest(df, n_windows=4)
    assert with_cov.metrics.loc["load", "mae"] < 0.6 * without.metrics.loc["load", "mae"], (
        with_cov.metrics, without.metrics)


# ------------------------------------------------------------------------------ many series
def test_global_model_over_series_of_different_lengths(model_name, tmp_path):
    long = three_series_long()
    est = tiny(model_name, lookback=24, horizon=6, val_size=24).fit(long)
    assert est.schema_.mode == "global" and est.series_ids_ == ("s0", "s1", "s2")
    fc = est.predict(level=[80])
    assert list(fc.columns) == ["unique_id", "ds", "y", "y-lo-80", "y-hi-80"]
    assert fc.groupby("unique_id").size().to_dict() == {"s0": 6, "s1": 6, "s2": 6}
    for sid, part in fc.groupby("unique_id"):
        last = long.loc[long["unique_id"] == sid, "ds"].max()
        assert part["ds"].iloc[0] == last + pd.Timedelta(hours=1)
    pd.testing.assert_frame_equal(tsformer.load(est.save(tmp_path / "g.tsf")).predict(level=[80]), fc)


@pytest.mark.parametrize("layout", ["wide", "variates", "global"])
def test_forecast_timestamps_keep_the_time_zone_in_every_layout(layout, tmp_path):
    tz = "Europe/Berlin"
    if layout == "wide":
        df = make_synthetic(200, 2, seed=0, periods=(24,)).tz_localize("UTC").tz_convert(tz)
        last = df.index[-1]
    else:
        long = three_series_long()
        long["ds"] = long["ds"].dt.tz_localize("UTC").dt.tz_convert(tz)
        df = long[long["unique_id"] == "s1"] if layout == "variates" else long
        last = None
    est = tiny("itransformer", lookback=24, horizon=6, val_size=24,
               **({"series_mode": layout} if layout != "wide" else {})).fit(df)
    fc = est.predict()
    times = pd.Series(fc.index) if layout == "wide" else fc["ds"]
    assert str(times.dt.tz) == tz
    for sid, part in ([(None, times)] if layout == "wide" else fc.groupby("unique_id")["ds"]):
        end = last if sid is None else df.loc[df["unique_id"] == sid, "ds"].max()
        if layout == "variates":
            end = df["ds"].max()
        expected = pd.date_range(end, periods=7, freq="h")[1:]
        assert list(part) == list(expected)
    # a saved model keeps the zone by name, not a fixed UTC offset
    pd.testing.assert_frame_equal(tsformer.load(est.save(tmp_path / "tz.tsf")).predict(), fc)
    if layout == "wide":  # so do a backtest's timestamps
        bt = est.backtest(df, n_windows=1).forecasts
        assert all(str(bt[c].dt.tz) == tz for c in ("cutoff", "train_end", "date"))
        assert bt["cutoff"].iloc[0] == df.index[-7] and list(bt["date"]) == list(df.index[-6:]) * 2


def test_global_model_forecasts_new_series_and_reports_short_ones():
    long = three_series_long()
    tiny_one = pd.DataFrame({"unique_id": "tiny", "ds": pd.date_range("2020-03-01", periods=30, freq="h"),
                             "y": np.arange(30.0)})
    with pytest.warns(UserWarning, match=r"1 series are shorter.*\['tiny'\]"):
        est = tiny("itransformer", lookback=24, horizon=6, val_size=24).fit(pd.concat([long, tiny_one]))
    assert "tiny" in set(est.predict()["unique_id"])
    with pytest.raises(DataError, match=r"fewer than lookback=24 rows.*\['dot'\]"):
        tiny("itransformer", lookback=24, horizon=6).fit(pd.concat([long, tiny_one.iloc[:5].assign(unique_id="dot")]))
    new = long[long["unique_id"] == "s1"].assign(unique_id="fresh")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = est.predict(new)
    assert set(fc["unique_id"]) == {"fresh"} and len(fc) == 6


def test_long_frame_extra_columns_must_be_declared():
    long = three_series_long().assign(promo=1.0)
    with pytest.raises(DataError, match=r"unexpected column\(s\) \['promo'\]"):
        tiny("itransformer").fit(long)


# ------------------------------------------------------------------------------ plots
def png_size(path) -> tuple[int, int]:
    raw = open(path, "rb").read(24)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", raw[16:24])


def test_plots_are_valid_images_of_the_expected_size(synthetic, tmp_path):
    est = tiny("itransformer").fit(synthetic)
    fig = tsformer.plot_forecast(synthetic, est.predict(level=[80, 95]))
    fig.savefig(tmp_path / "fc.png", dpi=100)
    assert png_size(tmp_path / "fc.png") == (900, int(round((2.4 * 3 + 0.6) * 100)))
    fig = tsformer.plot_forecast(synthetic, est.predict(), max_panels=1)
    assert len(fig.axes) == 1 and "first 1 of 3" in fig._suptitle.get_text()
    bt = est.backtest(synthetic, n_windows=2, level=[80])
    tsformer.plot_backtest(bt).savefig(tmp_path / "bt.png", dpi=50)
    assert png_size(tmp_path / "bt.png") == (450, int(round((2.4 * 3 + 0.6) * 50)))
    long = three_series_long()
    g = tiny("itransformer", lookback=24, horizon=6, val_size=24).fit(long)
    tsformer.plot_forecast(long, g.predict(level=[80])).savefig(tmp_path / "long.png", dpi=100)
    assert png_size(tmp_path / "long.png")[0] == 900


@pytest.mark.parametrize("schedule, factors", [("halve", [1, 1, 0.5, 0.25, 0.125]), ("constant", [1, 1, 1, 1, 1]),
                                               ("warmup", [0.25, 0.5, 0.75, 1, 0.5])])
def test_learning_rate_schedule_per_epoch(synthetic, schedule, factors):
    # "halve" is the reference code's lradj="type1": the first two epochs at the full rate, then halved;
    # "warmup" is salesforce/ETSformer's exponential_with_warmup (without a warm-start epoch: iTransformer
    # declares no warm-start weights)
    est = tiny("itransformer", max_epochs=5, patience=None, learning_rate=1e-3, lr_schedule=schedule).fit(synthetic)
    assert [row["lr"] for row in est.history_] == pytest.approx([1e-3 * f for f in factors])


def test_one_cycle_schedule_warms_up_then_anneals(synthetic):
    # stepped every batch: the first epoch starts at lr / 25, the warm-up (the first 20% of the steps) ends
    # inside it, and every later epoch starts lower than the one before
    est = tiny("itransformer", max_epochs=4, patience=None, learning_rate=1e-3, lr_schedule="onecycle").fit(synthetic)
    rates = [row["lr"] for row in est.history_]
    assert rates[0] == pytest.approx(1e-3 / 25)
    assert 0.8e-3 < rates[1] < 1e-3
    assert rates[1] > rates[2] > rates[3] > 1e-3 / 25 / 1e4
    with pytest.raises(ConfigError, match="onecycle"):
        tiny("itransformer", lr_schedule="one-cycle").fit(synthetic)
    with pytest.raises(ConfigError, match="finite max_epochs"):  # no end to spread the cycle over
        tiny("itransformer", lr_schedule="onecycle", trainer_kwargs={"max_epochs": -1}).fit(synthetic)


def _dynamo_frames() -> int:
    from torch._dynamo.utils import counters

    return sum(counters["frames"].values())


def test_compile_trains_through_torch_compile_and_saves_the_plain_network(synthetic, tmp_path):
    # the "eager" backend runs dynamo's tracing without code generation: the plumbing, at test speed
    frames = _dynamo_frames()
    compiled = tiny("itransformer", dropout=0.0, compile={"backend": "eager"}).fit(synthetic)
    assert _dynamo_frames() > frames  # the training steps really went through torch.compile
    plain = tiny("itransformer", dropout=0.0).fit(synthetic)
    np.testing.assert_allclose(compiled.predict().to_numpy(), plain.predict().to_numpy(), rtol=1e-5, atol=1e-6)
    assert [r["val_loss"] for r in compiled.history_] == pytest.approx([r["val_loss"] for r in plain.history_])
    assert not any("_orig_mod" in k for k in compiled.network_.state_dict())
    compiled.save(tmp_path / "m.tsf")
    np.testing.assert_allclose(tsformer.load(tmp_path / "m.tsf").predict().to_numpy(), compiled.predict().to_numpy())


def test_compile_errors_name_the_fix(synthetic):
    with pytest.raises(ConfigError, match="compile must be True, False or a dict"):
        tiny("itransformer", compile="yes").fit(synthetic)
    with pytest.raises(ConfigError, match="torch.compile rejected"):
        tiny("itransformer", compile={"mode": "fastest"}).fit(synthetic)

    def no_compiler(graph, example_inputs):
        raise RuntimeError("no C++ compiler found")

    with pytest.raises(ConfigError, match="compile=False"):
        tiny("itransformer", compile={"backend": no_compiler}).fit(synthetic)


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["itransformer", "informer", "mamba"])
def test_compile_with_inductor_matches_eager(model_name, synthetic):
    params = {"dropout": 0.0} if "dropout" in registry.get_estimator(model_name)().get_params() else {}
    compiled = tiny(model_name, compile=True, **params).fit(synthetic)
    plain = tiny(model_name, **params).fit(synthetic)
    # Informer samples ProbSparse keys during training: compiled, the draws come from inductor's generator,
    # so the two fits see different samples (measured: 0.2% apart after training)
    rtol = 1e-2 if model_name == "informer" else 1e-3
    np.testing.assert_allclose(compiled.predict().to_numpy(), plain.predict().to_numpy(), rtol=rtol, atol=1e-3)
