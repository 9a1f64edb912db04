"""DataFrame validation and conversion: pandas in, validated arrays out, and back.

``to_series_data`` is the single door through which every user frame enters tsformer.  It accepts

* a **wide** frame: a ``DatetimeIndex`` (or a time column, named by ``time_col`` or detected), one
  numeric column per variate;
* a **long** frame: ``unique_id``, ``ds``, ``y`` columns (names configurable); series aligned on the
  same timestamps become the variates of one wide table.

and either returns a :class:`SeriesData` or raises a :class:`~tsformer.errors.DataError` that names
the problem and the fix.  ``to_frame`` turns forecasts back into a frame of the same layout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

__all__ = [
    "SeriesData",
    "to_series_data",
    "to_frame",
    "future_index",
    "normalize_freq",
    "FILL_METHODS",
]

FILL_METHODS = ("ffill", "interpolate", "zero")
_TIME_NAMES = ("date", "ds", "time", "timestamp", "datetime")
LONG_ID, LONG_TIME, LONG_VALUE = "unique_id", "ds", "y"


@dataclass(frozen=True)
class SeriesData:
    """A validated, regularly spaced multivariate series.

    Attributes:
        values: ``(T, C)`` float64 array of every input column, no NaN.
        index: the ``T`` timestamps, sorted, unique, spaced by ``freq``.
        columns: the ``C`` column names, in order.
        target: the forecast columns (a subset of ``columns``, in ``columns`` order).
        freq: pandas frequency alias of the spacing (e.g. ``"h"``, ``"15min"``).
        layout: ``"wide"`` or ``"long"``; forecasts are returned in the same layout.
        names: for ``"long"``: the id, time and value column names of the input frame.
    """

    values: np.ndarray
    index: pd.DatetimeIndex
    columns: tuple[str, ...]
    target: tuple[str, ...]
    freq: str
    layout: str = "wide"
    names: dict = field(default_factory=dict)

    @property
    def target_idx(self) -> np.ndarray:
        """Positions of the target columns among ``columns``."""
        pos = {c: i for i, c in enumerate(self.columns)}
        return np.array([pos[c] for c in self.target], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)


def normalize_freq(freq) -> str:
    """Return the canonical pandas alias of ``freq`` or raise a ConfigError."""
    try:
        return pd.tseries.frequencies.to_offset(freq).freqstr
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"freq={freq!r} is not a pandas frequency; use an alias such as 'h', '15min', 'D', 'W', 'MS'"
        ) from exc


def future_index(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps that follow ``last`` at frequency ``freq``."""
    idx = pd.date_range(start=last, periods=horizon + 1, freq=freq)
    return idx[1:]


def to_series_data(
    df,
    *,
    time_col: str | None = None,
    target: str | Sequence[str] | None = None,
    freq: str | None = None,
    fill: str | None = None,
    id_col: str | None = None,
) -> SeriesData:
    """Validate a user frame and convert it to a :class:`SeriesData`.

    Args:
        df: wide or long ``pandas.DataFrame`` (a ``Series`` is taken as a one-column frame).
        time_col: column holding the timestamps; ``None`` uses the ``DatetimeIndex`` or a column named
            like a time (``date``, ``ds``, ``time``, ``timestamp``, ``datetime``).
        target: the column(s) to forecast (default: all); every numeric column is an input.
            For a long frame, the series ids to forecast.
        freq: the spacing; ``None`` infers it. Given, missing timestamps are inserted as gaps that
            ``fill`` must then fill.
        fill: ``None`` (NaN is an error), ``"ffill"``, ``"interpolate"`` or ``"zero"``.
        id_col: series id column of a long frame; ``None`` means long when a ``unique_id`` column exists.
    """
    if isinstance(df, pd.Series):
        df = df.to_frame(name=df.name if df.name is not None else "y")
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}; wrap arrays with pd.DataFrame(...)")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"the frame is empty ({df.shape[0]} rows x {df.shape[1]} columns); pass a frame with data")
    if fill is not None and fill not in FILL_METHODS:
        raise ConfigError(f"fill={fill!r} is not supported; use one of {FILL_METHODS} or None")
    freq = None if freq is None else normalize_freq(freq)

    if id_col is not None or LONG_ID in df.columns:
        wide, names = _pivot_long(df, id_col=id_col or LONG_ID, time_col=time_col or LONG_TIME)
        layout = "long"
    else:
        wide, names, layout = _with_time_index(df, time_col), {}, "wide"

    wide = wide.copy(deep=False)  # column renames below must never touch the caller's frame
    columns = _numeric_columns(wide)
    target = _resolve_target(target, columns, layout)
    wide = wide[list(columns)]
    _check_order(wide.index)
    wide, freq = _regularize(wide, freq)
    values = _fill_missing(wide, fill, layout)
    return SeriesData(
        values=values,
        index=pd.DatetimeIndex(wide.index),
        columns=columns,
        target=target,
        freq=freq,
        layout=layout,
        names=names,
    )


