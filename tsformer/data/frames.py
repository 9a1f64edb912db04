"""DataFrame validation and conversion: pandas in, validated arrays out, and back.

``to_series_data`` is the single door through which every user frame enters tsformer.  It accepts

* a **wide** frame: a ``DatetimeIndex`` (or a time column, named by ``time_col`` or detected), one
  numeric column per variate;
* a **long** frame: ``unique_id``, ``ds``, ``y`` columns.  Series aligned on the same timestamps become
  the variates of one wide table (``series_mode="variates"``); series of different lengths and start
  dates are kept apart, one univariate *segment* each, for a global model with shared weights
  (``series_mode="global"``).  ``"auto"`` picks variates when the series are aligned and no future
  covariates are declared, global otherwise.

Future-known covariates (``future_covariates=[...]``) are split from the forecast variates: the networks
receive them with the calendar features, for the lookback and the horizon.

It returns a :class:`SeriesData` or raises a :class:`~tsformer.errors.DataError` that names the problem
and the fix.  :func:`forecast_frame` turns forecasts back into a frame of the input's layout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

__all__ = [
    "Schema",
    "SeriesData",
    "to_series_data",
    "forecast_frame",
    "read_future_covariates",
    "future_index",
    "time_grid",
    "normalize_freq",
    "FILL_METHODS",
    "SERIES_MODES",
]

FILL_METHODS = ("ffill", "interpolate", "zero")
SERIES_MODES = ("auto", "variates", "global")
_TIME_NAMES = ("date", "ds", "time", "timestamp", "datetime")
LONG_ID, LONG_TIME, LONG_VALUE = "unique_id", "ds", "y"


@dataclass(frozen=True)
class Schema:
    """What a model was fitted on: the contract new histories and outputs follow.

    Attributes:
        columns: the variates' names (wide: columns; long variates: series ids; global: the value column).
        target: the forecast variates, a subset of ``columns`` in ``columns`` order.
        covariates: future-known covariate columns (fed with the calendar features, never forecast).
        freq: pandas alias of the spacing.
        layout: ``"wide"`` or ``"long"`` (the layout forecasts are returned in).
        mode: ``"variates"`` (one multivariate table) or ``"global"`` (many univariate series).
        names: for long frames, the ``id``, ``time`` and ``value`` column names.
    """

    columns: tuple[str, ...]
    target: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    freq: str = ""
    layout: str = "wide"
    mode: str = "variates"
    names: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "target": list(self.target), "covariates": list(self.covariates),
                "freq": self.freq, "layout": self.layout, "mode": self.mode, "names": dict(self.names)}

    @classmethod
    def from_dict(cls, d: dict) -> "Schema":
        return cls(columns=tuple(d["columns"]), target=tuple(d["target"]), covariates=tuple(d.get("covariates", ())),
                   freq=d["freq"], layout=d["layout"], mode=d.get("mode", "variates"), names=dict(d.get("names", {})))

    @property
    def target_idx(self) -> np.ndarray:
        """Positions of the target variates among ``columns``."""
        pos = {c: i for i, c in enumerate(self.columns)}
        return np.array([pos[c] for c in self.target], dtype=np.int64)


@dataclass(frozen=True)
class SeriesData:
    """Validated, regularly spaced data: one or more segments of ``C`` variates stacked in time.

    Attributes:
        schema: names, frequency and layout (see :class:`Schema`).
        values: ``(T, C)`` float64 variates, no NaN.
        covariates: ``(T, K)`` float64 future-known covariates (``K`` may be 0).
        index: the ``T`` timestamps; sorted, unique and spaced by ``freq`` within each segment.
        offsets: ``(S + 1,)`` segment boundaries: segment ``s`` is rows ``offsets[s]:offsets[s + 1]``.
            A wide frame is one segment; a global long frame has one segment per series.
        ids: the ``S`` series ids of a global frame (empty otherwise).
    """

    schema: Schema
    values: np.ndarray
    index: pd.DatetimeIndex
    covariates: np.ndarray | None = None
    offsets: np.ndarray | None = None
    ids: tuple[str, ...] = ()

    def __post_init__(self):
        if self.covariates is None:
            object.__setattr__(self, "covariates", np.zeros((len(self.values), 0)))
        if self.offsets is None:
            object.__setattr__(self, "offsets", np.array([0, len(self.values)], dtype=np.int64))

    # shortcuts to the schema
    columns = property(lambda self: self.schema.columns)
    target = property(lambda self: self.schema.target)
    freq = property(lambda self: self.schema.freq)
    layout = property(lambda self: self.schema.layout)
    names = property(lambda self: self.schema.names)
    target_idx = property(lambda self: self.schema.target_idx)

    @property
    def n_segments(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def segment_codes(self) -> np.ndarray:
        """``(T,)`` the segment each row belongs to."""
        return np.repeat(np.arange(self.n_segments), self.lengths)

    def head(self, rows) -> "SeriesData":
        """The first ``rows`` rows of every segment (``rows``: an int or one per segment)."""
        keep = np.minimum(np.broadcast_to(np.asarray(rows, dtype=np.int64), (self.n_segments,)), self.lengths)
        pos = np.arange(len(self)) - np.repeat(self.offsets[:-1], self.lengths)
        mask = pos < np.repeat(keep, self.lengths)
        return SeriesData(schema=self.schema, values=self.values[mask], index=self.index[mask],
                          covariates=self.covariates[mask],
                          offsets=np.concatenate([[0], np.cumsum(keep)]).astype(np.int64), ids=self.ids)

    def last_rows(self, n: int) -> np.ndarray:
        """``(S, n)`` row positions of the last ``n`` rows of every segment (each must have ``n`` rows)."""
        return self.offsets[1:, None] - n + np.arange(n)[None, :]


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
    return time_grid(pd.DatetimeIndex([last]), freq, 0, horizon)


_NS_PER_UNIT = {"s": 10 ** 9, "ms": 10 ** 6, "us": 10 ** 3, "ns": 1}


def time_grid(ends: pd.DatetimeIndex, freq: str, before: int, after: int) -> pd.DatetimeIndex:
    """For each of ``ends``, the ``before`` timestamps at ``freq`` ending with it and the ``after`` that
    follow: ``len(ends) * (before + after)`` stamps, series after series, in ``ends``' time zone.

    Steps of a fixed length (hours, minutes, seconds) are added to the instants, so across a daylight-saving
    change the wall clock skips or repeats an hour; calendar steps (days, weeks, months, business days) are
    added to the wall-clock time.  Both as ``pd.date_range`` does, but for every series at once: one integer
    sum (fixed steps) or one vectorized shift per grid column (calendar steps), not a ``date_range`` per
    series, which remains the fallback for what a shift cannot do (an end off its frequency's anchor, a
    wall-clock time a daylight-saving change removes).
    """
    ends = pd.DatetimeIndex(ends)
    offset = pd.tseries.frequencies.to_offset(freq)
    tz = ends.tz
    if not len(ends):
        return pd.DatetimeIndex(np.zeros(0, "datetime64[ns]")).tz_localize(tz)
    if isinstance(offset, pd.offsets.Tick):
        instants = ends.tz_convert("UTC").tz_localize(None) if tz is not None else ends
        flat = pd.DatetimeIndex(_fixed_step_grid(instants, pd.Timedelta(offset).value, before, after).reshape(-1))
        return flat.tz_localize("UTC").tz_convert(tz) if tz is not None else flat  # ns where the dates fit
    wall = ends.tz_localize(None) if tz is not None else ends
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)  # offsets pandas shifts element-wise
            if ((wall + offset) - offset == wall).all():  # every end on the frequency's anchor
                cols = [wall if k == 0 else wall + k * offset for k in range(1 - before, after + 1)]
                grid = np.stack([c.as_unit(wall.unit).asi8 for c in cols], axis=1).view(f"datetime64[{wall.unit}]")
                flat = _as_ns(pd.DatetimeIndex(grid.reshape(-1)))
                return flat.tz_localize(tz) if tz is not None else flat
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        pass  # a wall-clock time that a daylight-saving change removes or repeats, a date out of range
    try:
        rows = [pd.date_range(end=e, periods=before, freq=offset).append(_after(e, offset, after)) for e in ends]
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"cannot lay out the forecast's timestamps at frequency {freq!r} after {ends[0]}: {exc}; "
                        "check the timestamps (or pass freq=)") from exc
    return _as_ns(rows[0].append(rows[1:]) if len(rows) > 1 else rows[0])


def _as_ns(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """``index`` in nanoseconds, as the fixed-step grid is (whatever unit the data came in), where it fits."""
    try:
        return index.as_unit("ns")
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        return index


def _after(end: pd.Timestamp, offset, count: int) -> pd.DatetimeIndex:
    """The ``count`` anchors of ``offset`` after ``end`` (which need not be one)."""
    nxt = pd.date_range(start=end, periods=count + 1, freq=offset)
    return nxt[nxt > end][:count]


def _fixed_step_grid(instants: pd.DatetimeIndex, step: int, before: int, after: int) -> np.ndarray:
    """``(S, before + after)`` datetime64 of naive ``instants`` plus multiples of ``step`` nanoseconds, in
    nanoseconds, or for dates outside their range (1677-2262, which pandas 3 holds in s or us) in the
    coarsest unit that holds the step and the ends exactly."""
    unit = "ns"
    lo, hi = pd.Timestamp.min, pd.Timestamp.max
    if instants.max() > hi - pd.Timedelta(step * after) or instants.min() < lo + pd.Timedelta(step * before):
        unit = next((u for u in ("s", "ms", "us")
                     if step % _NS_PER_UNIT[u] == 0 and (instants.as_unit(u) == instants).all()), None)
        if unit is None:
            raise DataError(f"the forecast grid runs outside 1677-2262 with steps of {pd.Timedelta(step)}, "
                            f"finer than a microsecond; shift the timestamps")
    grid = instants.as_unit(unit).asi8[:, None] + (step // _NS_PER_UNIT[unit]) * np.arange(1 - before, after + 1)
    return grid.astype(f"datetime64[{unit}]")


def to_series_data(
    df,
    *,
    time_col: str | None = None,
    target: str | Sequence[str] | None = None,
    freq: str | None = None,
    fill: str | None = None,
    id_col: str | None = None,
    future_covariates: Sequence[str] | None = None,
    series_mode: str = "auto",
) -> SeriesData:
    """Validate a user frame and convert it to a :class:`SeriesData`.

    Args:
        df: wide or long ``pandas.DataFrame`` (a ``Series`` is taken as a one-column frame).
        time_col: column holding the timestamps; ``None`` uses the ``DatetimeIndex`` or a column named
            like a time (``date``, ``ds``, ``time``, ``timestamp``, ``datetime``).
        target: the column(s) to forecast (default: all but the future covariates); every numeric column
            is an input.  For a long frame, the series ids to use.
        freq: the spacing; ``None`` infers it. Given, missing timestamps are inserted as gaps that
            ``fill`` must then fill.
        fill: ``None`` (NaN is an error), ``"ffill"``, ``"interpolate"`` or ``"zero"``.
        id_col: series id column of a long frame; ``None`` means long when a ``unique_id`` column exists.
        future_covariates: columns whose values are known in advance (given again for the horizon at
            prediction time); they are inputs, never forecast.
        series_mode: for long frames, ``"auto"``, ``"variates"`` or ``"global"`` (see the module doc).
    """
    if isinstance(df, pd.Series):
        df = df.to_frame(name=df.name if df.name is not None else "y")
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}; wrap arrays with pd.DataFrame(...)")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"the frame is empty ({df.shape[0]} rows x {df.shape[1]} columns); pass a frame with data")
    if fill is not None and fill not in FILL_METHODS:
        raise ConfigError(f"fill={fill!r} is not supported; use one of {FILL_METHODS} or None")
    if series_mode not in SERIES_MODES:
        raise ConfigError(f"series_mode={series_mode!r} is not supported; use one of {SERIES_MODES}")
    freq = None if freq is None else normalize_freq(freq)
    covs = tuple(str(c) for c in ([future_covariates] if isinstance(future_covariates, str) else future_covariates or ()))

    if id_col is not None or LONG_ID in df.columns:
        return _read_long(df, id_col=id_col or LONG_ID, time_col=time_col or LONG_TIME, target=target, freq=freq,
                          fill=fill, covariates=covs, series_mode=series_mode)
    return _read_wide(_with_time_index(df, time_col), target=target, freq=freq, fill=fill, covariates=covs)


def forecast_frame(schema: Schema, outputs: dict[str, np.ndarray],
                   future: Sequence[pd.DatetimeIndex] | np.ndarray | pd.DatetimeIndex,
                   ids: Sequence[str] = ()) -> pd.DataFrame:
    """Forecast arrays -> a frame in the layout the model was fitted on.

    Args:
        schema: the fitted schema.
        outputs: ``{suffix: (S, H, C_t) array}``; suffix ``""`` is the point forecast, others name extra
            columns such as ``"-lo-80"`` / ``"-hi-80"``.
        future: the future timestamps: one index per segment, an ``(S, H)`` datetime64 array, or one
            ``DatetimeIndex`` of ``S * H`` stamps, series after series (which keeps a time zone).
        ids: the ``S`` series ids of a global model.

    Returns:
        wide: one row per future timestamp, columns ``<col><suffix>``; long: one row per series and
        timestamp, columns ``id, time, <value><suffix>``.
    """
    suffixes = list(outputs)
    horizon = next(iter(outputs.values())).shape[1]
    if isinstance(future, pd.DatetimeIndex):
        times, name = future, future.name
    elif isinstance(future, np.ndarray):
        times, name = pd.DatetimeIndex(future.reshape(-1)), None
    else:
        per_segment = [pd.DatetimeIndex(f) for f in future]
        times, name = per_segment[0].append(per_segment[1:]), getattr(future[0], "name", None)
    if schema.layout == "wide":
        cols = {f"{c}{s}": outputs[s][0, :, j] for j, c in enumerate(schema.target) for s in suffixes}
        frame = pd.DataFrame(cols, index=times[:horizon])
        frame.index.name = name or "date"
        return frame
    id_col, time_col, value_col = (schema.names.get(k, d) for k, d in
                                   (("id", LONG_ID), ("time", LONG_TIME), ("value", LONG_VALUE)))
    if schema.mode == "global":
        data = {id_col: np.repeat(np.asarray(ids, dtype=object), horizon), time_col: times}
        data.update({f"{value_col}{s}": outputs[s][:, :, 0].reshape(-1) for s in suffixes})
    else:  # variates of one table: one block of rows per target series
        data = {id_col: np.repeat(np.asarray(schema.target, dtype=object), horizon),
                time_col: times[np.tile(np.arange(horizon), len(schema.target))]}
        data.update({f"{value_col}{s}": outputs[s][0].T.reshape(-1) for s in suffixes})
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------------- wide


def _read_wide(wide: pd.DataFrame, *, target, freq, fill, covariates) -> SeriesData:
    wide = wide.copy(deep=False)  # column renames below must never touch the caller's frame
    columns = _numeric_columns(wide)
    missing = [c for c in covariates if c not in columns]
    if missing:
        raise DataError(f"future covariate column(s) {missing} not found (columns are {list(columns)[:20]})")
    variates = tuple(c for c in columns if c not in covariates)
    if not variates:
        raise DataError("every column is declared a future covariate; keep at least one column to forecast")
    target = _resolve_target(target, variates, "wide", covariates)
    wide = wide[list(columns)]
    _check_order(wide.index)
    wide, freq = _regularize(wide, freq)
    values = _fill_missing(wide, fill)
    var_pos = [columns.index(c) for c in variates]
    cov_pos = [columns.index(c) for c in covariates]
    schema = Schema(columns=variates, target=target, covariates=covariates, freq=freq, layout="wide")
    return SeriesData(schema=schema, values=values[:, var_pos], covariates=values[:, cov_pos],
                      index=pd.DatetimeIndex(wide.index))


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
    non_numeric = [c for c in cols if not _is_numeric(df[c])]
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


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


def _resolve_target(target, columns: tuple[str, ...], layout: str, covariates=()) -> tuple[str, ...]:
    if target is None:
        return columns
    names = [target] if isinstance(target, str) else list(target)
    names = [str(n) for n in names]
    if not names:
        raise ConfigError("target is empty; pass None to forecast every column or a list of column names")
    what = "series id" if layout == "long" else "column"
    both = [n for n in names if n in covariates]
    if both:
        raise ConfigError(f"{both} are declared future covariates and cannot also be targets")
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
            steps = np.diff(index.asi8)  # in the index's own unit: no overflow outside 1677-2262
            mode = int(pd.Series(steps).mode().iloc[0])
            common = pd.Timedelta(mode, unit=index.unit)
            odd = int(np.flatnonzero(steps != mode)[0]) if (steps != mode).any() else 0
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


def _fill_missing(df: pd.DataFrame, fill: str | None, groups: np.ndarray | None = None, ids=None) -> np.ndarray:
    values = df.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise DataError(f"infinite value in column '{df.columns[c]}' at {df.index[r]}{_in_series(groups, ids, r)}; "
                        "replace it before fitting")
    missing = np.isnan(values)
    if not missing.any():
        return values
    if fill is None:
        counts = {str(c): int(n) for c, n in zip(df.columns, missing.sum(0)) if n}
        r, c = np.argwhere(missing)[0]
        raise DataError(
            f"{int(missing.sum())} missing values (per column: {dict(list(counts.items())[:10])}; first in "
            f"'{df.columns[c]}' at {df.index[r]}{_in_series(groups, ids, r)}); pass fill='ffill' or "
            "fill='interpolate' (CLI: --fill), or clean the data"
        )
    frame = df.reset_index(drop=True)
    if groups is None:
        groups = np.zeros(len(frame), dtype=np.int64)
    empty = frame.isna().groupby(groups).all().to_numpy()
    if empty.any():
        g, c = np.argwhere(empty)[0]
        where = f" of series {ids[g]!r}" if ids else ""
        raise DataError(f"column '{df.columns[c]}'{where} has no values at all; drop it")
    grouped = frame.groupby(groups)
    if fill == "ffill":
        filled = grouped.ffill().groupby(groups).bfill()
    elif fill == "interpolate":
        filled = grouped.transform(lambda s: s.interpolate(limit_direction="both"))
    else:
        filled = frame.fillna(0.0)
    return filled.to_numpy(dtype=np.float64)


def _in_series(groups, ids, row) -> str:
    return f" in series {ids[groups[row]]!r}" if groups is not None and ids else ""


# --------------------------------------------------------------------------------------------- long


def _read_long(df: pd.DataFrame, *, id_col, time_col, target, freq, fill, covariates, series_mode) -> SeriesData:
    missing = [c for c in (id_col, time_col) if c not in df.columns]
    if missing:
        raise DataError(
            f"long frame: column(s) {missing} not found (columns are {list(df.columns)}); a long frame needs "
            f"an id column, a time column and a value column: pass id_col= and time_col= to name them"
        )
    rest = [c for c in df.columns if c not in (id_col, time_col) and c not in covariates]
    absent = [c for c in covariates if c not in df.columns]
    if absent:
        raise DataError(f"long frame: future covariate column(s) {absent} not found (columns are {list(df.columns)})")
    if LONG_VALUE in rest:
        value_col = LONG_VALUE
    elif len(rest) == 1:
        value_col = rest[0]
    else:
        raise DataError(
            f"long frame: cannot tell the value column among {rest}; name it '{LONG_VALUE}' or keep only "
            f"'{id_col}', '{time_col}', one value column and declared future covariates"
        )
    extra = [c for c in rest if c != value_col]
    if extra:
        raise DataError(
            f"long frame: unexpected column(s) {extra}; a long frame holds '{id_col}', '{time_col}', the value "
            f"column '{value_col}' and the columns declared with future_covariates=; drop the others or declare them"
        )
    for c in (value_col, *covariates):
        if not _is_numeric(df[c]):
            raise DataError(f"long frame: column '{c}' is not numeric (dtype {df[c].dtype}); convert it")
    frame = pd.DataFrame({"id": df[id_col].astype(str).to_numpy(), "t": _parse_times(df[time_col], time_col),
                          "v": df[value_col].to_numpy(dtype=np.float64, na_value=np.nan)})
    for c in covariates:
        frame[c] = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
    if target is not None:
        wanted = [target] if isinstance(target, str) else [str(t) for t in target]
        known = set(frame["id"])
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise DataError(f"unknown target series id(s) {unknown}; available: {sorted(known)[:20]}")
        frame = frame[frame["id"].isin(wanted)]
    dup = frame.duplicated(["id", "t"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise DataError(
            f"long frame: {int(dup.sum())} duplicate (id, time) rows, e.g. id {row['id']!r} at {row['t']}; "
            f"keep one row per series and timestamp (df.drop_duplicates([{id_col!r}, {time_col!r}]))"
        )
    names = {"id": id_col, "time": time_col, "value": value_col}
    spans = frame.groupby("id", sort=False)["t"].agg(["min", "max", "size"])
    aligned = spans["min"].nunique() == 1 and spans["max"].nunique() == 1 and spans["size"].nunique() == 1
    if series_mode == "variates" and (not aligned or covariates):
        why = "declare future covariates" if aligned else "cover different time ranges"
        raise DataError(f"long frame: series_mode='variates' needs aligned series without future covariates, but "
                        f"these {why}; use series_mode='global' (one shared univariate model) or trim the series")
    if series_mode == "global" or not aligned or covariates:
        return _global(frame, freq=freq, fill=fill, covariates=covariates, names=names)

    wide = frame.pivot(index="t", columns="id", values="v")
    wide = wide[list(dict.fromkeys(frame["id"]))]  # keep the ids in order of appearance
    wide.columns = wide.columns.astype(str)
    wide.index.name = time_col
    wide = wide.sort_index()
    data = _read_wide(wide, target=None, freq=freq, fill=fill, covariates=())
    schema = Schema(columns=data.columns, target=data.target, freq=data.freq, layout="long", mode="variates",
                    names=names)
    return SeriesData(schema=schema, values=data.values, covariates=data.covariates, index=data.index)


def _global(frame: pd.DataFrame, *, freq, fill, covariates, names) -> SeriesData:
    """Many univariate series, each a segment of its own, sorted by (id in order of appearance, time)."""
    codes, ids = pd.factorize(frame["id"])
    times = pd.DatetimeIndex(frame["t"])
    tz = times.tz  # the arithmetic below is on UTC nanoseconds; the index gets the zone back
    try:
        t = times.as_unit("ns").asi8
    except pd.errors.OutOfBoundsDatetime:
        raise DataError(
            f"timestamps run from {frame['t'].min()} to {frame['t'].max()}; a long frame of many series needs them "
            f"within 1677-09-22 .. 2262-04-11 (nanosecond timestamps): shift the dates, or pass a wide frame"
        ) from None
    order = np.lexsort((t, codes))
    codes, t = codes[order], t[order]
    cols = ["v", *covariates]
    values = frame[cols].to_numpy()[order]
    ids = tuple(str(i) for i in ids)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(ids)))]).astype(np.int64)

    if freq is None:
        longest = int(np.argmax(np.diff(offsets)))
        seg = pd.DatetimeIndex(t[offsets[longest]:offsets[longest + 1]])
        inferred = _infer_freq(seg)
        if inferred is None:
            raise DataError(f"series {ids[longest]!r} is not evenly spaced (or too short to tell); pass freq= "
                            "(e.g. freq='h') to put every series on a regular grid, with fill= for the gaps")
        freq = normalize_freq(inferred)
        given = False
    else:
        given = True
    codes, t, values, offsets = _regrid(codes, t, values, offsets, freq, given, ids)
    index = pd.DatetimeIndex(t.astype("datetime64[ns]"))
    if tz is not None:  # local time for the calendar features and the forecasts, as for wide frames
        index = index.tz_localize("UTC").tz_convert(tz)
    table = pd.DataFrame(values, columns=cols, index=index)
    filled = _fill_missing(table, fill, groups=codes, ids=ids)
    schema = Schema(columns=(names["value"],), target=(names["value"],), covariates=covariates, freq=freq,
                    layout="long", mode="global", names=names)
    return SeriesData(schema=schema, values=filled[:, :1], covariates=filled[:, 1:], index=index, offsets=offsets,
                      ids=ids)


def _regrid(codes, t, values, offsets, freq, given, ids):
    """Check every series lies on the ``freq`` grid; with ``freq`` given, insert missing rows as NaN."""
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).value
    except (ValueError, TypeError):
        step = None
    same = codes[1:] == codes[:-1]
    if step is not None:
        d = np.diff(t)
        bad = same & (d != step)
        if not bad.any():
            return codes, t, values, offsets
        gaps = bad & (d > 0) & (d % step == 0)
        if not given or (bad & ~gaps).any():
            i = int(np.flatnonzero(bad & ~gaps if given else bad)[0])
            raise DataError(
                f"series {ids[codes[i]]!r} is not evenly spaced at {freq!r}: "
                f"{pd.Timestamp(t[i])} -> {pd.Timestamp(t[i + 1])}; "
                + ("check freq or resample the data first" if given else
                   "pass freq= to put every series on a regular grid, with fill= for the gaps")
            )
        starts, ends = t[offsets[:-1]], t[offsets[1:] - 1]
        lengths = (ends - starts) // step + 1
        new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        new_codes = np.repeat(np.arange(len(lengths)), lengths)
        new_t = starts[new_codes] + (np.arange(new_offsets[-1]) - new_offsets[new_codes]) * step
        new_values = np.full((new_offsets[-1], values.shape[1]), np.nan)
        new_values[new_offsets[codes] + (t - starts[codes]) // step] = values
        return new_codes, new_t, new_values, new_offsets
    # calendar frequencies (months, quarters, business days): compare each series with its own grid
    parts = []
    for s in range(len(offsets) - 1):
        seg_t = pd.DatetimeIndex(t[offsets[s]:offsets[s + 1]].astype("datetime64[ns]"))
        grid = pd.date_range(seg_t[0], seg_t[-1], freq=freq)
        if len(seg_t.difference(grid)) or (len(grid) != len(seg_t) and not given):
            raise DataError(f"series {ids[s]!r} is not on the {freq!r} grid; check freq or resample the data first")
        seg = pd.DataFrame(values[offsets[s]:offsets[s + 1]], index=seg_t).reindex(grid)
        parts.append((s, grid.as_unit("ns").asi8, seg.to_numpy()))
    lengths = np.array([len(p[1]) for p in parts])
    return (np.repeat(np.arange(len(parts)), lengths), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


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


def read_future_covariates(future, schema: Schema, times: np.ndarray | pd.DatetimeIndex, ids: Sequence[str] = (),
                           time_col: str | None = None) -> np.ndarray:
    """Values of the future covariates at ``times`` from the user's ``future`` frame -> ``(S, H, K)``.

    ``times`` holds the ``H`` future timestamps of each of the ``S`` series (``len(ids)`` for a global model,
    else one table): an ``(S, H)`` datetime64 array, or a ``DatetimeIndex`` of ``S * H`` stamps, series after
    series (which keeps a time zone).  ``future`` is wide (timestamps + covariate columns) for a wide model,
    or long (id, time, covariates) for a global one; extra rows and columns are ignored.  Missing values are
    an error that names them.
    """
    covs = list(schema.covariates)
    if isinstance(times, pd.DatetimeIndex):
        flat = times
        S = len(ids) if schema.mode == "global" else 1
        H = len(flat) // max(S, 1)
    else:
        S, H = np.shape(times)
        flat = pd.DatetimeIndex(np.asarray(times).reshape(-1))
    if not covs:
        return np.zeros((S, H, 0))
    need = f"the model uses future covariates {covs}: pass predict(future=frame) with their values for the {H} " \
           f"steps after the history (from {flat[0] if len(flat) else '-'})"
    if future is None:
        raise DataError(need)
    if not isinstance(future, pd.DataFrame):
        raise DataError(f"future must be a pandas DataFrame, got {type(future).__name__}")
    absent = [c for c in covs if c not in future.columns]
    if absent:
        raise DataError(f"future frame lacks covariate column(s) {absent}; {need}")
    if schema.mode == "global":
        id_col, t_col = schema.names.get("id", LONG_ID), schema.names.get("time", LONG_TIME)
        if id_col not in future.columns or t_col not in future.columns:
            raise DataError(f"future frame needs the columns '{id_col}' and '{t_col}' besides {covs}")
        keyed = future.set_index([future[id_col].astype(str), _parse_times(future[t_col], t_col)])[covs]
        if keyed.index.has_duplicates:
            raise DataError("future frame has duplicate (id, time) rows; keep one per series and timestamp")
        wanted = pd.MultiIndex.from_arrays([np.repeat(np.asarray(ids, dtype=object), H), flat])
    else:
        keyed = _with_time_index(future, time_col if time_col in future.columns else None)[covs]
        if keyed.index.has_duplicates:
            raise DataError("future frame has duplicate timestamps; keep one row per timestamp")
        wanted = flat
    values = keyed.reindex(wanted).to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        first = wanted[int(np.flatnonzero(np.isnan(values).any(axis=1))[0])]
        raise DataError(f"future covariates are missing for {int(np.isnan(values).any(axis=1).sum())} of the "
                        f"{len(wanted)} needed steps (first: {first}); {need}")
    return values.reshape(S, H, len(covs))
