"""Plots of forecasts and backtests (matplotlib, the optional ``plot`` extra).

    fig = tsformer.plot_forecast(df, est.predict(level=[80, 95]))
    fig.savefig("forecast.png")

One panel per column (wide) or series (long), up to ``max_panels``; the last part of the history, the
forecast, and the intervals as shaded bands when the forecast has ``-lo-``/``-hi-`` columns.
"""

from __future__ import annotations

import re

import pandas as pd

from .errors import DataError, require

__all__ = ["plot_forecast", "plot_backtest"]

_BAND = re.compile(r"^(?P<base>.+)-(?P<side>lo|hi)-(?P<level>[0-9.]+)$")


def _figure(n_panels: int, figsize):
    require("matplotlib", "plot", "plotting")
    from matplotlib.figure import Figure  # no pyplot: works headless and in notebooks alike

    fig = Figure(figsize=figsize or (9, 2.4 * n_panels + 0.6))
    return fig, fig.subplots(n_panels, 1, squeeze=False)[:, 0]


def _panels(frame: pd.DataFrame, id_col, time_col, value_col) -> dict[str, pd.DataFrame]:
    """``{name: frame indexed by time with columns value_col[-lo-L/-hi-L]}``, one per column or series."""
    if id_col in frame.columns:
        if time_col not in frame.columns:
            raise DataError(f"long frame without its time column {time_col!r}")
        return {str(k): g.set_index(pd.DatetimeIndex(g[time_col])).drop(columns=[id_col, time_col])
                for k, g in frame.groupby(id_col, sort=False)}
    if not isinstance(frame.index, pd.DatetimeIndex):
        times = [c for c in frame.columns if str(c).lower() in ("date", "ds", "time", "timestamp", "datetime")]
        if not times:
            raise DataError("cannot plot: the frame has no DatetimeIndex and no time column")
        frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame[times[0]]))).drop(columns=times[0])
    panels: dict[str, dict] = {}
    for col in map(str, frame.columns):
        band = _BAND.match(col)
        base, suffix = (band.group("base"), col[len(band.group("base")):]) if band else (col, "")
        panels.setdefault(base, {})[value_col + suffix] = frame[col].to_numpy()
    return {name: pd.DataFrame(cols, index=frame.index) for name, cols in panels.items()}


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, *, last: int | None = None, max_panels: int = 6,
                  id_col: str = "unique_id", time_col: str = "ds", value_col: str = "y", title: str | None = None,
                  figsize=None):
    """Plot the tail of ``history`` and ``forecast`` (with its intervals); returns the matplotlib Figure.

    Args:
        history: the frame the forecast follows (wide or long, as passed to ``fit``/``predict``).
        forecast: what ``predict`` returned (wide or long, with or without ``-lo-``/``-hi-`` columns).
        last: history points shown per panel (default: 4 x the forecast length).
        max_panels: at most this many columns or series are drawn (the first ones).
    """
    fc = _panels(forecast, id_col, time_col, value_col)
    hist = _panels(history, id_col, time_col, value_col)
    names = [n for n in fc if n in hist] or list(fc)
    shown = names[:max_panels]
    if not shown:
        raise DataError("nothing to plot: the forecast has no columns")
    horizon = max(len(f) for f in fc.values())
    last = 4 * horizon if last is None else last
    fig, axes = _figure(len(shown), figsize)
    for ax, name in zip(axes, shown):
        f = fc[name]
        if name in hist:
            h = hist[name].iloc[-last:]
            col = value_col if value_col in h.columns else h.columns[0]
            ax.plot(h.index, h[col], color="0.3", lw=1.0, label="history")
        _draw_forecast(ax, f, value_col, label="forecast")
        ax.set_title(name, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    more = len(names) - len(shown)
    fig.suptitle((title or "forecast") + (f"  (first {len(shown)} of {len(names)})" if more else ""), fontsize=10)
    fig.tight_layout()
    return fig


def _draw_forecast(ax, f: pd.DataFrame, value_col: str, label: str, color: str = "C0") -> None:
    bands = sorted({float(m.group("level")) for m in map(_BAND.match, map(str, f.columns)) if m}, reverse=True)
    for i, lv in enumerate(bands):
        lo, hi = f"{value_col}-lo-{lv:g}", f"{value_col}-hi-{lv:g}"
        if lo in f.columns and hi in f.columns:
            ax.fill_between(f.index, f[lo], f[hi], color=color, alpha=0.15 + 0.15 * i, lw=0, label=f"{lv:g}%")
    ax.plot(f.index, f[value_col], color=color, lw=1.4, label=label)


def plot_backtest(result, *, max_panels: int = 6, title: str | None = None, figsize=None):
    """Plot a backtest: actuals and every window's forecast (and intervals) per column or series."""
    frame, id_col, time_col = result.forecasts, result.id_col, result.time_col
    names = list(dict.fromkeys(frame[id_col].astype(str)))
    shown = names[:max_panels]
    fig, axes = _figure(len(shown), figsize)
    for ax, name in zip(axes, shown):
        part = frame[frame[id_col].astype(str) == name]
        truth = part.drop_duplicates(time_col).set_index(time_col)["y"]
        ax.plot(pd.DatetimeIndex(truth.index), truth.to_numpy(), color="0.3", lw=1.0, label="actual")
        for w, win in part.groupby("window"):
            win = win.set_index(pd.DatetimeIndex(win[time_col]))
            _draw_forecast(ax, win.drop(columns=["y"]).rename(columns=lambda c: str(c).replace("y_hat", "y")), "y",
                           label="forecast" if w == 0 else None, color=f"C{int(w) % 10}")
        row = result.metrics.loc[name] if name in result.metrics.index else None
        ax.set_title(name + ("" if row is None else f"   MAE {row['mae']:.3g}  MASE {row['mase']:.3g}"), fontsize=9,
                     loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    more = len(names) - len(shown)
    fig.suptitle((title or "backtest") + (f"  (first {len(shown)} of {len(names)})" if more else ""), fontsize=10)
    fig.tight_layout()
    return fig
