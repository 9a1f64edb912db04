"""Frame validation, calendar features, the scaler and the windowing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsformer.data import (StandardScaler, WindowDataset, forecast_frame, future_index, sliding_windows, time_features,
                           to_series_data, window_starts)
from tsformer.data.frames import time_grid
from tsformer.errors import ConfigError, DataError, TsformerError


def frame(n=50, cols=("a", "b"), freq="h", start="2021-01-01"):
    idx = pd.date_range(start, periods=n, freq=freq, name="date")
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(n, len(cols))), index=idx, columns=list(cols))


# ------------------------------------------------------------------------------ accepted input
def test_wide_frame_with_datetime_index():
    data = to_series_data(frame())
    assert data.values.shape == (50, 2) and data.columns == ("a", "b") and data.freq == "h"
    assert data.target == ("a", "b") and data.layout == "wide"


def test_time_column_named_or_detected():
    df = frame().reset_index()
    assert to_series_data(df, time_col="date").freq == "h"
    assert to_series_data(df).columns == ("a", "b")  # 'date' detected
    df["date"] = df["date"].astype(str)
    assert to_series_data(df, time_col="date").index[0] == pd.Timestamp("2021-01-01")


def test_target_subset_keeps_all_inputs():
    data = to_series_data(frame(cols=("a", "b", "c")), target=["c", "a"])
    assert data.columns == ("a", "b", "c") and data.target == ("a", "c")
    assert data.target_idx.tolist() == [0, 2]


def test_long_frame_becomes_variates_and_back():
    wide = frame()
    long = wide.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    data = to_series_data(long.sample(frac=1.0, random_state=0))  # row order does not matter in long frames
    assert data.layout == "long" and set(data.columns) == {"a", "b"}
    np.testing.assert_allclose(data.values[:, list(data.columns).index("a")], wide["a"].to_numpy())
    back = forecast_frame(data.schema, {"": data.values[None, :3]}, [data.index[:3]])
    assert list(back.columns) == ["unique_id", "ds", "y"] and len(back) == 6


def test_given_freq_reindexes_gaps_which_fill_must_fill():
    df = frame(n=10).drop(frame(n=10).index[[3, 4]])
    with pytest.raises(DataError, match="not evenly spaced"):
        to_series_data(df)
    with pytest.raises(DataError, match="missing values"):
        to_series_data(df, freq="h")
    data = to_series_data(df, freq="h", fill="interpolate")
    assert len(data) == 10 and not np.isnan(data.values).any()


def test_fill_policies():
    df = frame(n=10)
    df.iloc[0, 0] = np.nan
    df.iloc[5, 1] = np.nan
    for fill in ("ffill", "interpolate", "zero"):
        assert not np.isnan(to_series_data(df, fill=fill).values).any()
    assert to_series_data(df, fill="ffill").values[5, 1] == df.iloc[4, 1]


def test_future_index_follows_freq():
    idx = future_index(pd.Timestamp("2021-01-31"), "D", 3)
    assert list(idx) == list(pd.date_range("2021-02-01", periods=3, freq="D"))
    assert future_index(pd.Timestamp("2021-01-31"), "ME", 2)[1] == pd.Timestamp("2021-03-31")


@pytest.mark.parametrize("tz", [None, "Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("freq", ["15min", "h", "D", "B", "W-SUN", "MS", "ME", "QS"])
def test_time_grid_equals_date_range_per_series(freq, tz):
    """The vectorized grid of many series equals one date_range per series, across daylight-saving changes
    (fixed steps in instants, calendar steps in wall-clock time) and for series ending at different dates."""
    offset = pd.tseries.frequencies.to_offset(freq)
    start = pd.Timestamp("2024-03-01 00:00", tz=tz)
    anchor = start if offset.is_on_offset(start) else offset.rollforward(start)
    ends = pd.DatetimeIndex([anchor + k * offset for k in (0, 3, 40, 250, 700, 1000)])
    before, after = 7, 5
    grid = time_grid(ends, freq, before, after)
    want = [pd.date_range(end=e, periods=before, freq=freq).append(pd.date_range(start=e, periods=after + 1,
                                                                                 freq=freq)[1:]) for e in ends]
    assert len(grid) == len(ends) * (before + after) and str(grid.tz) == str(tz)
    for i, w in enumerate(want):
        assert list(grid[i * (before + after):(i + 1) * (before + after)]) == list(w)
    assert time_grid(ends[:0], freq, before, after).size == 0


def test_time_grid_outside_the_nanosecond_range_and_off_anchor():
    late = pd.DatetimeIndex(np.array(["2262-04-11T23:00", "2100-01-01T00:00"], dtype="datetime64[s]"))
    grid = time_grid(late, "h", 2, 3)  # past 2262-04-11 23:47, the last nanosecond timestamp
    assert grid[4] == pd.Timestamp("2262-04-12 02:00") and grid[9] == pd.Timestamp("2100-01-01 03:00")
    with pytest.raises(DataError, match="1677-2262"):
        time_grid(pd.DatetimeIndex(np.array(["2262-05-01"], dtype="datetime64[s]")), "1ns", 2, 3)
    # an end off its frequency's anchor takes date_range's own path: the anchors before and after it
    mid = pd.DatetimeIndex([pd.Timestamp("2024-03-15")])
    assert list(time_grid(mid, "MS", 2, 1)) == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01"),
                                               pd.Timestamp("2024-04-01")]


def test_does_not_modify_the_callers_frame():
    df = frame().reset_index()
    df.columns = ["date", 0, 1]
    before = df.copy()
    to_series_data(df)
    pd.testing.assert_frame_equal(df, before)


# ------------------------------------------------------------------------------ bad input
BAD = {
    "empty frame": (lambda: frame().iloc[:0], {}, "empty"),
    "not a frame": (lambda: np.zeros((5, 2)), {}, "expected a pandas DataFrame"),
    "no numeric column": (lambda: frame().astype(str), {}, "no numeric column"),
    "a non-numeric column": (lambda: frame().assign(note="x"), {}, r"\['note'\] are not numeric"),
    "unknown target": (lambda: frame(), {"target": "zz"}, "unknown target column"),
    "unknown time_col": (lambda: frame().reset_index(), {"time_col": "when"}, "time_col='when' is not a column"),
    "no time axis": (lambda: frame().reset_index(drop=True), {}, "no time axis"),
    "unparseable timestamps": (lambda: frame().reset_index().assign(date=lambda d: ["x"] + list(d.date.astype(str)[1:])),
                               {"time_col": "date"}, "not timestamps"),
    "unsorted timestamps": (lambda: frame().iloc[[0, 2, 1, 3, 4]], {}, "not sorted"),
    "duplicate timestamps": (lambda: frame().iloc[[0, 1, 1, 2, 3]], {}, "duplicate timestamps"),
    "irregular spacing": (lambda: frame().iloc[[0, 1, 2, 5, 6, 7]], {}, "not evenly spaced"),
    "NaN without fill": (lambda: frame().replace({frame().iloc[3, 1]: np.nan}), {}, "missing values .* fill="),
    "infinite value": (lambda: frame().replace({frame().iloc[2, 0]: np.inf}), {}, "infinite"),
    "bad fill": (lambda: frame(), {"fill": "mean"}, "fill='mean' is not supported"),
    "bad freq": (lambda: frame(), {"freq": "fortnightly"}, "not a pandas frequency"),
    "off-grid with freq": (lambda: frame(freq="30min"), {"freq": "h"}, "do not fall on the freq"),
    "long frame missing time col": (lambda: pd.DataFrame({"unique_id": ["a"], "y": [1.0]}), {}, r"\['ds'\] not found"),
    "long frame duplicate rows": (lambda: pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2020-01-01"] * 2, "y": [1.0, 2.0]}),
                                  {}, "duplicate"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_raises_a_clear_tsformer_error(case):
    make, kwargs, message = BAD[case]
    with pytest.raises(TsformerError, match=message) as info:
        to_series_data(make(), **kwargs)
    assert isinstance(info.value, (DataError, ConfigError)) and isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------ calendar features
def test_time_features_scaled_and_sized_by_freq():
    idx = pd.date_range("2021-01-01", periods=48, freq="h")
    f = time_features(idx, "h")
    assert f.shape == (48, 4) and f.min() >= -0.5 and f.max() <= 0.5
    assert f[0, 0] == -0.5 and f[23, 0] == 0.5  # hour of day
    assert time_features(pd.date_range("2021-01-01", periods=5, freq="15min"), "15min").shape[1] == 5
    assert time_features(pd.date_range("2021-01-01", periods=5, freq="D"), "D").shape[1] == 3
    assert time_features(pd.date_range("2021-01-01", periods=5, freq="MS"), "MS").shape[1] == 1


# ------------------------------------------------------------------------------ scaler
def test_scaler_roundtrip_numpy_and_torch():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(100, 3))
    s = StandardScaler().fit(x)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(z), x)
    zt = s.transform(torch.tensor(x, dtype=torch.float32))
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    np.testing.assert_allclose(s.inverse_transform(zt[:, [2]], columns=[2]).numpy()[:, 0], x[:, 2], rtol=1e-5)
    s2 = StandardScaler.from_state_dict(s.state_dict())
    np.testing.assert_array_equal(s2.transform(x), z)


def test_constant_column_is_not_divided_by_zero():
    s = StandardScaler().fit(np.ones((10, 1)))
    assert np.isfinite(s.transform(np.ones((3, 1)))).all()


# ------------------------------------------------------------------------------ windowing
def test_sliding_windows_equal_a_python_loop_and_are_views():
    x = np.arange(40.0).reshape(20, 2)
    loop = np.stack([x[i:i + 5] for i in range(0, 16, 3)])
    np.testing.assert_array_equal(sliding_windows(x, 5, step=3), loop)
    t = torch.from_numpy(x)
    w = sliding_windows(t, 5)
    np.testing.assert_array_equal(w.numpy(), np.stack([x[i:i + 5] for i in range(16)]))
    assert w.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()  # no copy


def test_window_dataset_batches_equal_a_python_loop():
    x = torch.arange(60.0).reshape(30, 2)
    marks = torch.arange(30.0)[:, None]
    starts = window_starts(30, 6, 3, stop=25)
    ds = WindowDataset(x, 6, 3, starts, marks=marks, target_idx=[1])
    assert len(ds) == 25 - 9 + 1
    batch = ds[[0, 4, 7]]
    for row, i in enumerate([0, 4, 7]):
        s = int(starts[i])
        torch.testing.assert_close(batch["x"][row], x[s:s + 6])
        torch.testing.assert_close(batch["y"][row], x[s + 6:s + 9, [1]])
        torch.testing.assert_close(batch["y_mark"][row], marks[s + 6:s + 9])
    assert ds[2]["x"].shape == (6, 2)


def test_window_starts_respect_the_split():
    # training windows: targets end before row 20; validation windows: targets start at or after row 20
    train = window_starts(30, 6, 3, stop=20)
    val = window_starts(30, 6, 3, first_target=20)
    assert (train + 6 + 3 <= 20).all() and train[-1] + 9 == 20
    assert (val + 6 >= 20).all() and val[0] == 14 and val[-1] + 9 == 30


def test_window_dataset_moves_the_series_not_the_windows():
    x = torch.randn(200, 3)
    ds = WindowDataset(x, 24, 6, np.arange(0, 150, 7), marks=torch.randn(200, 2), target_idx=[2])
    moved = ds.to("meta")  # a device without data: shapes and strides tell what would be copied
    assert moved.values.shape == (200, 3) and moved._windows.stride() == ds._windows.stride()  # still a view
    again = ds.to("cpu")
    for key, value in ds[[0, 3, 5]].items():
        assert torch.equal(again[[0, 3, 5]][key], value)


def test_timestamps_outside_the_nanosecond_range():
    far = frame(start="2500-01-01")  # pandas 3 keeps these in microseconds; nanoseconds end in 2262
    assert to_series_data(far).freq == "h"
    with pytest.raises(DataError, match="not evenly spaced"):
        to_series_data(far.iloc[[0, 1, 2, 5, 6]])
    long = far.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    with pytest.raises(DataError, match="2262"):
        to_series_data(long, series_mode="global")
