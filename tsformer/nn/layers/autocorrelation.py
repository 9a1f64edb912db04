"""Autoformer's Auto-Correlation mechanism (Wu et al., NeurIPS 2021).

Instead of point-wise attention, Auto-Correlation finds the period-based dependencies of a series:

1. **Period discovery.** The autocorrelation of queries and keys at every delay ``tau``,
   ``R(tau) = sum_t q_t k_{t - tau}`` (circular), for all delays at once by the Wiener-Khinchin theorem:
   ``R = IFFT(FFT(Q) * conj(FFT(K)))``, in ``O(L log L)``.
2. **Time-delay aggregation.** The ``k = floor(factor * ln L)`` delays with the largest ``R`` (averaged
   over heads and channels) are kept; the values are rolled by each delay and summed with the weights
   ``softmax(R(tau_1), ..., R(tau_k))``.

While training, the delays are chosen once for the whole batch (from ``R`` averaged over the batch,
the reference implementation's fast path); in evaluation mode each sample gets its own delays.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AutoCorrelation", "autocorrelation", "time_delay_aggregation", "n_delays"]


def n_delays(factor: float, length: int) -> int:
    """``k = floor(factor * ln L)``, between 1 and ``L``."""
    return max(1, min(length, int(factor * math.log(max(length, 2)))))


def autocorrelation(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``R(tau)`` of ``q`` against ``k`` along time (dim -2): ``(..., L, E), (..., L, E) -> (..., L, E)``.

    ``R[..., tau, e] = sum_t q[..., t, e] * k[..., (t - tau) mod L, e]``, by FFT.
    """
    L = q.shape[-2]
    qf = torch.fft.rfft(q.float(), dim=-2)
    kf = torch.fft.rfft(k.float(), dim=-2)
    return torch.fft.irfft(qf * torch.conj(kf), n=L, dim=-2)


def time_delay_aggregation(v: torch.Tensor, delays: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_i weights[:, i] * Roll(v, delays[i])`` along time: ``v (B, H, L, E) -> (B, H, L, E)``.

    ``Roll(v, tau)[t] = v[(t + tau) mod L]``.  ``delays`` is ``(k,)`` (shared by the batch) or ``(B, k)``
    (per sample); ``weights`` is ``(B, k)``.

    Computed as one circular cross-correlation of ``v`` with the sparse kernel ``g`` that holds the
    weights at the delays, ``IFFT(FFT(v) * conj(FFT(g)))``: ``O(L log L)`` whatever ``k``, instead of ``k``
    rolled copies of ``v``.
    """
    B, H, L, E = v.shape
    if delays.ndim == 1:
        delays = delays[None, :].expand(B, -1)
    kernel = torch.zeros(B, L, dtype=torch.float32, device=v.device)
    kernel.scatter_add_(1, delays, weights.float())  # (B, L): g[tau] = weight of delay tau
    vf = torch.fft.rfft(v.float(), dim=-2)  # (B, H, L // 2 + 1, E)
    gf = torch.conj(torch.fft.rfft(kernel, dim=-1))[:, None, :, None]
    return torch.fft.irfft(vf * gf, n=L, dim=-2).to(v.dtype)


class AutoCorrelation(nn.Module):
    """Auto-Correlation as an inner attention: ``(q, k, v) (B, H, L, E) -> (B, H, L_q, E)``.

    Keys and values longer than the queries are cut to ``L_q`` rows, shorter ones padded with zeros,
    as in the reference code.  ``causal`` is accepted for the attention interface and ignored:
    Auto-Correlation has no mask (Autoformer's decoder input after its start token is placeholders).

    Args:
        factor: ``c`` of ``k = floor(c ln L)`` (Autoformer's ETTh1 script uses 3).

    (The reference code declares a dropout here but never applies it; neither does this layer.)
    """

    def __init__(self, *, factor: float = 3):
        super().__init__()
        self.factor = factor

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        L, S = q.shape[-2], k.shape[-2]
        if L > S:
            k = F.pad(k, (0, 0, 0, L - S))
            v = F.pad(v, (0, 0, 0, L - S))
        else:
            k, v = k[..., :L, :], v[..., :L, :]
        corr = autocorrelation(q, k)  # (B, H, L, E)
        mean_corr = corr.mean(dim=(1, 3))  # (B, L): R(tau) averaged over heads and channels
        top = n_delays(self.factor, L)
        if self.training:  # one set of delays for the whole batch
            delays = mean_corr.mean(0).topk(top).indices  # (k,)
            weights = mean_corr[:, delays]  # (B, k)
        else:
            weights, delays = mean_corr.topk(top, dim=-1)  # (B, k) each
        weights = torch.softmax(weights, dim=-1).to(v.dtype)
        return time_delay_aggregation(v, delays, weights)
