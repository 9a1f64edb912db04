"""Bundled real data, loaders for CSV/Parquet files, and a deterministic synthetic generator.

* ``load_dataset("ETTh1")``: the ETTh1 benchmark, shipped unmodified (see ``data/NOTICE.md``).
* ``load_dataset("ETTm1", path=...)``: the other ETT files, or any CSV/Parquet file, from disk.
* ``make_synthetic(...)``: trend + several seasonalities + noise, the same for the same seed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, MissingDependencyError

__all__ = ["load_dataset", "make_synthetic", "read_table", "list_datasets", "dataset_path"]

_BUNDLED = {"ETTh1": "ETTh1.csv"}
_KNOWN = {
    "ETTh1": "hourly, 17,420 rows x 7 columns (bundled)",
    "ETTh2": "hourly, 17,420 rows x 7 columns (download: github.com/zhouhaoyi/ETDataset)",
    "ETTm1": "15-minute, 69,680 rows x 7 columns (download: github.com/zhouhaoyi/ETDataset)",
    "ETTm2": "15-minute, 69,680 rows x 7 columns (download: github.com/zhouhaoyi/ETDataset)",
}
_TIME_COL = "date"


def list_datasets() -> dict[str, str]:
    """Known benchmark names and a line about each."""
    return dict(_KNOWN)


def dataset_path(name: str) -> Path:
    """Path of a bundled dataset file."""
    if name not in _BUNDLED:
        raise DataError(f"{name!r} is not bundled; bundled: {sorted(_BUNDLED)}")
    return Path(str(resources.files(__name__) / "data" / _BUNDLED[name]))


def read_table(path, **kwargs) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension) into a frame, with tsformer errors for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            try:
                return pd.read_parquet(path, **kwargs)
            except ImportError as exc:
                raise MissingDependencyError("reading Parquet needs pyarrow: pip install tsformer[parquet]") from exc
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"cannot read {path} as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc


def load_dataset(name: str | None = None, *, path=None) -> pd.DataFrame:
    """Load a benchmark data set as a wide frame with a ``DatetimeIndex`` named ``date``.

    Args:
        name: ``"ETTh1"`` (bundled), ``"ETTh2"``, ``"ETTm1"``, ``"ETTm2"`` (need ``path``), or ``None``
            with ``path`` pointing to any CSV/Parquet file.
        path: a file, or a folder holding ``<name>.csv``.
    """
    if path is None:
        if name is None:
            raise DataError("give a dataset name (e.g. 'ETTh1') or a path")
        if name not in _BUNDLED:
            hint = f" ({_KNOWN[name]})" if name in _KNOWN else f"; known names: {sorted(_KNOWN)}"
            raise DataError(f"{name!r} is not bundled with tsformer{hint}; pass path= to the downloaded CSV")
        file = dataset_path(name)
    else:
        file = Path(path)
        if file.is_dir():
            if name is None:
                raise DataError(f"{file} is a folder; pass the dataset name too, or the path of the file")
            file = file / f"{name}.csv"
    frame = read_table(file)
    time_col = next((c for c in frame.columns if str(c).lower() in ("date", "ds", "time", "timestamp", "datetime")),
                    None)
    if time_col is None:
        raise DataError(f"{file} has no time column named date/ds/time/timestamp; read it with pandas and set the index")
    try:
        frame[time_col] = pd.to_datetime(frame[time_col])
    except (ValueError, TypeError) as exc:
        raise DataError(f"{file}: column {time_col!r} does not hold timestamps") from exc
    return frame.set_index(time_col)


def make_synthetic(n_steps: int = 1000, n_series: int = 3, freq: str = "h", seed: int = 0, *,
                   start: str = "2020-01-01", periods=(24, 168), trend: float = 0.002, noise: float = 0.1,
                   level: float = 10.0) -> pd.DataFrame:
    """A deterministic multivariate series: linear trend + sine seasonalities + Gaussian noise.

    Series ``i`` has its own phase and amplitude per period, a trend slope scaled by ``(1 + i/2)``
    and level ``level * (1 + i)``.  Same arguments -> identical frame.

    Returns:
        ``(n_steps, n_series)`` frame indexed by ``date``, columns ``series_0 .. series_{n-1}``.
    """
    if n_steps < 1 or n_series < 1:
        raise DataError("n_steps and n_series must be positive")
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float64)[:, None]
    values = level * (1 + np.arange(n_series))[None, :] + trend * (1 + np.arange(n_series) / 2)[None, :] * t
    for p in periods:
        amp = rng.uniform(0.5, 2.0, size=n_series)
        phase = rng.uniform(0, 2 * np.pi, size=n_series)
        values = values + amp * np.sin(2 * np.pi * t / p + phase)
    values = values + noise * rng.standard_normal((n_steps, n_series))
    index = pd.date_range(start, periods=n_steps, freq=freq, name="date")
    return pd.DataFrame(values, index=index, columns=[f"series_{i}" for i in range(n_series)])
