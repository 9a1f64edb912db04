"""``BaseForecaster``: the scikit-learn-style contract every tsformer estimator shares.

A concrete estimator (``tsformer/estimators/*.py``) only declares its parameters in ``__init__``,
builds its network in ``_build_network`` and declares its search space; fitting, prediction,
intervals, evaluation, backtesting and saving live here, once, for every model.

Data flow of ``fit(df)``: validate the frame -> split by time (the last ``val_size`` rows of every
series are the validation targets) -> fit the scaler on the training rows only -> windows as views
over the scaled series (never across two series) -> ``network_ = _build_network(...)`` trained by the
one LightningModule with early stopping on ``val_loss`` -> fitted state (names ending in ``_``).
``predict`` never writes to the estimator.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from torch import nn

from ._version import __version__
from .data.frames import (FILL_METHODS, SERIES_MODES, Schema, SeriesData, forecast_frame, read_future_covariates,
                          time_grid, to_series_data)
from .data.scaling import StandardScaler
from .data.timefeatures import time_features
from .data.windowing import WindowDataset, segment_window_starts
from .errors import ConfigError, DataError, ModelFileError, NotFittedError
from .metrics import POINT_METRICS, coverage, mase
from .modelfile import read_model_file, write_model_file
from . import training  # Lightning itself is imported on the first fit, not here
from .training import LOSSES, LR_SCHEDULES, FutureCovariateHead, is_global_zero, sort_quantiles

__all__ = ["BaseForecaster", "BacktestResult", "COMMON_PARAMS", "label_length", "load"]

#: Parameters every estimator takes, with their defaults (each estimator lists them in its signature).
COMMON_PARAMS = dict(
    lookback=96, horizon=24, target=None, future_covariates=None, time_col=None, freq=None, fill=None,
    series_mode="auto", val_size=0.2, window_step=1, batch_size=32, max_epochs=10, patience=3, learning_rate=1e-4,
    lr_schedule="halve", loss="mse", quantiles=None, gradient_clip_val=None, accelerator="auto", devices=1,
    precision="32-true", compile=False, activation_checkpointing=False, random_state=None, verbose=False,
    trainer_kwargs=None,
)
DEFAULT_QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)
_MAX_RESIDUAL_WINDOWS = 2000
#: windows per forward pass at inference: bounds the activations (ETSformer at its paper's size peaks at
#: 4.4 GB with 1024 windows at once, 1.6 GB with 128) at no measurable cost in throughput
_PREDICT_CHUNK = 128

COMMON_PARAMS_DOC = """
    Common parameters (every estimator):
        lookback: history length the network reads (rows).
        horizon: number of future steps forecast.
        target: column name(s) to forecast; default all. Every numeric column is an input.
        future_covariates: columns known in advance (holidays, planned prices): inputs over the lookback and
            the horizon, never forecast; their horizon values are passed as predict(future=frame).
        time_col: timestamp column when the frame has no DatetimeIndex (detected when named date/ds/time/...).
        freq: pandas frequency of the rows; inferred when None.
        fill: None (missing values are an error), "ffill", "interpolate" or "zero".
        series_mode: long frames: "variates" (aligned series as one table), "global" (one shared univariate
            model over series of any length), "auto" (variates when aligned without covariates).
        val_size: validation tail for early stopping: rows (int) or fraction of the rows (float); 0 disables it.
            With a point loss the validation windows' residuals also calibrate conformal intervals.
        window_step: rows between the starts of consecutive training (and validation) windows; 1 uses every
            window, a larger stride makes an epoch on a long series proportionally shorter.
        batch_size, max_epochs, patience: training loop; patience is for early stopping on val_loss.
        learning_rate, lr_schedule: AdamW learning rate; "halve" (the reference code's schedule: two
            epochs at learning_rate, then x0.5 every epoch), "cosine", "onecycle" (warm-up over the first 20% of
            the steps to learning_rate, then cosine annealing, stepped every batch: xLSTMTime's reference),
            "warmup" (salesforce/ETSformer's: x1/4, 2/4, 3/4, 1, then x0.5 every epoch; ETSformer first trains
            its smoothing and damping weights alone for an epoch, at 100x learning_rate) or "constant".
        loss: "mse", "mae", "huber" or "quantile" (a quantile head; intervals from its quantiles).
        quantiles: levels of the quantile loss (default 0.025, 0.1, 0.5, 0.9, 0.975; 0.5 is always added).
        gradient_clip_val: clip gradient norm (None: off).
        accelerator, devices, precision: passed to the Lightning Trainer ("auto" uses a GPU when present).
        compile: train the network through torch.compile (True, or a dict of torch.compile's arguments such as
            {"mode": "max-autotune"}) after a compilation of a minute or two at the start of the fit. Whether
            the steps get faster depends on the model and machine (benchmarks/compile_step.py); predictions
            and the saved model are the plain network. On a CPU it needs a C++ compiler.
        activation_checkpointing: keep only the input of each residual branch (attention, feed-forward, ...)
            during a training step and recompute the branch in the backward pass: less memory a step for one
            more forward pass of the branches, the same losses and gradients. It pays most for long horizons
            and many variates (benchmarks/RESULTS.md, benchmarks/checkpointing.py).
        random_state: seed for weights, shuffling and dropout; same seed -> same forecasts.
        verbose: print a line per epoch (and a progress bar on a terminal).
        trainer_kwargs: extra Lightning Trainer arguments (e.g. strategy="ddp", num_nodes=2).
"""


def assign_params(estimator, params: dict) -> None:
    """Store ``__init__``'s arguments unchanged (the whole of an estimator's ``__init__``)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def check_flag(estimator, name: str) -> None:
    """A ConfigError unless the parameter ``name`` of ``estimator`` is ``True`` or ``False``."""
    value = getattr(estimator, name)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")