def to_frame(
    values: np.ndarray, index: pd.DatetimeIndex, columns: Sequence[str], *, layout: str = "wide", names=None
) -> pd.DataFrame:
    """Forecast array ``(H, C)`` -> a frame indexed by ``index`` (wide) or long rows (id, time, value)."""
    wide = pd.DataFrame(np.asarray(values), index=index, columns=list(columns))
    if layout == "wide":
        wide.index.name = wide.index.name or "date"
        return wide
    names = names or {}
    id_col, time_col, value_col = (names.get(k, d) for k, d in (("id", LONG_ID), ("time", LONG_TIME), ("value", LONG_VALUE)))
    wide.index.name = time_col
    long = wide.reset_index().melt(id_vars=time_col, var_name=id_col, value_name=value_col)
    return long[[id_col, time_col, value_col]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------- steps


def _pivot_long(df: pd.DataFrame, *, id_col: str, time_col: str) -> tuple[pd.DataFrame, dict]:
    missing = [c for c in (id_col, time_col) if c not in df.columns]
    if missing:
        raise DataError(
            f"long frame: column(s) {missing} not found (columns are {list(df.columns)}); a long frame needs "
            f"an id column, a time column and a value column: pass id_col= and time_col= to name them"
        )
    rest = [c for c in df.columns if c not in (id_col, time_col)]
    if LONG_VALUE in rest:
        value_col = LONG_VALUE
    elif len(rest) == 1:
        value_col = rest[0]
    else:
        raise DataError(
            f"long frame: cannot tell the value column among {rest}; name it '{LONG_VALUE}' or keep only "
            f"'{id_col}', '{time_col}' and one value column"
        )
    times = _parse_times(df[time_col], time_col)
    frame = pd.DataFrame({"id": df[id_col].astype(str).to_numpy(), "t": times, "v": df[value_col].to_numpy()})
    dup = frame.duplicated(["id", "t"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise DataError(
            f"long frame: {int(dup.sum())} duplicate (id, time) rows, e.g. id {row['id']!r} at {row['t']}; "
            f"keep one row per series and timestamp (df.drop_duplicates([{id_col!r}, {time_col!r}]))"
        )
    if not pd.api.types.is_numeric_dtype(frame["v"]):
        raise DataError(f"long frame: value column '{value_col}' is not numeric (dtype {frame['v'].dtype}); convert it")
    spans = frame.groupby("id", sort=False)["t"].agg(["min", "max", "size"])
    if spans["min"].nunique() > 1 or spans["max"].nunique() > 1 or spans["size"].nunique() > 1:
        odd = spans[(spans["min"] != spans["min"].min()) | (spans["max"] != spans["max"].max())].index.tolist()
        if odd:
            raise DataError(
                f"long frame: series cover different time ranges (e.g. {odd[:3]}); this estimator forecasts "
                f"aligned series as variates of one table: trim the series to a common range"
            )
    wide = frame.pivot(index="t", columns="id", values="v")
    wide = wide[list(dict.fromkeys(frame["id"]))]  # keep the ids in order of appearance
    wide.columns = wide.columns.astype(str)
    wide.index.name = time_col
    wide = wide.sort_index()
    return wide, {"id": id_col, "time": time_col, "value": value_col}


def _parse_times(col: pd.Series, name) -> pd.DatetimeIndex:
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        times = pd.DatetimeIndex(col)
    else:
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise DataError(
                f"time column '{name}' holds numbers, not timestamps; convert it with pd.to_datetime(..., unit=...)"
            )
        try:
            times = pd.DatetimeIndex(pd.to_datetime(col, format="mixed"))
        except (ValueError, TypeError, OverflowError) as exc:
            bad = _first_unparseable(col)
            raise DataError(
                f"time column '{name}' has values that are not timestamps (e.g. {bad!r} at row {_row_of(col, bad)}); "
                f"fix them or pass the right time_col="
            ) from exc
    if times.hasnans:
        pos = int(np.flatnonzero(times.isna())[0])
        raise DataError(f"time column '{name}' has {int(times.isna().sum())} missing timestamps (first at row {pos}); drop those rows")
    return times


def _first_unparseable(col: pd.Series):
    for v in col:
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError, OverflowError):
            return v
    return col.iloc[0]


def _row_of(col: pd.Series, value) -> int:
    hits = np.flatnonzero((col == value).to_numpy())
    return int(hits[0]) if len(hits) else 0


def _with_time_index(df: pd.DataFrame, time_col: str | None) -> pd.DataFrame:
    if time_col is not None:
        if time_col not in df.columns:
            if df.index.name == time_col and isinstance(df.index, pd.DatetimeIndex):
                return df
            raise DataError(f"time_col={time_col!r} is not a column (columns are {list(df.columns)[:20]})")
        out = df.drop(columns=[time_col])
        out.index = _parse_times(df[time_col], time_col)
        out.index.name = time_col
        return out
    if isinstance(df.index, pd.DatetimeIndex):
        if df.index.hasnans:
            raise DataError("the DatetimeIndex has missing timestamps (NaT); drop those rows")
        return df
    for c in df.columns:
        if str(c).lower() in _TIME_NAMES:
            return _with_time_index(df, c)
    raise DataError(
        "no time axis: give the frame a DatetimeIndex (df.set_index(pd.to_datetime(df['date']))) or name the "
        f"time column with time_col= (columns are {list(df.columns)[:20]})"
    )


def _numeric_columns(df: pd.DataFrame) -> tuple[str, ...]:
    cols = list(df.columns)
    if len(set(map(str, cols))) != len(cols):
        dups = pd.Index(map(str, cols))
        raise DataError(f"duplicate column names {sorted(set(dups[dups.duplicated()]))}; rename them")
    non_numeric = [c for c in cols if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    numeric = [c for c in cols if c not in non_numeric]
    if not numeric:
        raise DataError(
            f"no numeric column to forecast (columns: {cols[:20]} have dtypes {[str(df[c].dtype) for c in cols[:5]]}); "
            "convert the value columns to numbers"
        )
    if non_numeric:
        raise DataError(
            f"column(s) {non_numeric[:10]} are not numeric; drop them or convert them to numbers "
            "(every column except the time column is used as an input)"
        )
    df.columns = [str(c) for c in cols]
    return tuple(df.columns)


def _resolve_target(target, columns: tuple[str, ...], layout: str) -> tuple[str, ...]:
    if target is None:
        return columns
    names = [target] if isinstance(target, str) else list(target)
    names = [str(n) for n in names]
    if not names:
        raise ConfigError("target is empty; pass None to forecast every column or a list of column names")
    what = "series id" if layout == "long" else "column"
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise DataError(f"unknown target {what}(s) {unknown}; available: {list(columns)[:20]}")
    wanted = set(names)
    return tuple(c for c in columns if c in wanted)


def _check_order(index: pd.DatetimeIndex) -> None:
    if not index.is_monotonic_increasing:
        pos = int(np.flatnonzero(np.diff(index.asi8) < 0)[0]) + 1
        raise DataError(
            f"timestamps are not sorted: row {pos} ({index[pos]}) comes before row {pos - 1} ({index[pos - 1]}); "
            "sort the frame by time first (df.sort_index() or df.sort_values(time_col))"
        )
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise DataError(
            f"duplicate timestamps, e.g. {dup} appears {int((index == dup).sum())} times; keep one row per timestamp "
            "(aggregate with df.groupby(level=0).mean() or drop duplicates)"
        )


def _regularize(df: pd.DataFrame, freq: str | None) -> tuple[pd.DataFrame, str]:
    index = df.index
    if len(index) < 2:
        raise DataError(f"need at least 2 timestamps to know the spacing, got {len(index)}")
    if freq is None:
        inferred = _infer_freq(index)
        if inferred is None:
            steps = pd.Series(np.diff(index.asi8))
            common = pd.Timedelta(int(steps.mode().iloc[0]))
            odd = int(np.flatnonzero(steps.to_numpy() != common.value)[0]) if (steps != common.value).any() else 0
            raise DataError(
                f"timestamps are not evenly spaced (most steps are {common}, but {index[odd]} -> {index[odd + 1]} is "
                f"not); pass freq= (e.g. freq='h') to put the series on a regular grid, with fill= for the gaps"
            )
        return df, normalize_freq(inferred)
    grid = pd.date_range(index[0], index[-1], freq=freq)
    off_grid = index.difference(grid)
    if len(off_grid):
        raise DataError(
            f"{len(off_grid)} timestamps do not fall on the freq={freq!r} grid starting at {index[0]} "
            f"(e.g. {off_grid[0]}); check freq or resample the data first"
        )
    if len(grid) != len(index):
        df = df.reindex(grid)
        df.index.name = index.name
    return df, freq


def _infer_freq(index: pd.DatetimeIndex):
    if len(index) < 3:
        return None
    with warnings.catch_warnings():  # pandas 3 announces that infer_freq will return an offset; both are fine
        warnings.simplefilter("ignore")
        return pd.infer_freq(index)


def _fill_missing(df: pd.DataFrame, fill: str | None, layout: str) -> np.ndarray:
    values = df.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise DataError(f"infinite value in column '{df.columns[c]}' at {df.index[r]}; replace it before fitting")
    missing = np.isnan(values)
    if not missing.any():
        return values
    if fill is None:
        counts = {str(c): int(n) for c, n in zip(df.columns, missing.sum(0)) if n}
        r, c = np.argwhere(missing)[0]
        raise DataError(
            f"{int(missing.sum())} missing values (per column: {dict(list(counts.items())[:10])}; first in "
            f"'{df.columns[c]}' at {df.index[r]}); pass fill='ffill' or fill='interpolate' (CLI: --fill), "
            "or clean the data"
        )
    if missing.all(axis=0).any():
        empty = [str(c) for c, m in zip(df.columns, missing.all(axis=0)) if m]
        raise DataError(f"column(s) {empty} have no values at all; drop them")
    if fill == "ffill":
        filled = df.ffill().bfill()
    elif fill == "interpolate":
        filled = df.interpolate(method="time", limit_direction="both")
    else:
        filled = df.fillna(0.0)
    return filled.to_numpy(dtype=np.float64)
