"""tsformer: deep time-series forecasters behind one scikit-learn-style interface.

    >>> from tsformer import ITransformerForecaster
    >>> from tsformer.datasets import load_dataset
    >>> est = ITransformerForecaster(lookback=96, horizon=24).fit(load_dataset("ETTh1"))
    >>> est.predict()   # DataFrame indexed by the next 24 timestamps

The names below are imported on first use (PEP 562): ``import tsformer`` and the command line's
``--help`` load neither torch nor Lightning until a forecaster is asked for.
"""

from __future__ import annotations

from ._lazy import lazy_names as _lazy_names

from ._version import __version__

_WHERE = {
    "load": "base",
    "BacktestResult": "base",
    "load_dataset": "datasets",
    "make_synthetic": "datasets",
    "plot_forecast": "plotting",
    "plot_backtest": "plotting",
    "ITransformerForecaster": "estimators",
    "ETSformerForecaster": "estimators",
    "XLSTMTimeForecaster": "estimators",
    "MambaForecaster": "estimators",
    "InformerForecaster": "estimators",
    "AutoformerForecaster": "estimators",
}

__all__ = ["__version__", *_WHERE]

__getattr__, __dir__ = _lazy_names(__name__, _WHERE, globals())
