"""tsformer: deep time-series forecasters behind one scikit-learn-style interface.

    >>> from tsformer import ITransformerForecaster
    >>> from tsformer.datasets import load_dataset
    >>> est = ITransformerForecaster(lookback=96, horizon=24).fit(load_dataset("ETTh1"))
    >>> est.predict()   # DataFrame indexed by the next 24 timestamps
"""

from ._version import __version__
from .base import BacktestResult, load
from .datasets import load_dataset, make_synthetic
from .estimators import ITransformerForecaster
from .estimators import ETSformerForecaster, MambaForecaster, XLSTMTimeForecaster
from .estimators import AutoformerForecaster, InformerForecaster
from .plotting import plot_backtest, plot_forecast

__all__ = ["__version__", "load", "load_dataset", "make_synthetic", "plot_forecast", "plot_backtest", "BacktestResult",
           "ITransformerForecaster"]
__all__ += ["ETSformerForecaster", "XLSTMTimeForecaster", "MambaForecaster"]
__all__ += ["InformerForecaster", "AutoformerForecaster"]
