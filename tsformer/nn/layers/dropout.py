"""Dropout with a cheap mask on CPUs.

``torch.nn.Dropout`` draws its mask with ``bernoulli_``, one random number per element; on a CPU that is
a large share of a training step (``benchmarks/profile_step.py``: 13-24% of an Informer, ETSformer or
iTransformer step).  :func:`dropout` draws 64 random bits per four elements and turns them into the mask
with vectorized integer kernels only (:func:`dropout_mask`).  The drop probability is ``p`` to within
1/65,536 and the kept elements are scaled by exactly ``1 / (1 - p')``, ``p'`` the probability actually
used, so the output's expectation is the input, as with ``torch.nn.Dropout``.  The mask comes from
torch's default generator: ``torch.manual_seed`` makes it reproducible.  On other devices (CUDA's fused
kernel is fast), for in-place dropout and inside ``torch.compile`` (which generates its own fused mask)
it is ``torch.nn.functional.dropout``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Dropout", "dropout", "dropout_mask"]

_LEVELS = 1 << 16
# inside torch.compile F.dropout is used: its mask is fused into the generated kernels (random_ cannot be traced)
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None) or (lambda: False)  # torch < 2.3


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float, device=None) -> tuple[torch.Tensor, float]:
    """``(keep, p')``: an int8 tensor of ``shape``, 0 with probability ``p' = round(p * 65536) / 65536``, else 1.

    Every step is a vectorized integer kernel (comparisons that produce booleans are not, on CPUs):
    uniform int16 draws ``d``, four per 64 random bits, and ``clamp(d, t - 1, t) - (t - 1)`` with ``t`` the
    ``p'`` quantile of the int16 range is 0 below ``t`` and 1 from ``t`` on.
    """
    n = math.prod(shape)
    level = min(round(p * _LEVELS), _LEVELS - 1)
    if level == 0:
        return torch.ones(shape, dtype=torch.int8, device=device), 0.0
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    draws = bits.view(torch.int16)[:n].view(shape)  # four independent uniform 16-bit integers per draw
    t = level - _LEVELS // 2
    return draws.clamp_(t - 1, t).sub_(t - 1).to(torch.int8), level / _LEVELS


class _Mask(torch.autograd.Function):
    """``x * keep / (1 - p')``, saving the int8 mask (one byte an element) for the backward pass."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return (x * keep).mul_(scale)  # int8 * float promotes in the kernel (no float mask); scale in float arithmetic

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return (grad * keep).mul_(ctx.scale), None, None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout of ``x`` with drop probability ``p`` (see the module doc)."""
    if not training or p == 0.0:
        return x
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if p == 1.0:
        return x * 0.0
    if x.device.type != "cpu" or not x.is_floating_point() or _is_compiling():
        return F.dropout(x, p, True)
    keep, p_used = dropout_mask(x.shape, p, x.device)
    return _Mask.apply(x, keep, 1.0 / (1.0 - p_used))


class Dropout(nn.Dropout):
    """``torch.nn.Dropout`` with :func:`dropout`'s cheaper mask on CPUs (same arguments, no weights)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return F.dropout(x, self.p, self.training, True)
        return dropout(x, self.p, self.training)
