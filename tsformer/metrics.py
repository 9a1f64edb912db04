"""Forecast accuracy metrics (numpy only).

Every function takes arrays of the same shape and reduces over all their elements; pass slices to get
per-column or per-series figures.  Percentage metrics are in percent.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mse", "mae", "rmse", "mape", "smape", "mase", "coverage", "POINT_METRICS"]


def mse(y, y_hat) -> float:
    """Mean squared error."""
    return float(np.mean((np.asarray(y) - np.asarray(y_hat)) ** 2))


def mae(y, y_hat) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(y_hat))))


def rmse(y, y_hat) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(y, y_hat)))


def mape(y, y_hat) -> float:
    """Mean absolute percentage error, ``100 * mean(|y - y_hat| / |y|)``; points with ``y == 0`` are skipped."""
    y, y_hat = np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)
    ok = y != 0
    return float(100 * np.mean(np.abs(y[ok] - y_hat[ok]) / np.abs(y[ok]))) if ok.any() else float("nan")


def smape(y, y_hat) -> float:
    """Symmetric MAPE, ``100 * mean(2 |y - y_hat| / (|y| + |y_hat|))`` (0 where both are 0); in [0, 200]."""
    y, y_hat = np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)
    denom = np.abs(y) + np.abs(y_hat)
    ratio = np.divide(2 * np.abs(y - y_hat), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100 * np.mean(ratio))


def mase(y, y_hat, insample, season: int = 1) -> float:
    """Mean absolute scaled error: MAE over the in-sample MAE of the seasonal-naive forecast (lag ``season``)."""
    insample = np.asarray(insample, dtype=float)
    if len(insample) <= season:
        return float("nan")
    scale = np.mean(np.abs(insample[season:] - insample[:-season]))
    return mae(y, y_hat) / scale if scale > 0 else float("nan")


def coverage(y, lo, hi) -> float:
    """Share (in percent) of ``y`` inside ``[lo, hi]``."""
    y = np.asarray(y)
    return float(100 * np.mean((y >= np.asarray(lo)) & (y <= np.asarray(hi))))


POINT_METRICS = {"mse": mse, "mae": mae, "rmse": rmse, "mape": mape, "smape": smape}
