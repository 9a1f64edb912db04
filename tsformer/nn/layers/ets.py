"""ETSformer's building blocks (Woo et al., 2022): exponential smoothing and frequency attention.

* :class:`ExponentialSmoothing` — exponential smoothing attention (ESA): the output at step ``t`` is
  ``Σ_{j=0..t} α(1-α)^j v_{t-j} + (1-α)^{t+1} v_0``, attention weights that decay geometrically into the
  past with a learnable ``α`` per head and a learnable initial state ``v_0``.  The sum is a causal
  convolution with the kernel ``α(1-α)^j``, computed by FFT in ``O(L log L)`` (:func:`causal_fft_conv`).
* :class:`GrowthLayer` — ESA on the successive differences of the (projected) input: the growth.
* :class:`FourierLayer` — frequency attention: the DFT of the input along time, the ``K`` largest
  amplitudes per feature kept (the zero frequency and, for even lengths, the Nyquist one excluded), and
  those sinusoids evaluated over lookback + horizon: the season, extrapolated.
* :class:`LevelLayer` — the level smoothing equation
  ``e_t = α (x_t - s_t) + (1-α)(e_{t-1} + b_{t-1})`` per variate, i.e. ESA on the de-seasoned series plus
  the smoothed growth.
* :class:`DampingLayer` — the growth forecast ``Σ_{i=1..h} φ^i b_t`` with a learnable damping ``φ`` per head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from .dropout import Dropout

__all__ = ["causal_fft_conv", "ExponentialSmoothing", "GrowthLayer", "FourierLayer", "LevelLayer", "DampingLayer"]


def causal_fft_conv(x: torch.Tensor, kernel: torch.Tensor, *, dim: int = 1) -> torch.Tensor:
    """``y_t = Σ_{j=0..t} kernel_j x_{t-j}`` along ``dim`` by FFT, ``O(L log L)``.

    ``kernel`` has length ``L`` along ``dim`` and broadcasts against ``x`` elsewhere.
    """
    n = x.shape[dim]
    size = 2 * n  # zero padding to >= 2L - 1 makes the circular convolution linear
    dtype = torch.promote_types(x.dtype, kernel.dtype)
    work = _fft_dtype(dtype)
    x, kernel = x.movedim(dim, -1).contiguous().to(work), kernel.movedim(dim, -1).to(work)  # along the contiguous axis
    spectrum = torch.fft.rfft(x, size) * torch.fft.rfft(kernel, size)
    return torch.fft.irfft(spectrum, size)[..., :n].movedim(-1, dim).to(dtype)


def _fft_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to transform in: float32 for half and bfloat16, which torch's FFTs do not take (bf16-mixed)."""
    return torch.promote_types(dtype, torch.float32)


