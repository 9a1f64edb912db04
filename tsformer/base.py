"""``BaseForecaster``: the scikit-learn-style contract every tsformer estimator shares.

A concrete estimator (``tsformer/estimators/*.py``) only declares its parameters in ``__init__``,
builds its network in ``_build_network`` and declares its search space; fitting, prediction,
evaluation and saving live here, once.

Data flow of ``fit(df)``: validate the frame -> split by time (the last ``val_size`` rows are the
validation targets) -> fit the scaler on the training rows only -> windows as views over the scaled
series -> ``network_ = _build_network(...)`` trained by the one LightningModule with early stopping on
``val_loss`` -> fitted state (names ending in ``_``).  ``predict`` never writes to the estimator.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn

from ._version import __version__
from .data.frames import FILL_METHODS, SeriesData, future_index, to_frame, to_series_data
from .data.scaling import StandardScaler
from .data.timefeatures import time_features
from .data.windowing import WindowDataset, window_starts
from .errors import ConfigError, DataError, ModelFileError, NotFittedError
from .modelfile import read_model_file, write_model_file
from .training import LOSSES, LR_SCHEDULES, ForecastingModule, seed_everything, train_network

__all__ = ["BaseForecaster", "COMMON_PARAMS"]

#: Parameters every estimator takes, with their defaults (each estimator lists them in its signature).
COMMON_PARAMS = dict(
    lookback=96, horizon=24, target=None, time_col=None, freq=None, fill=None, val_size=0.2, batch_size=32,
    max_epochs=10, patience=3, learning_rate=1e-4, lr_schedule="halve", loss="mse", gradient_clip_val=None,
    accelerator="auto", devices=1, precision="32-true", random_state=None, verbose=False, trainer_kwargs=None,
)

COMMON_PARAMS_DOC = """
    Common parameters (every estimator):
        lookback: history length the network reads (rows).
        horizon: number of future steps forecast.
        target: column name(s) to forecast; default all. Every numeric column is an input.
        time_col: timestamp column when the frame has no DatetimeIndex (detected when named date/ds/time/...).
        freq: pandas frequency of the rows; inferred when None.
        fill: None (missing values are an error), "ffill", "interpolate" or "zero".
        val_size: validation tail for early stopping: rows (int) or fraction of the rows (float); 0 disables it.
        batch_size, max_epochs, patience: training loop; patience is for early stopping on val_loss.
        learning_rate, lr_schedule: AdamW learning rate; "halve" (x0.5 per epoch), "cosine" or "constant".
        loss: "mse", "mae" or "huber".
        gradient_clip_val: clip gradient norm (None: off).
        accelerator, devices, precision: passed to the Lightning Trainer ("auto" uses a GPU when present).
        random_state: seed for weights, shuffling and dropout; same seed -> same forecasts.
        verbose: print a line per epoch (and a progress bar on a terminal).
        trainer_kwargs: extra Lightning Trainer arguments (e.g. strategy="ddp", num_nodes=2).
