"""Data toolkit: frame validation, calendar features, the scaler and the windowing.

Usable on their own::

    from tsformer.data import StandardScaler, sliding_windows, to_series_data
"""

from .frames import FILL_METHODS, SeriesData, future_index, normalize_freq, to_frame, to_series_data
from .scaling import StandardScaler
from .timefeatures import time_feature_names, time_features
from .windowing import WindowDataset, sliding_windows, window_starts

__all__ = [
    "FILL_METHODS", "SeriesData", "future_index", "normalize_freq", "to_frame", "to_series_data",
    "StandardScaler", "time_feature_names", "time_features", "WindowDataset", "sliding_windows", "window_starts",
]