class ExponentialSmoothing(nn.Module):
    """Exponential smoothing attention per head: ``values (B, L, H, D) -> (B, L, H, D)``.

    With ``aux`` values (same shape) the output also gets ``Σ_{j=0..t} (1-α)^{j+1} aux_{t-j}`` (the level
    equation's growth term).
    """

    def __init__(self, n_heads: int, d_head: int, *, dropout: float = 0.0, aux: bool = False):
        super().__init__()
        self.alpha_logit = nn.Parameter(torch.randn(n_heads))
        self.v0 = nn.Parameter(torch.randn(n_heads, d_head))
        self.dropout = Dropout(dropout)
        self.aux_dropout = Dropout(dropout) if aux else None

    @property
    def alpha(self) -> torch.Tensor:
        """Smoothing parameter per head, in (0, 1)."""
        return torch.sigmoid(self.alpha_logit)

    def warm_start_parameters(self) -> list[nn.Parameter]:
        """The smoothing weights, which ``lr_schedule="warmup"`` trains alone in its first epoch (the reference
        code's ``_smoothing_weight`` group)."""
        return [self.alpha_logit]

    def weights(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(α(1-α)^j, (1-α)^{j+1})`` for ``j = 0..length-1``, each ``(length, H)``: the attention to the
        value ``j`` steps back, and the weight of the initial state at step ``j``."""
        j = torch.arange(length, dtype=self.alpha_logit.dtype, device=self.alpha_logit.device)[:, None]
        log_keep = F.logsigmoid(-self.alpha_logit)  # log(1 - α), exact for α near 1
        return torch.exp(F.logsigmoid(self.alpha_logit) + j * log_keep), torch.exp((j + 1) * log_keep)

    def forward(self, values: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        length = values.shape[1]
        attn, init = self.weights(length)
        out = causal_fft_conv(self.dropout(values), attn[None, :, :, None]) + init[None, :, :, None] * self.v0
        if aux is not None:
            out = out + causal_fft_conv(self.aux_dropout(aux), init[None, :, :, None])
        return out


class GrowthLayer(nn.Module):
    """Growth: ESA on the successive differences of the projected input; ``(B, L, d) -> (B, L + 1, d)``.

    Step 0 of the output is the initial growth ``v_0``; step ``t + 1`` is the smoothed growth after input ``t``.
    """

    def __init__(self, d_model: int, n_heads: int, *, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        d_head = d_model // n_heads
        self.z0 = nn.Parameter(torch.randn(n_heads, d_head))
        self.in_proj = nn.Linear(d_model, d_model)
        self.es = ExponentialSmoothing(n_heads, d_head, dropout=dropout)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        v = rearrange(self.in_proj(x), "b l (h e) -> b l h e", h=self.n_heads)
        v = torch.cat([repeat(self.z0, "h e -> b 1 h e", b=b), v], dim=1)
        growth = self.es(v[:, 1:] - v[:, :-1])
        growth = torch.cat([repeat(self.es.v0, "h e -> b 1 h e", b=b), growth], dim=1)
        return self.out_proj(rearrange(growth, "b l h e -> b l (h e)"))


class FourierLayer(nn.Module):
    """Frequency attention: ``(B, L, d) -> (B, L + horizon, d)``, the top-``k`` sinusoids of each feature.

    For every batch element and feature, the ``k`` DFT coefficients of largest amplitude (frequencies
    ``1 .. ceil(L/2) - 1``: the mean and, for even ``L``, the phase-less Nyquist term are excluded) are
    kept and ``(2/L) Σ_f |X_f| cos(2π f t / L + arg X_f)`` is evaluated for ``t = 0 .. L + horizon - 1``:
    the lookback's reconstruction followed by its extrapolation.  Every kept sinusoid completes whole
    cycles in ``L`` steps, so the extrapolation repeats the reconstruction with period ``L``; it is
    computed as the inverse FFT of the masked spectrum, ``O(L log L)``.
    """

    def __init__(self, horizon: int, k: int, *, low_freq: int = 1):
        super().__init__()
        self.horizon = horizon
        self.k = k
        self.low_freq = low_freq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        spectrum = torch.fft.rfft(x.to(_fft_dtype(x.dtype)), dim=1)              # (B, L // 2 + 1, d)
        stop = spectrum.shape[1] - 1 if length % 2 == 0 else spectrum.shape[1]  # exclude Nyquist (even L)
        k = max(min(self.k, stop - self.low_freq), 0)
        if k == 0:
            return x.new_zeros(x.shape[0], length + self.horizon, x.shape[2])
        amplitude = spectrum.abs().detach()
        amplitude[:, : self.low_freq] = -1.0                                     # never selected
        amplitude[:, stop:] = -1.0
        keep = torch.zeros_like(amplitude, dtype=torch.bool).scatter_(1, amplitude.topk(k, dim=1).indices, True)
        season = torch.fft.irfft(spectrum * keep, n=length, dim=1)               # (B, L, d)
        t = torch.arange(length + self.horizon, device=x.device) % length
        return season[:, t].to(x.dtype)


class LevelLayer(nn.Module):
    """Level smoothing per variate: ``level (B, L, C)``, ``growth, season (B, L, d_model) -> (B, L, C)``.

    ``growth`` must be the growth *before* each step (``b_{t-1}``) and ``season`` the season at each step.
    """

    def __init__(self, d_model: int, n_vars: int, *, dropout: float = 0.0):
        super().__init__()
        self.es = ExponentialSmoothing(n_vars, 1, dropout=dropout, aux=True)
        self.growth_pred = nn.Linear(d_model, n_vars)
        self.season_pred = nn.Linear(d_model, n_vars)

    def forward(self, level: torch.Tensor, growth: torch.Tensor, season: torch.Tensor) -> torch.Tensor:
        deseasoned = (level - self.season_pred(season))[..., None]
        return self.es(deseasoned, aux=self.growth_pred(growth)[..., None])[..., 0]


class DampingLayer(nn.Module):
    """Damped growth forecast: ``growth (B, 1, d) -> (B, horizon, d)``, step ``h`` is ``Σ_{i=1..h} φ^i`` times it.

    Dropout (training only) is applied after the last growth is repeated over the horizon, so every
    forecast step gets a mask of its own, as in the reference code (the paper's and Time-Series-Library's
    ``DampingLayer``).
    """

    def __init__(self, horizon: int, n_heads: int, *, dropout: float = 0.0):
        super().__init__()
        self.horizon = horizon
        self.n_heads = n_heads
        self.phi_logit = nn.Parameter(torch.randn(n_heads))
        self.dropout = Dropout(dropout)

    @property
    def phi(self) -> torch.Tensor:
        """Damping factor per head, in (0, 1)."""
        return torch.sigmoid(self.phi_logit)

    def warm_start_parameters(self) -> list[nn.Parameter]:
        """The damping factors, which ``lr_schedule="warmup"`` trains alone in its first epoch (the reference
        code's ``_damping_factor`` group)."""
        return [self.phi_logit]

    def factors(self) -> torch.Tensor:
        """``Σ_{i=1..h} φ^i`` for ``h = 1..horizon``: ``(horizon, n_heads)``."""
        powers = torch.arange(1, self.horizon + 1, dtype=self.phi.dtype, device=self.phi.device)[:, None]
        return (self.phi ** powers).cumsum(0)

    def forward(self, growth: torch.Tensor) -> torch.Tensor:
        growth = self.dropout(growth.expand(-1, self.horizon, -1))  # a mask per forecast step (a view in eval)
        g = rearrange(growth, "b t (h e) -> b t h e", h=self.n_heads)
        return rearrange(g * self.factors()[None, :, :, None], "b t h e -> b t (h e)")