"""


def assign_params(estimator, params: dict) -> None:
    """Store ``__init__``'s arguments unchanged (the whole of an estimator's ``__init__``)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class BaseForecaster(BaseEstimator):
    """Shared fit / predict / evaluate / save for every tsformer forecaster."""

    #: registry name, set by each estimator ("itransformer", ...)
    name: str = ""
    #: capability tags (sktime-style); code and tests may query them
    tags: dict = {"multivariate": True, "uses_time_features": False, "probabilistic": False}

    # ------------------------------------------------------------------ what each estimator provides
    def _build_network(self, *, n_vars: int, n_marks: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def search_space(cls, trial) -> dict:  # pragma: no cover - overridden
        """Sample this estimator's hyperparameters from an Optuna ``trial``; returns estimator params.

        Rules (``tsformer.tuning`` relies on them): return keyword arguments of ``__init__``; give a
        categorical the same choices in every trial (Optuna rejects choices that depend on another
        value: sample a ratio and derive the parameter, as ``d_ff = d_model * ratio``); leave
        ``lookback`` out unless the model needs its own range: tuning samples it as a multiple of the
        horizon.
        """
        raise NotImplementedError

    @classmethod
    def test_params(cls) -> dict:
        """Tiny parameters that make a fit take a second; used by the shared test battery."""
        return {}

    # ------------------------------------------------------------------ validation helpers
    def _check_params(self) -> None:
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")

        for name in ("lookback", "horizon", "batch_size", "max_epochs"):
            positive_int(name)
        if self.patience is not None and (not isinstance(self.patience, numbers.Integral) or self.patience < 0):
            raise ConfigError(f"patience must be a non-negative integer or None, got {self.patience!r}")
        v = self.val_size
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v < 0 or (isinstance(v, float) and v >= 1):
            raise ConfigError(f"val_size must be a row count (int >= 0) or a fraction in [0, 1), got {v!r}")
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r} is not supported; use one of {sorted(LOSSES)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule={self.lr_schedule!r} is not supported; use one of {LR_SCHEDULES}")
        if self.fill is not None and self.fill not in FILL_METHODS:
            raise ConfigError(f"fill={self.fill!r} is not supported; use one of {FILL_METHODS} or None")
        if self.trainer_kwargs is not None and not isinstance(self.trainer_kwargs, dict):
            raise ConfigError(f"trainer_kwargs must be a dict, got {type(self.trainer_kwargs).__name__}")

    def _n_val(self, n_rows: int) -> int:
        v = self.val_size
        return int(v) if isinstance(v, numbers.Integral) else int(math.floor(v * n_rows))

    def _read(self, df, *, target=None) -> SeriesData:
        return to_series_data(df, time_col=self.time_col, target=target, freq=self.freq, fill=self.fill)

    # ------------------------------------------------------------------ fit
    def fit(self, df, y=None):
        """Train on ``df`` (wide or long frame); returns ``self``.

        The last ``val_size`` rows are the validation targets (their history may reach back into the
        training rows); the scaler sees the training rows only.
        """
        self._check_params()
        data = self._read(df, target=self.target)
        L_, H = self.lookback, self.horizon
        n = len(data)
        n_val = self._n_val(n)
        if 0 < n_val < H:
            raise DataError(
                f"the validation tail has {n_val} rows but one validation window needs horizon={H} rows; "
                f"set val_size >= {H} (rows) or val_size=0 to train without early stopping"
            )
        n_train = n - n_val
        if n_train < L_ + H:
            raise DataError(
                f"need at least {L_ + H + n_val} rows (lookback {L_} + horizon {H} for one training window"
                + (f" + {n_val} validation rows" if n_val else "")
                + f"), got {n}; lower lookback or horizon, lower val_size, or pass more history"
            )
        scaler = StandardScaler().fit(data.values[:n_train])
        series = torch.from_numpy(scaler.transform(data.values)).float()
        marks = torch.from_numpy(time_features(data.index, data.freq))
        target_idx = data.target_idx
        loss_idx = None if len(target_idx) == len(data.columns) else target_idx
        train_set = WindowDataset(series, L_, H, window_starts(n, L_, H, stop=n_train), marks=marks,
                                  target_idx=loss_idx)
        val_set = (WindowDataset(series, L_, H, window_starts(n, L_, H, first_target=n_train), marks=marks,
                                 target_idx=loss_idx) if n_val else None)

        if self.random_state is not None:
            seed_everything(self.random_state)
        network = self._build_network(n_vars=len(data.columns), n_marks=marks.shape[1])
        module = ForecastingModule(network, target_idx=loss_idx, loss=self.loss, learning_rate=self.learning_rate,
                                   lr_schedule=self.lr_schedule)
        history = train_network(
            module, train_set, val_set, batch_size=self.batch_size, max_epochs=self.max_epochs,
            patience=self.patience, accelerator=self.accelerator, devices=self.devices, precision=self.precision,
            gradient_clip_val=self.gradient_clip_val, verbose=self.verbose, trainer_kwargs=self.trainer_kwargs,
        )
        network.eval()

        self.network_ = network
        self.scaler_ = scaler
        self.columns_ = data.columns
        self.target_ = data.target
        self.freq_ = data.freq
        self.layout_ = data.layout
        self.names_ = dict(data.names)
        self.n_features_in_ = len(data.columns)
        self.n_marks_ = int(marks.shape[1])
        self.history_values_ = data.values[-L_:].copy()
        self.history_end_ = data.index[-1]
        self.history_ = history
        val_losses = [row["val_loss"] for row in history if "val_loss" in row]
        self.best_val_loss_ = min(val_losses) if val_losses else None
        return self

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(df) first (or tsformer.load(path))"
            )

    def _read_history(self, df) -> SeriesData:
        """Validate a new history frame against what the estimator was fitted on."""
        data = self._read(df)
        fitted = list(self.columns_)
        missing = [c for c in fitted if c not in data.columns]
        extra = [c for c in data.columns if c not in fitted]
        if missing or extra:
            raise DataError(
                f"the history's columns differ from the ones the model was fitted on: missing {missing}, "
                f"unexpected {extra}; pass a frame with exactly {fitted}"
            )
        if data.freq != self.freq_:
            raise DataError(f"the history is spaced by {data.freq!r} but the model was fitted on {self.freq_!r} data")
        if data.layout != self.layout_:
            raise DataError(f"the model was fitted on a {self.layout_} frame; pass the history as a {self.layout_} frame too")
        order = [data.columns.index(c) for c in fitted]
        return SeriesData(values=data.values[:, order], index=data.index, columns=tuple(fitted), target=self.target_,
                          freq=data.freq, layout=data.layout, names=data.names)

    def _forecast_scaled(self, series: torch.Tensor, marks: torch.Tensor, starts) -> torch.Tensor:
        """Forecast the windows starting at ``starts`` of a scaled series: ``(N, H, C)`` in scaled units."""
        ds = WindowDataset(series, self.lookback, self.horizon, starts, marks=marks)
        out = []
        with torch.inference_mode():
            for lo in range(0, len(ds), 1024):
                b = ds[list(range(lo, min(lo + 1024, len(ds))))]
                out.append(self.network_(b["x"], b["x_mark"], b["y_mark"]))
        return torch.cat(out) if out else series.new_zeros(0, self.horizon, series.shape[1])

    def predict(self, df=None) -> pd.DataFrame:
        """Forecast the ``horizon`` steps after the training data, or after the history ``df``.

        Returns a frame indexed by the future timestamps with the target columns (a long frame
        ``unique_id, ds, y`` when the model was fitted on one).
        """
        self._check_fitted()
        L_, H = self.lookback, self.horizon
        if df is None:
            values, end = self.history_values_, self.history_end_
        else:
            data = self._read_history(df)
            if len(data) < L_:
                raise DataError(f"the history has {len(data)} rows; the model needs the last lookback={L_} rows")
            values, end = data.values[-L_:], data.index[-1]
        past = pd.date_range(end=end, periods=L_, freq=self.freq_)
        future = future_index(end, self.freq_, H)
        idx = pd.DatetimeIndex(past.append(future))
        series = torch.cat([torch.from_numpy(self.scaler_.transform(values)).float(),
                            torch.zeros(H, values.shape[1])])
        marks = torch.from_numpy(time_features(idx, self.freq_))
        y = self._forecast_scaled(series, marks, [0])[0]
        tidx = self._target_idx()
        y = self.scaler_.inverse_transform(y[:, tidx].double().numpy(), columns=tidx)
        return to_frame(y, future, self.target_, layout=self.layout_, names=self.names_)

    def _target_idx(self) -> np.ndarray:
        pos = {c: i for i, c in enumerate(self.columns_)}
        return np.array([pos[c] for c in self.target_], dtype=np.int64)

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, df, *, start=None, step: int = 1, scale: str = "original") -> dict:
        """MSE and MAE of every window of ``df`` whose forecast starts at or after ``start``.

        Args:
            df: a frame with the fitted columns; history before ``start`` feeds the first windows.
            start: first forecast row: an integer position, a timestamp, or ``None`` (the first row
                with a full lookback before it).
            step: stride between window origins (1: every window).
            scale: ``"original"`` (the data's units) or ``"standardized"`` (the scaler's z-scores, the
                unit the long-horizon benchmark literature reports).
        Returns:
            ``{"mse", "mae", "n_windows"}`` averaged over windows, horizon steps and target columns.
        """
        self._check_fitted()
        if scale not in ("original", "standardized"):
            raise ConfigError(f"scale must be 'original' or 'standardized', got {scale!r}")
        data = self._read_history(df)
        n = len(data)
        if start is None:
            first = self.lookback
        elif isinstance(start, numbers.Integral):
            first = int(start)
        else:
            first = int(data.index.searchsorted(pd.Timestamp(start)))
        starts = window_starts(n, self.lookback, self.horizon, first_target=max(first, self.lookback), step=step)
        if len(starts) == 0:
            raise DataError(
                f"no complete window to evaluate: {n} rows, forecasts from row {first}, horizon {self.horizon}; "
                "pass more rows or an earlier start"
            )
        series = torch.from_numpy(self.scaler_.transform(data.values)).float()
        marks = torch.from_numpy(time_features(data.index, data.freq))
        tidx = self._target_idx()
        pred = self._forecast_scaled(series, marks, starts)[..., tidx].double()
        rows = torch.as_tensor(starts)[:, None] + self.lookback + torch.arange(self.horizon)[None]
        truth = series.double()[rows][..., tidx]
        if scale == "original":
            pred = self.scaler_.inverse_transform(pred, columns=tidx)
            truth = self.scaler_.inverse_transform(truth, columns=tidx)
        err = pred - truth
        return {"mse": float((err ** 2).mean()), "mae": float(err.abs().mean()), "n_windows": int(len(starts))}

    # ------------------------------------------------------------------ save / load
    def _json_params(self) -> dict:
        params = {}
        for k, v in self.get_params(deep=False).items():
            try:
                json.dumps(v)
                params[k] = v
            except (TypeError, ValueError):
                params[k] = None  # e.g. callbacks in trainer_kwargs: not needed to predict
        return params

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the fitted model to one file (JSON config + tensors, no pickle); returns the path.

        An existing file is kept unless ``overwrite=True``.
        """
        self._check_fitted()
        config = {
            "format": "tsformer-model",
            "format_version": 1,
            "tsformer_version": __version__,
            "estimator": self.name,
            "params": self._json_params(),
            "fitted": {
                "columns": list(self.columns_),
                "target": list(self.target_),
                "freq": self.freq_,
                "layout": self.layout_,
                "names": self.names_,
                "n_marks": self.n_marks_,
                "history_end": self.history_end_.isoformat(),
                "scaler": self.scaler_.state_dict(),
                "history": self.history_,
                "best_val_loss": self.best_val_loss_,
            },
        }
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()}
        tensors["history_values"] = torch.from_numpy(np.asarray(self.history_values_, dtype=np.float64))
        return write_model_file(path, config, tensors, overwrite=overwrite)

    @classmethod
    def _from_model_file(cls, config: dict, tensors: dict, path) -> "BaseForecaster":
        try:
            fitted = config["fitted"]
            est = cls(**config["params"])
            est._check_params()
            columns = tuple(fitted["columns"])
            network = est._build_network(n_vars=len(columns), n_marks=int(fitted["n_marks"]))
            state = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}
            network.load_state_dict(state, strict=True)
            network.eval()
            est.network_ = network
            est.scaler_ = StandardScaler.from_state_dict(fitted["scaler"])
            est.columns_ = columns
            est.target_ = tuple(fitted["target"])
            est.freq_ = fitted["freq"]
            est.layout_ = fitted["layout"]
            est.names_ = dict(fitted["names"])
            est.n_features_in_ = len(columns)
            est.n_marks_ = int(fitted["n_marks"])
            est.history_values_ = tensors["history_values"].numpy()
            est.history_end_ = pd.Timestamp(fitted["history_end"])
            est.history_ = list(fitted.get("history", []))
            est.best_val_loss_ = fitted.get("best_val_loss")
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path} does not hold a valid {cls.__name__} ({exc}); save the model again") from exc
        if est.history_values_.shape != (est.lookback, len(columns)):
            raise ModelFileError(f"{path} holds an inconsistent history; save the model again")
        return est


def load(path) -> BaseForecaster:
    """Load a model written by ``est.save(path)``; no code from the file is run."""
    from .registry import get_estimator

    config, tensors = read_model_file(path)
    if config.get("format") != "tsformer-model" or "estimator" not in config:
        raise ModelFileError(f"{path} is not a tsformer model file; save one with est.save(path)")
    try:
        cls = get_estimator(config["estimator"])
    except ConfigError as exc:
        raise ModelFileError(f"{path} holds a model of unknown type {config['estimator']!r}: {exc}") from exc
    return cls._from_model_file(config, tensors, path)
