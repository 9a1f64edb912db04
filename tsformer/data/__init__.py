"""Data toolkit: frame validation, calendar features, the scaler and the windowing.

Usable on their own::

    from tsformer.data import StandardScaler, sliding_windows, to_series_data
"""

from .frames import (FILL_METHODS, SERIES_MODES, Schema, SeriesData, forecast_frame, future_index, normalize_freq,
                     read_future_covariates, to_series_data)
from .scaling import StandardScaler
from .timefeatures import time_feature_names, time_features
from .windowing import WindowDataset, segment_window_starts, sliding_windows, window_starts

__all__ = [
    "FILL_METHODS", "SERIES_MODES", "Schema", "SeriesData", "forecast_frame", "future_index", "normalize_freq",
    "read_future_covariates", "to_series_data", "StandardScaler", "time_feature_names", "time_features",
    "WindowDataset", "segment_window_starts", "sliding_windows", "window_starts",
]