def label_length(label_len, lookback: int) -> int:
    """Rows of the decoder's start token: ``label_len`` rows (an int) or that fraction of ``lookback`` (a float).

    Used by the encoder-decoder models (Informer, Autoformer); a fraction keeps a tuned ``lookback`` valid.
    """
    if isinstance(label_len, numbers.Integral) and not isinstance(label_len, bool):
        if not 0 <= label_len <= lookback:
            raise ConfigError(f"label_len={label_len} must be between 0 and lookback={lookback}; lower label_len, "
                              f"or give a fraction of the lookback such as label_len=0.5")
        return int(label_len)
    if isinstance(label_len, numbers.Real) and not isinstance(label_len, bool) and 0 <= label_len <= 1:
        return int(round(float(label_len) * lookback))
    raise ConfigError(f"label_len must be a row count (int) or a fraction of the lookback in [0, 1], got {label_len!r}")


@dataclass
class BacktestResult:
    """What :meth:`BaseForecaster.backtest` returns; unpacks as ``forecasts, metrics = est.backtest(df)``.

    Attributes:
        forecasts: one row per series (or column), window and step: ``<id>, window, cutoff, train_end,
            <time>, y, y_hat`` and ``y_hat-lo-<level>`` / ``y_hat-hi-<level>`` when levels were asked for.
            ``cutoff`` is the window's last history timestamp, ``train_end`` the last timestamp the model
            that forecast it was trained on.
        metrics: one row per column (or series) and an ``overall`` row: MSE, MAE, RMSE, MAPE, sMAPE,
            MASE (against the in-sample one-step naive forecast; overall: the mean over columns/series),
            and ``coverage-<level>`` (percent of actuals inside the interval).
        id_col, time_col: the names of the id and time columns of ``forecasts``.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    id_col: str = "column"
    time_col: str = "date"

    def __iter__(self):
        yield self.forecasts
        yield self.metrics


def _level_name(level) -> str:
    return f"{float(level):g}"


def _read_timestamps(stamps: list[str], tz: str | None) -> pd.DatetimeIndex:
    """A model file's ISO timestamps, in their time zone by name when the file has one (series whose last
    rows fall on either side of a daylight-saving change have different UTC offsets)."""
    if tz:
        try:
            return pd.to_datetime(stamps, utc=True).tz_convert(tz)
        except (ValueError, TypeError, KeyError):  # a zone this machine does not know: the offsets as written
            pass
    return pd.DatetimeIndex([pd.Timestamp(t) for t in stamps])


class BaseForecaster(BaseEstimator):
    """Shared fit / predict / evaluate / backtest / save for every tsformer forecaster."""

    #: registry name, set by each estimator ("itransformer", ...)
    name: str = ""
    #: capability tags (sktime-style); code and tests may query them
    tags: dict = {"multivariate": True, "uses_time_features": False, "probabilistic": True,
                  "future_covariates": True, "global_model": True}

    # ------------------------------------------------------------------ what each estimator provides
    def _build_network(self, *, n_vars: int, n_marks: int, n_outputs: int = 1) -> nn.Module:  # pragma: no cover
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

    #: values for parameters added after a model file was written: the setting its network was trained with
    params_before_they_existed: dict = {}

    @classmethod
    def test_params(cls) -> dict:
        """Tiny parameters that make a fit take a second; used by the shared test battery."""
        return {}

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")

        for name in ("lookback", "horizon", "batch_size", "max_epochs", "window_step"):
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
        if self.series_mode not in SERIES_MODES:
            raise ConfigError(f"series_mode={self.series_mode!r} is not supported; use one of {SERIES_MODES}")
        if self.trainer_kwargs is not None and not isinstance(self.trainer_kwargs, dict):
            raise ConfigError(f"trainer_kwargs must be a dict, got {type(self.trainer_kwargs).__name__}")
        check_flag(self, "activation_checkpointing")
        # None: what a model file stores for a compile dict it cannot hold (a callable backend); fits eagerly
        if self.compile is not None and not isinstance(self.compile, (bool, dict)):
            raise ConfigError(f"compile must be True, False or a dict of torch.compile arguments, got {self.compile!r}")
        if self.quantiles is not None:
            if self.loss != "quantile":
                raise ConfigError("quantiles= is only used with loss='quantile'")
            qs = list(self.quantiles) if not isinstance(self.quantiles, numbers.Real) else [self.quantiles]
            if not qs or any(not isinstance(q, numbers.Real) or not 0 < q < 1 for q in qs):
                raise ConfigError(f"quantiles must be numbers strictly between 0 and 1, got {self.quantiles!r}")

    def _quantile_levels(self) -> tuple[float, ...] | None:
        """The sorted quantile levels the network is trained for (``None`` for a point loss)."""
        if self.loss != "quantile":
            return None
        qs = self.quantiles if self.quantiles is not None else DEFAULT_QUANTILES
        qs = [qs] if isinstance(qs, numbers.Real) else list(qs)
        return tuple(sorted({round(float(q), 6) for q in qs} | {0.5}))

    def _check_levels(self, level) -> list[float]:
        """Validate interval levels (percent) against how the model makes intervals."""
        if level is None:
            return []
        levels = [level] if isinstance(level, numbers.Real) else list(level)
        for lv in levels:
            if not isinstance(lv, numbers.Real) or not 0 < lv < 100:
                raise ConfigError(f"interval levels are percentages strictly between 0 and 100, got {lv!r}")
        qs = self._quantile_levels()
        if qs is not None:
            for lv in levels:
                lo, hi = round(0.5 - lv / 200, 6), round(0.5 + lv / 200, 6)
                if lo not in qs or hi not in qs:
                    raise ConfigError(
                        f"a {_level_name(lv)}% interval needs the quantiles {lo:g} and {hi:g}, but the model is "
                        f"trained for {list(qs)}; fit with quantiles= including them"
                    )
        elif hasattr(self, "network_") and self.residuals_ is None:
            raise ConfigError("conformal intervals need the residuals of validation windows, but this model was "
                              "fitted with val_size=0; refit with val_size > 0 or use loss='quantile'")
        return [float(lv) for lv in levels]

    def _n_val(self, lengths: np.ndarray) -> np.ndarray:
        v = self.val_size
        if isinstance(v, numbers.Integral):
            return np.full(len(lengths), int(v), dtype=np.int64)
        return np.floor(v * lengths).astype(np.int64)

    # ------------------------------------------------------------------ reading
    def _read(self, df) -> SeriesData:
        return to_series_data(df, time_col=self.time_col, target=self.target, freq=self.freq, fill=self.fill,
                              future_covariates=self.future_covariates, series_mode=self.series_mode)

    def _read_history(self, df) -> SeriesData:
        """Validate a new history frame against the schema the estimator was fitted on."""
        schema = self.schema_
        if schema.layout == "long":  # every series of a long history is used
            data = to_series_data(df, time_col=self.time_col, freq=schema.freq, fill=self.fill,
                                  future_covariates=schema.covariates or None, series_mode=schema.mode)
        else:
            data = to_series_data(df, time_col=self.time_col, freq=self.freq, fill=self.fill,
                                  future_covariates=schema.covariates or None)
        if data.layout != schema.layout or data.schema.mode != schema.mode:
            raise DataError(f"the model was fitted on a {schema.layout} frame ({schema.mode}); pass the history "
                            "in the same layout")
        if data.freq != schema.freq:
            raise DataError(f"the history is spaced by {data.freq!r} but the model was fitted on {schema.freq!r} data")
        fitted = list(schema.columns)
        missing = [c for c in fitted if c not in data.columns]
        extra = [c for c in data.columns if c not in fitted]
        if schema.mode == "variates" and (missing or extra):
            raise DataError(
                f"the history's columns differ from the ones the model was fitted on: missing {missing}, "
                f"unexpected {extra}; pass a frame with exactly {fitted + list(schema.covariates)}"
            )
        order = [data.columns.index(c) for c in fitted]
        return SeriesData(schema=schema, values=data.values[:, order], index=data.index,
                          covariates=data.covariates, offsets=data.offsets, ids=data.ids)

    # ------------------------------------------------------------------ tensors
    def _marks(self, times: pd.DatetimeIndex, covariates: np.ndarray) -> torch.Tensor:
        """Calendar features of ``times`` plus the scaled covariates ``(..., K)`` -> ``(..., F)``: one
        timestamp per covariate row, in the order of the rows flattened."""
        cal = time_features(pd.DatetimeIndex(times), self.schema_.freq).reshape(*covariates.shape[:-1], -1)
        if covariates.shape[-1]:
            cov = self.covariate_scaler_.transform(covariates).astype(np.float32)
            cal = np.concatenate([cal, cov], axis=-1)
        return torch.from_numpy(np.ascontiguousarray(cal, dtype=np.float32))

    def _groups(self, ids) -> np.ndarray | None:
        """Scaler rows of the given series (global models); ``None`` for one table of variates."""
        if self.schema_.mode != "global":
            return None
        pos = {s: i for i, s in enumerate(self.series_ids_)}
        return np.array([pos.get(s, -1) for s in ids], dtype=np.int64)

    def _scaler_for(self, ids, data: SeriesData | None = None) -> tuple[StandardScaler, np.ndarray | None]:
        """The value scaler and group codes for ``ids``; a series unseen in fit gets statistics of its history."""
        groups = self._groups(ids)
        if groups is None or (groups >= 0).all():
            return self.scaler_, groups
        new = np.flatnonzero(groups < 0)
        stats = StandardScaler().fit(data.values, groups=data.segment_codes)
        scaler = StandardScaler(eps=self.scaler_.eps)
        scaler.mean_ = np.concatenate([self.scaler_.mean_, stats.mean_[new]])
        scaler.scale_ = np.concatenate([self.scaler_.scale_, stats.scale_[new]])
        groups = groups.copy()
        groups[new] = len(self.scaler_.mean_) + np.arange(len(new))
        return scaler, groups

    # ------------------------------------------------------------------ fit
    def fit(self, df, y=None, *, trainer_kwargs: dict | None = None):
        """Train on ``df`` (wide or long frame); returns ``self``.

        The last ``val_size`` rows of every series are the validation targets (their history may reach
        back into the training rows); the scaler sees the training rows only.

        ``trainer_kwargs``: Lightning Trainer arguments for this fit only (e.g. ``{"strategy": "ddp",
        "devices": 4, "num_nodes": 2}``, or ``callbacks``), on top of the estimator's own ``trainer_kwargs``
        (callbacks from both are used); they are not stored with the estimator or its model file.
        """
        self._check_params()
        if trainer_kwargs is not None and not isinstance(trainer_kwargs, dict):
            raise ConfigError(f"fit(trainer_kwargs=...) must be a dict, got {type(trainer_kwargs).__name__}")
        return self._fit_data(self._read(df), trainer_kwargs=trainer_kwargs)

    def _trainer_kwargs(self, extra: dict | None) -> dict | None:
        """The estimator's ``trainer_kwargs`` with a fit's ``extra`` over them, their callbacks joined."""
        if not extra:
            return self.trainer_kwargs
        merged = {**(self.trainer_kwargs or {}), **extra}
        if "callbacks" in extra and self.trainer_kwargs and "callbacks" in self.trainer_kwargs:
            merged["callbacks"] = (training.callback_list(self.trainer_kwargs["callbacks"])
                                   + training.callback_list(extra["callbacks"]))
        return merged

    def _fit_data(self, data: SeriesData, trainer_kwargs: dict | None = None):
        L_, H = self.lookback, self.horizon
        lengths = data.lengths
        is_global = data.schema.mode == "global"
        if is_global and (lengths < L_).any():
            short = [data.ids[i] for i in np.flatnonzero(lengths < L_)]
            raise DataError(f"{len(short)} series have fewer than lookback={L_} rows and cannot be forecast: "
                            f"{short[:10]}; drop them or lower lookback")
        n_val = self._n_val(lengths)
        if is_global:
            n_val = np.where(n_val >= H, n_val, 0)  # a series too short for a validation window trains only
        elif 0 < n_val[0] < H:
            raise DataError(
                f"the validation tail has {n_val[0]} rows but one validation window needs horizon={H} rows; "
                f"set val_size >= {H} (rows) or val_size=0 to train without early stopping"
            )
        n_train = lengths - n_val
        trainable = n_train >= L_ + H
        if not trainable.any():
            n = int(lengths.max())
            raise DataError(
                f"need at least {L_ + H + int(n_val.max())} rows (lookback {L_} + horizon {H} for one training window"
                + (f" + {int(n_val.max())} validation rows" if n_val.max() else "")
                + f"), got {n}; lower lookback or horizon, lower val_size, or pass more history"
            )
        if not trainable.all():
            short = [data.ids[i] for i in np.flatnonzero(~trainable)]
            warnings.warn(f"{len(short)} series are shorter than lookback + horizon (+ validation) and give no "
                          f"training window; they are still forecast: {short[:10]}", UserWarning, stacklevel=3)
        codes = data.segment_codes
        train_rows = (np.arange(len(data)) - np.repeat(data.offsets[:-1], lengths)) < np.repeat(n_train, lengths)
        self.schema_ = data.schema
        self.series_ids_ = data.ids
        self.scaler_ = StandardScaler().fit(data.values[train_rows], groups=codes[train_rows] if is_global else None)
        self.covariate_scaler_ = (StandardScaler().fit(data.covariates[train_rows])
                                  if data.covariates.shape[1] else None)
        series, marks = self._series_tensors(data)
        target_idx = data.target_idx
        loss_idx = None if len(target_idx) == len(data.columns) else target_idx
        train_starts = segment_window_starts(data.offsets, L_, H, stop=n_train, step=self.window_step)
        val_starts = segment_window_starts(data.offsets, L_, H, first_target=n_train, step=self.window_step)
        train_set = WindowDataset(series, L_, H, train_starts, marks=marks, target_idx=loss_idx)
        val_set = WindowDataset(series, L_, H, val_starts, marks=marks, target_idx=loss_idx) if len(val_starts) else None

        if self.random_state is not None:
            training.seed_everything(self.random_state)
        quantiles = self._quantile_levels()
        network = self._network(n_vars=len(data.columns), n_marks=marks.shape[1])
        module = training.ForecastingModule(network, target_idx=loss_idx, loss=self.loss, quantiles=quantiles,
                                            learning_rate=self.learning_rate, lr_schedule=self.lr_schedule,
                                            compile=self.compile,
                                            activation_checkpointing=self.activation_checkpointing)
        history = training.train_network(
            module, train_set, val_set, batch_size=self.batch_size, max_epochs=self.max_epochs,
            patience=self.patience, accelerator=self.accelerator, devices=self.devices, precision=self.precision,
            gradient_clip_val=self.gradient_clip_val, verbose=self.verbose,
            trainer_kwargs=self._trainer_kwargs(trainer_kwargs),
        )
        network.eval()
        self.network_ = network
        self.n_marks_ = int(marks.shape[1])
        self.n_features_in_ = len(data.columns) + data.covariates.shape[1]
        self.history_ = history
        val_losses = [row["val_loss"] for row in history if "val_loss" in row]
        self.best_val_loss_ = min(val_losses) if val_losses else None
        self.residuals_ = None
        if quantiles is None and len(val_starts):
            keep = val_starts[np.linspace(0, len(val_starts) - 1, min(len(val_starts), _MAX_RESIDUAL_WINDOWS))
                              .round().astype(int)]
            pred = self._point(self._run_windows(series, marks, keep))[..., target_idx]
            rows = keep[:, None] + L_ + np.arange(H)[None, :]
            truth = series[torch.as_tensor(rows)][..., target_idx]
            self.residuals_ = (truth - pred).abs().numpy().astype(np.float32)  # (N, H, C_t) scaled units
        rows = data.last_rows(L_)
        self.last_values_ = data.values[rows]
        self.last_covariates_ = data.covariates[rows]
        self.last_timestamps_ = data.index[data.offsets[1:] - 1]
        return self

    def _network(self, *, n_vars: int, n_marks: int) -> nn.Module:
        """The estimator's network, with a quantile output per level, and the future-covariate head when
        the schema (already set) has future covariates."""
        quantiles = self._quantile_levels()
        n_outputs = len(quantiles) if quantiles else 1
        network = self._build_network(n_vars=n_vars, n_marks=n_marks, n_outputs=n_outputs)
        n_cov = len(self.schema_.covariates)
        if n_cov:
            network = FutureCovariateHead(network, n_covariates=n_cov, n_vars=n_vars, n_outputs=n_outputs)
        return network

    def _series_tensors(self, data: SeriesData, scaler=None, groups=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The scaled values ``(T, C)`` and marks ``(T, F)`` of ``data``, with the fitted scalers."""
        scaler = scaler or self.scaler_
        if scaler.grouped and groups is None:
            groups = data.segment_codes
        elif groups is not None:
            groups = np.asarray(groups)[data.segment_codes]
        series = torch.from_numpy(scaler.transform(data.values, groups=groups)).float()
        return series, self._marks(data.index, data.covariates)

    # ------------------------------------------------------------------ network
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(df) first (or tsformer.load(path))"
            )

    def _run(self, x: torch.Tensor, x_mark: torch.Tensor, y_mark: torch.Tensor) -> torch.Tensor:
        """Network forward in inference mode, in chunks: ``(N, L, C) -> (N, H, C)`` or ``(N, H, C, Q)`` sorted."""
        out = []
        with torch.inference_mode():
            for lo in range(0, len(x), _PREDICT_CHUNK):
                hi = lo + _PREDICT_CHUNK
                out.append(self.network_(x[lo:hi], x_mark[lo:hi], y_mark[lo:hi]))
        y = torch.cat(out) if out else x.new_zeros(0, self.horizon, x.shape[-1])
        return sort_quantiles(y) if self._quantile_levels() else y

    def _run_windows(self, series: torch.Tensor, marks: torch.Tensor, starts) -> torch.Tensor:
        """Forecast the windows of a scaled series that start at ``starts`` (scaled units)."""
        b = WindowDataset(series, self.lookback, self.horizon, starts, marks=marks)[list(range(len(starts)))]
        return self._run(b["x"], b["x_mark"], b["y_mark"])

    def _point(self, y: torch.Tensor) -> torch.Tensor:
        qs = self._quantile_levels()
        return y if qs is None else y[..., qs.index(0.5)]

    def _outputs(self, y: torch.Tensor, levels, scaler: StandardScaler, groups) -> dict[str, np.ndarray]:
        """Scaled network output ``(N, H, C[, Q])`` -> ``{suffix: (N, H, C_t)}`` in the data's units."""
        tidx = self.schema_.target_idx
        y = y.double().numpy()[:, :, tidx]
        qs = self._quantile_levels()
        scaled = {"": y if qs is None else y[..., qs.index(0.5)]}
        for lv in levels:
            if qs is None:
                n = len(self.residuals_)
                rank = min(1.0, math.ceil((n + 1) * lv / 100) / n)
                half = np.quantile(self.residuals_, rank, axis=0, method="higher")  # (H, C_t)
                lo, hi = scaled[""] - half, scaled[""] + half
            else:
                lo = y[..., qs.index(round(0.5 - lv / 200, 6))]
                hi = y[..., qs.index(round(0.5 + lv / 200, 6))]
            scaled[f"-lo-{_level_name(lv)}"], scaled[f"-hi-{_level_name(lv)}"] = lo, hi
        return {k: scaler.inverse_transform(v, columns=tidx, groups=groups) for k, v in scaled.items()}

    # ------------------------------------------------------------------ predict
    def predict(self, df=None, *, future=None, level=None) -> pd.DataFrame:
        """Forecast the ``horizon`` steps after the training data, or after the history ``df``.

        Args:
            df: a new history in the fitted layout (``None``: continue after the training data). A global
                model also forecasts series it has not seen, scaled by their own history.
            future: the future covariates' values for the horizon (a frame with their columns, indexed by
                the future timestamps; long models: id, time and covariate columns).
            level: interval levels in percent, e.g. ``[80, 95]``: adds ``<col>-lo-80``, ``<col>-hi-80``, ...

        Returns:
            A frame indexed by the future timestamps with the target columns (a long frame when the model
            was fitted on one).
        """
        self._check_fitted()
        levels = self._check_levels(level)
        x, marks, scaler, groups, future_index, ids = self._prediction_input(df, future)
        y = self._run(x, marks[:, :self.lookback], marks[:, self.lookback:])
        return forecast_frame(self.schema_, self._outputs(y, levels, scaler, groups), future_index, ids)

    def _prediction_input(self, df=None, future=None):
        """What one forecast per series needs, after the training data or the history ``df``: the scaled
        lookbacks ``x (S, L, C)``, the marks over lookback + horizon ``(S, L + H, F)``, the scaler and its
        group codes, the future timestamps (``S * H``, series after series) and the series ids."""
        L_, H = self.lookback, self.horizon
        data = None
        if df is None:
            values, covs, ends, ids = self.last_values_, self.last_covariates_, self.last_timestamps_, self.series_ids_
        else:
            data = self._read_history(df)
            short = np.flatnonzero(data.lengths < L_)
            if len(short):
                who = f"series {[data.ids[i] for i in short[:10]]} have" if data.ids else "the history has"
                raise DataError(f"{who} {int(data.lengths.min())} rows; the model needs the last lookback={L_} rows")
            rows = data.last_rows(L_)
            values, covs, ends, ids = data.values[rows], data.covariates[rows], data.index[data.offsets[1:] - 1], data.ids
        times = time_grid(pd.DatetimeIndex(ends), self.schema_.freq, L_, H)  # (S * (L + H)), series after series
        future_times = times[(np.arange(len(ends))[:, None] * (L_ + H) + np.arange(L_, L_ + H)).reshape(-1)]
        future_covs = read_future_covariates(future, self.schema_, future_times, ids, self.time_col)
        marks = self._marks(times, np.concatenate([covs, future_covs], axis=1))
        scaler, groups = self._scaler_for(ids, data)
        x = torch.from_numpy(scaler.transform(values, groups=groups)).float()
        return x, marks, scaler, groups, future_times, ids

    # ------------------------------------------------------------------ evaluate / backtest
    def evaluate(self, df, *, start=None, step: int = 1, scale: str = "original") -> dict:
        """MSE and MAE of every window of ``df`` whose forecast starts at or after ``start``.

        Args:
            df: a frame in the fitted layout; history before ``start`` feeds the first windows.
            start: first forecast row (of every series): an integer position, a timestamp, or ``None``
                (the first row with a full lookback before it).
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
        if start is None:
            first = np.full(data.n_segments, self.lookback)
        elif isinstance(start, numbers.Integral):
            first = np.full(data.n_segments, int(start))
        else:
            ts = pd.Timestamp(start).asm8
            first = np.array([np.searchsorted(data.index[a:b].to_numpy(), ts)
                              for a, b in zip(data.offsets[:-1], data.offsets[1:])])
        starts = segment_window_starts(data.offsets, self.lookback, self.horizon,
                                       first_target=np.maximum(first, self.lookback), step=step)
        if len(starts) == 0:
            raise DataError(f"no complete window to evaluate: {len(data)} rows, forecasts from row {int(first[0])}, "
                            f"horizon {self.horizon}; pass more rows or an earlier start")
        scaler, groups = self._scaler_for(data.ids, data)
        series, marks = self._series_tensors(data, scaler, groups)
        tidx = self.schema_.target_idx
        pred = self._point(self._run_windows(series, marks, starts))[..., tidx].double()
        rows = torch.as_tensor(starts)[:, None] + self.lookback + torch.arange(self.horizon)[None]
        truth = series.double()[rows][..., tidx]
        if scale == "original":
            g = None if groups is None else groups[data.segment_codes[starts]]
            pred = scaler.inverse_transform(pred, columns=tidx, groups=g)
            truth = scaler.inverse_transform(truth, columns=tidx, groups=g)
        err = pred - truth
        return {"mse": float((err ** 2).mean()), "mae": float(err.abs().mean()), "n_windows": int(len(starts))}

    def backtest(self, df, n_windows: int = 5, step: int | None = None, refit: bool = False,
                 level=None) -> BacktestResult:
        """Rolling-origin evaluation on the last ``n_windows`` horizons of every series of ``df``.

        Window ``k`` forecasts ``horizon`` rows from its cutoff; cutoffs are ``step`` rows apart (default:
        ``horizon``) and the last window ends at the last row.  With ``refit=False`` one copy of the
        estimator is fitted on the rows before the first window and forecasts every window from its own
        history; with ``refit=True`` a copy is fitted before each window.  No window trains on its own
        future; the estimator itself is left as it is.

        Returns:
            :class:`BacktestResult` with the long ``forecasts`` frame and the ``metrics`` table.
        """
        self._check_params()
        if not isinstance(n_windows, numbers.Integral) or n_windows < 1:
            raise ConfigError(f"n_windows must be a positive integer, got {n_windows!r}")
        step = self.horizon if step is None else step
        if not isinstance(step, numbers.Integral) or step < 1:
            raise ConfigError(f"step must be a positive integer, got {step!r}")
        data = self._read(df)
        L_, H = self.lookback, self.horizon
        k = np.arange(n_windows)
        cutoffs = data.lengths[:, None] - H - step * (n_windows - 1 - k)[None, :]  # (S, K): first forecast row
        if (cutoffs[:, 0] < L_ + H).any():
            s = int(np.argmin(cutoffs[:, 0]))
            who = f"series {data.ids[s]!r}" if data.ids else "the data"
            raise DataError(f"{who} has {int(data.lengths[s])} rows: too few for {n_windows} windows of horizon {H} "
                            f"{step} rows apart after a training part of at least lookback + horizon = {L_ + H} "
                            "rows; lower n_windows or step, or pass more history")
        clone(self)._check_levels(level)  # a quantile model lacking the levels fails before any training
        models = [clone(self)._fit_data(data.head(cutoffs[:, j])) for j in range(n_windows if refit else 1)]
        levels = models[0]._check_levels(level)
        outputs, truth = [], []
        tidx = data.target_idx
        for j in range(n_windows):
            est = models[j if refit else 0]
            scaler, groups = est._scaler_for(data.ids, data)
            series, marks = est._series_tensors(data, scaler, groups)
            starts = data.offsets[:-1] + cutoffs[:, j] - L_
            y = est._run_windows(series, marks, starts)
            outputs.append(est._outputs(y, levels, scaler, groups))
            rows = starts[:, None] + L_ + np.arange(H)[None, :]
            truth.append(data.values[rows][..., tidx])
        train_cut = cutoffs if refit else np.repeat(cutoffs[:, :1], n_windows, axis=1)
        return self._backtest_result(data, cutoffs, train_cut, outputs, truth, levels)

    def _backtest_result(self, data: SeriesData, cutoffs, train_cut, outputs, truth, levels) -> BacktestResult:
        schema = data.schema
        S, K = cutoffs.shape
        H = self.horizon
        names = list(data.ids) if schema.mode == "global" else list(schema.target)
        C = len(schema.target)
        # arrays (K, S, H, C) -> rows ordered by series/column, window, step
        y = np.stack(truth)
        out = {k: np.stack([o[k] for o in outputs]) for k in outputs[0]}
        # row positions (K, S, H) and (K, S): taken from the index once arranged, which keeps its time zone
        first = data.offsets[:-1][None, :]
        times = (first + cutoffs.T)[:, :, None] + np.arange(H)[None, None, :]
        cut_ts = first + cutoffs.T - 1
        train_ts = first + train_cut.T - 1
        id_col = schema.names.get("id", "unique_id") if schema.layout == "long" else "column"
        time_col = schema.names.get("time", "ds") if schema.layout == "long" else (data.index.name or "date")

        def arrange(a):  # (K, S, H, C) -> (S, C, K, H) flattened, series/column-major
            return np.moveaxis(a, (0, 1, 2, 3), (2, 0, 3, 1)).reshape(-1)

        per = np.array(names, dtype=object)
        frame = pd.DataFrame({
            id_col: np.repeat(per, K * H) if schema.mode == "global" else np.tile(np.repeat(per, K * H), S),
            "window": np.tile(np.repeat(np.arange(K), H), S * C),
            "cutoff": data.index[arrange(np.broadcast_to(cut_ts[:, :, None, None], (K, S, H, C)))],
            "train_end": data.index[arrange(np.broadcast_to(train_ts[:, :, None, None], (K, S, H, C)))],
            time_col: data.index[arrange(np.broadcast_to(times[..., None], (K, S, H, C)))],
            "y": arrange(y),
            **{f"y_hat{suffix}": arrange(v) for suffix, v in out.items()},
        })
        # metrics per column (variates) or per series (global), then overall
        train_end = data.offsets[:-1] + cutoffs[:, 0]
        rows, scales = [], []
        for i, name in enumerate(names):
            s, c = (i, 0) if schema.mode == "global" else (0, i)
            yt, yp = y[:, s, :, c], out[""][:, s, :, c]
            insample = data.values[data.offsets[s]:train_end[s], schema.target_idx[c]]
            row = {m: f(yt, yp) for m, f in POINT_METRICS.items()}
            row["mase"] = mase(yt, yp, insample)
            for lv in levels:
                row[f"coverage-{_level_name(lv)}"] = coverage(yt, out[f"-lo-{_level_name(lv)}"][:, s, :, c],
                                                              out[f"-hi-{_level_name(lv)}"][:, s, :, c])
            rows.append(row)
        overall = {m: f(y, out[""]) for m, f in POINT_METRICS.items()}
        overall["mase"] = float(np.nanmean([r["mase"] for r in rows])) if rows else float("nan")
        for lv in levels:
            overall[f"coverage-{_level_name(lv)}"] = coverage(y, out[f"-lo-{_level_name(lv)}"],
                                                              out[f"-hi-{_level_name(lv)}"])
        metrics = pd.DataFrame(rows + [overall], index=pd.Index(names + ["overall"], name=id_col))
        return BacktestResult(forecasts=frame, metrics=metrics, id_col=id_col, time_col=time_col)

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

        An existing file is kept unless ``overwrite=True``.  After a distributed fit (every process holds
        the same weights) only the process of rank 0 writes; the others return the path untouched.
        """
        self._check_fitted()
        if not is_global_zero():
            return Path(path)
        ends = pd.DatetimeIndex(self.last_timestamps_)
        config = {
            "format": "tsformer-model",
            "format_version": 2,
            "tsformer_version": __version__,
            "estimator": self.name,
            "params": self._json_params(),
            "fitted": {
                "schema": self.schema_.to_dict(),
                "series_ids": list(self.series_ids_),
                "n_marks": self.n_marks_,
                "last_timestamps": [t.isoformat() for t in ends],
                "time_zone": None if ends.tz is None else str(ends.tz),  # the offsets alone lose DST rules
                "scaler": self.scaler_.state_dict(),
                "covariate_scaler": None if self.covariate_scaler_ is None else self.covariate_scaler_.state_dict(),
                "history": self.history_,
                "best_val_loss": self.best_val_loss_,
            },
        }
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()}
        tensors["last_values"] = torch.from_numpy(np.asarray(self.last_values_, dtype=np.float64))
        tensors["last_covariates"] = torch.from_numpy(np.asarray(self.last_covariates_, dtype=np.float64))
        if self.residuals_ is not None:
            tensors["residuals"] = torch.from_numpy(self.residuals_)
        return write_model_file(path, config, tensors, overwrite=overwrite)

    @classmethod
    def _from_model_file(cls, config: dict, tensors: dict, path) -> "BaseForecaster":
        try:
            fitted = config["fitted"]
            est = cls(**{**cls.params_before_they_existed, **config["params"]})
            est._check_params()
            est.schema_ = Schema.from_dict(fitted["schema"])
            network = est._network(n_vars=len(est.schema_.columns), n_marks=int(fitted["n_marks"]))
            state = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}
            network.load_state_dict(state, strict=True)
            network.eval()
            est.network_ = network
            est.series_ids_ = tuple(fitted["series_ids"])
            est.n_marks_ = int(fitted["n_marks"])
            est.scaler_ = StandardScaler.from_state_dict(fitted["scaler"])
            cov = fitted.get("covariate_scaler")
            est.covariate_scaler_ = None if cov is None else StandardScaler.from_state_dict(cov)
            est.last_values_ = tensors["last_values"].numpy()
            est.last_covariates_ = tensors["last_covariates"].numpy()
            est.last_timestamps_ = _read_timestamps(fitted["last_timestamps"], fitted.get("time_zone"))
            est.residuals_ = tensors["residuals"].numpy() if "residuals" in tensors else None
            est.n_features_in_ = len(est.schema_.columns) + len(est.schema_.covariates)
            est.history_ = list(fitted.get("history", []))
            est.best_val_loss_ = fitted.get("best_val_loss")
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path} does not hold a valid {cls.__name__} ({exc}); save the model again") from exc
        S = max(len(est.series_ids_), 1)
        if est.last_values_.shape != (S, est.lookback, len(est.schema_.columns)):
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
