"""Calendar features computed from timestamps, for the networks' time-feature embeddings.

Each feature is a calendar position scaled to [-0.5, 0.5] (the encoding the Informer, Autoformer and
iTransformer reference code call ``timeenc=1``).  Which features a series gets depends on its spacing:
an hourly series gets hour-of-day, day-of-week, day-of-month and day-of-year; a daily series drops the
hour; a 15-minute series adds minute-of-hour; and so on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["time_features", "time_feature_names"]

_SCALERS = {
    "second_of_minute": lambda i: i.second / 59.0 - 0.5,
    "minute_of_hour": lambda i: i.minute / 59.0 - 0.5,
    "hour_of_day": lambda i: i.hour / 23.0 - 0.5,
    "day_of_week": lambda i: i.day_of_week / 6.0 - 0.5,
    "day_of_month": lambda i: (i.day - 1) / 30.0 - 0.5,
    "day_of_year": lambda i: (i.day_of_year - 1) / 365.0 - 0.5,
    "week_of_year": lambda i: (i.isocalendar().week.to_numpy() - 1) / 52.0 - 0.5,
    "month_of_year": lambda i: (i.month - 1) / 11.0 - 0.5,
}


def time_feature_names(freq: str) -> tuple[str, ...]:
    """The calendar features used for a series spaced by ``freq`` (a pandas alias)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        step = pd.Timedelta(offset)
    except (ValueError, TypeError):  # calendar offsets: months, quarters, years, business days
        step = None
    if step is None:
        name = type(offset).__name__
        if "Week" in name:
            return ("day_of_month", "week_of_year")
        if "Day" in name:  # BusinessDay, CustomBusinessDay
            return ("day_of_week", "day_of_month", "day_of_year")
        return ("month_of_year",)
    if step < pd.Timedelta(minutes=1):
        return ("second_of_minute", "minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year")
    if step < pd.Timedelta(hours=1):
        return ("minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year")
    if step < pd.Timedelta(days=1):
        return ("hour_of_day", "day_of_week", "day_of_month", "day_of_year")
    if step < pd.Timedelta(days=7):
        return ("day_of_week", "day_of_month", "day_of_year")
    return ("day_of_month", "week_of_year")


def time_features(index: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """``(T,)`` timestamps -> ``(T, F)`` float32 calendar features in [-0.5, 0.5]."""
    index = pd.DatetimeIndex(index)
    cols = [np.asarray(_SCALERS[name](index), dtype=np.float32) for name in time_feature_names(freq)]
    return np.stack(cols, axis=1)
