"""Sliding windows as views over one contiguous tensor.

A series of ``T`` rows holds ``T - (lookback + horizon) + 1`` windows.  None of them is ever copied
on its own: ``torch.Tensor.unfold`` gives a ``(N, C, lookback + horizon)`` view, and a batch is
gathered from it with one indexing operation, so the whole series can sit on the device and memory
is bounded by the data, not by the number of windows.
"""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

__all__ = ["sliding_windows", "window_starts", "segment_window_starts", "WindowDataset"]


def sliding_windows(x, size: int, step: int = 1):
    """``(T, C)`` -> ``(N, size, C)`` windows, as a view (no copy), ``N = (T - size) // step + 1``.

    Works on a numpy array (``sliding_window_view``) or a torch tensor (``unfold``).
    """
    if isinstance(x, torch.Tensor):
        return rearrange(x.unfold(0, size, step), "n c w -> n w c")
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(x), size, axis=0)[::step]
    return np.moveaxis(view, -1, 1)


def window_starts(n_rows: int, lookback: int, horizon: int, *, first_target: int = 0, stop: int | None = None,
                  step: int = 1) -> np.ndarray:
    """Start rows of every window whose targets lie in ``[first_target, stop)`` (``stop`` defaults to ``n_rows``).

    A window starting at ``s`` reads history rows ``s .. s+lookback-1`` and targets
    ``s+lookback .. s+lookback+horizon-1``; its history may come from before ``first_target``.
    """
    stop = n_rows if stop is None else stop
    first = max(first_target - lookback, 0)
    last = stop - lookback - horizon  # inclusive
    if last < first:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, last + 1, step, dtype=np.int64)


def segment_window_starts(offsets, lookback: int, horizon: int, *, first_target=None, stop=None,
                          step: int = 1) -> np.ndarray:
    """:func:`window_starts` for every segment of a stacked series, as global row positions.

    ``offsets`` are the ``S + 1`` segment boundaries; ``first_target`` and ``stop`` are per-segment
    positions (arrays of ``S``, or scalars), counted from each segment's start.  No window crosses a
    segment boundary.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n = len(lengths)
    first = np.broadcast_to(0 if first_target is None else np.asarray(first_target), (n,))
    stop = np.broadcast_to(lengths if stop is None else np.asarray(stop), (n,))
    lo = np.maximum(first - lookback, 0)
    hi = stop - lookback - horizon  # inclusive
    counts = np.where(hi >= lo, (hi - lo) // step + 1, 0)
    seg = np.repeat(np.arange(n), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return (offsets[:-1][seg] + lo[seg] + within * step).astype(np.int64)


class WindowDataset(Dataset):
    """Batches of ``(history, target)`` windows gathered from one series tensor.

    Index it with a list (or tensor) of positions to get a whole batch at once; pair it with
    ``DataLoader(ds, batch_size=None, sampler=BatchSampler(...))`` so that a batch costs one gather,
    not one Python call per window.

    Args:
        values: ``(T, C)`` float tensor, already scaled.
        lookback, horizon: window lengths.
        starts: window start rows (see :func:`window_starts`).
        marks: optional ``(T, F)`` time features.
        target_idx: columns the ``y`` part keeps (default: all).

    Returns from ``ds[idx]`` a dict: ``x (B, lookback, C)``, ``y (B, horizon, C_t)``,
    ``x_mark (B, lookback, F)``, ``y_mark (B, horizon, F)`` (``F = 0`` without marks).
    """

    def __init__(self, values: torch.Tensor, lookback: int, horizon: int, starts, *, marks: torch.Tensor | None = None,
                 target_idx=None):
        assert values.ndim == 2, "values must be (T, C)"
        self.lookback, self.horizon = lookback, horizon
        self.starts = (starts.long() if isinstance(starts, torch.Tensor)
                       else torch.as_tensor(np.asarray(starts), dtype=torch.long))
        if marks is None:
            marks = values.new_zeros(values.shape[0], 0)
        self.values, self.marks = values, marks
        self._windows = values.unfold(0, lookback + horizon, 1)       # (N_all, C, L+H) view
        self._mark_windows = marks.unfold(0, lookback + horizon, 1)   # (N_all, F, L+H) view
        self.target_idx = (None if target_idx is None else target_idx.long() if isinstance(target_idx, torch.Tensor)
                           else torch.as_tensor(np.asarray(target_idx), dtype=torch.long))

    def __len__(self) -> int:
        return len(self.starts)

    def to(self, device) -> "WindowDataset":
        """The same windows with the series on ``device`` (e.g. a GPU): batches are then gathered there,
        with no host-to-device copy per step."""
        # the series moves, and the windows are views again there (moving a view would copy every window)
        return WindowDataset(self.values.to(device), self.lookback, self.horizon, self.starts.to(device),
                             marks=self.marks.to(device),
                             target_idx=None if self.target_idx is None else self.target_idx.to(device))

    def __getitem__(self, idx):
        single = isinstance(idx, (int, np.integer))
        rows = self.starts[torch.as_tensor([idx] if single else idx, dtype=torch.long, device=self.starts.device)]
        w = rearrange(self._windows[rows], "b c w -> b w c")
        m = rearrange(self._mark_windows[rows], "b f w -> b w f")
        L = self.lookback
        y = w[:, L:] if self.target_idx is None else w[:, L:, self.target_idx]
        batch = {"x": w[:, :L], "y": y, "x_mark": m[:, :L], "y_mark": m[:, L:]}
        return {k: v[0] for k, v in batch.items()} if single else batch

    def __getitems__(self, indices):
        """Batched fetch used by ``DataLoader``: one gather for the whole batch."""
        return self[list(indices)]
