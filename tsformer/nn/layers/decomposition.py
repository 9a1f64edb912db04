"""Moving-average series decomposition (Autoformer's series decomposition block).

``trend = AvgPool(pad_edges(x))`` and ``seasonal = x - trend``, so ``trend + seasonal == x`` exactly
(for the series lengths models use, the average is one matmul with a banded matrix: the same numbers,
faster).
The edges are padded by repeating the first and last rows, which keeps the trend the same length as
the input and unbiased at the ends of a linear ramp's interior.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["moving_average", "averaging_matrix", "decompose", "SeriesDecomposition"]


#: sequences up to this long average by one matmul with a banded (L, L) matrix; longer ones by pooling
_MATRIX_MAX_LEN = 1024
_MATRICES: dict = {}


def averaging_matrix(length: int, kernel_size: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """The ``(L, L)`` matrix ``W`` with ``W @ x`` = the edge-padded centered moving average of ``x (L, ...)``.

    Row ``t`` holds ``1/k`` at the ``k`` positions of its window, the out-of-range ones folded onto the
    first or last row (the replicate padding).  Cached per size, dtype and device.
    """
    key = (length, kernel_size, dtype, str(device))
    if key not in _MATRICES:
        front = (kernel_size - 1) // 2
        cols = (torch.arange(length)[:, None] - front + torch.arange(kernel_size)[None, :]).clamp(0, length - 1)
        w = torch.zeros(length, length, dtype=torch.float64)
        w.scatter_add_(1, cols, torch.full(cols.shape, 1.0 / kernel_size, dtype=torch.float64))
        _MATRICES[key] = w.to(dtype=dtype, device=device)
    return _MATRICES[key]


def moving_average(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Centered moving average along time with edge padding: ``(B, L, C) -> (B, L, C)``.

    Up to ``L = 1024`` it is one matmul with :func:`averaging_matrix` (3-4x faster than average pooling on
    a CPU, forward and backward), computed in float32 even under autocast; longer series use pooling.
    """
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    length = x.shape[1]
    if kernel_size == 1:
        return x
    if length <= _MATRIX_MAX_LEN:
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        w = averaging_matrix(length, kernel_size, dtype=dtype, device=x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return torch.matmul(w, x.to(dtype)).to(x.dtype)
    front = (kernel_size - 1) // 2
    back = kernel_size - 1 - front
    xt = F.pad(rearrange(x, "b l c -> b c l"), (front, back), mode="replicate")
    return rearrange(F.avg_pool1d(xt, kernel_size, stride=1), "b c l -> b l c")


def decompose(x, kernel_size: int):
    """Split ``x`` into ``(seasonal, trend)`` with a moving average of ``kernel_size`` steps.

    ``x`` may be a tensor ``(B, L, C)``, or an array (numpy or anything ``torch.as_tensor`` takes) of
    shape ``(L,)``, ``(L, C)`` or ``(B, L, C)``; arrays come back as float64 numpy arrays of the same shape.
    """
    if isinstance(x, torch.Tensor):
        trend = moving_average(x, kernel_size)
        return x - trend, trend
    t = torch.as_tensor(x, dtype=torch.float64)
    shape = t.shape
    if t.ndim == 1:
        t = t[None, :, None]
    elif t.ndim == 2:
        t = t[None]
    elif t.ndim != 3:
        raise ValueError(f"expected an array of shape (L,), (L, C) or (B, L, C), got {tuple(shape)}")
    trend = moving_average(t, kernel_size).reshape(shape)
    t = t.reshape(shape)
    return (t - trend).numpy(), trend.numpy()


class SeriesDecomposition(nn.Module):
    """``x: (B, L, C) -> (seasonal, trend)``, both ``(B, L, C)``, ``seasonal + trend == x``."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        trend = moving_average(x, self.kernel_size)
        return x - trend, trend
