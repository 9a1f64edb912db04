"""Moving-average series decomposition (Autoformer's series decomposition block).

``trend = AvgPool(pad_edges(x))`` and ``seasonal = x - trend``, so ``trend + seasonal == x`` exactly.
The edges are padded by repeating the first and last rows, which keeps the trend the same length as
the input and unbiased at the ends of a linear ramp's interior.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["moving_average", "decompose", "SeriesDecomposition"]


def moving_average(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Centered moving average along time with edge padding: ``(B, L, C) -> (B, L, C)``."""
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    front = (kernel_size - 1) // 2
    back = kernel_size - 1 - front
    xt = rearrange(x, "b l c -> b c l")
    xt = F.pad(xt, (front, back), mode="replicate") if kernel_size > 1 else xt
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
