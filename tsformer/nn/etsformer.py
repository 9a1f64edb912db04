"""ETSformer (Woo et al., 2022): "Exponential Smoothing Transformers for Time-series Forecasting".

The forecast is an exponential-smoothing decomposition, ``level + Σ growth + Σ season``, learned end
to end:

* the input (augmented while training by a random scale, shift and jitter, as in the reference code)
  is embedded by a causal ``Conv1d`` (no positional or calendar features: ETSformer uses none);
* each encoder layer peels off the **season** of its input by frequency attention (top-``K`` DFT
  sinusoids, extrapolated over the horizon), then the **growth** of the remainder by exponential
  smoothing attention on its successive differences, and passes ``LayerNorm(residual)`` plus a
  feed-forward network to the next layer; alongside, a **level** per variate is smoothed from the raw
  input: ``e_t = α (x_t - s_t) + (1-α)(e_{t-1} + b_{t-1})``;
* the decoder forecasts each layer's growth with a learnable damping (``Σ_{i<=h} φ^i b_L``; while
  training, dropped out with a mask per forecast step, where the reference code drops out twice) and
  takes its season's extrapolation; both are summed over layers and mapped to the variates by one
  linear layer, and the last level is added.

:meth:`ETSformer.components` returns the three parts, whose sum is :meth:`ETSformer.forward`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from einops import rearrange
from torch import nn

from .layers import CheckpointedLayer, FeedForward, TokenEmbedding
from .layers.dropout import Dropout
from .layers.ets import DampingLayer, FourierLayer, GrowthLayer, LevelLayer

__all__ = ["ETSformer", "ETSComponents", "ETSEncoderLayer"]


class ETSComponents(NamedTuple):
    """The forecast's parts, each ``(B, horizon, n_vars)`` (or ``(..., n_outputs)``); they sum to the forecast."""

    level: torch.Tensor
    growth: torch.Tensor
    season: torch.Tensor


class ETSEncoderLayer(CheckpointedLayer):
    """One encoder layer: ``(residual (B, L, d), level (B, L, C)) -> (residual, level, growth (B, L+1, d), season (B, L+H, d))``."""

    def __init__(self, d_model: int, n_heads: int, n_vars: int, horizon: int, top_k: int, d_ff: int, *,
                 dropout: float, activation: str):
        super().__init__()
        self.season_layer = FourierLayer(horizon, top_k)
        self.growth_layer = GrowthLayer(d_model, n_heads, dropout=dropout)
        self.level_layer = LevelLayer(d_model, n_vars, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, act=activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.season_dropout = Dropout(dropout)
        self.growth_dropout = Dropout(dropout)

    def forward(self, res: torch.Tensor, level: torch.Tensor):
        length = res.shape[1]
        season = self.branch(lambda r: self.season_dropout(self.season_layer(r)), res)
        res = res - season[:, :length]
        growth = self.branch(lambda r: self.growth_dropout(self.growth_layer(r)), res)
        res = self.norm1(res - growth[:, 1:])
        res = self.norm2(res + self.branch(self.ffn, res))
        level = self.level_layer(level, growth[:, :-1], season[:, :length])
        return res, level, growth, season


class ETSformer(nn.Module):
    """``forward(x (B, lookback, n_vars)) -> (B, horizon, n_vars)``; calendar features are not used.

    With ``n_outputs > 1`` the growth and season projections give ``n_outputs`` values per variate and
    step and the output is ``(B, horizon, n_vars, n_outputs)`` (the level is shared).

    Args:
        n_vars: number of variates ``C``.  lookback, horizon: input and output lengths.
        d_model, n_heads: latent width and heads of the exponential smoothing attention.
        e_layers: encoder layers = decoder layers (one growth and one season stack per layer).
        d_ff, activation: the encoder's feed-forward network.  dropout: dropout rate.
        top_k: ``K``, sinusoids kept per feature by the frequency attention.
        augment_sigma: scale of the random scale/shift/jitter applied to the input while training (0: off).
        n_outputs: values forecast per variate and step.
    """

    def __init__(self, *, n_vars: int, lookback: int, horizon: int, n_marks: int = 0, d_model: int = 512,
                 n_heads: int = 8, e_layers: int = 2, d_ff: int = 2048, top_k: int = 3, dropout: float = 0.2,
                 activation: str = "sigmoid", augment_sigma: float = 0.2, n_outputs: int = 1):
        super().__init__()
        self.n_vars = n_vars
        self.horizon = horizon
        self.n_outputs = n_outputs
        self.augment_sigma = augment_sigma
        self.embedding = TokenEmbedding(n_vars, d_model, causal=True)
        self.embedding_dropout = Dropout(dropout)
        self.layers = nn.ModuleList([
            ETSEncoderLayer(d_model, n_heads, n_vars, horizon, top_k, d_ff, dropout=dropout, activation=activation)
            for _ in range(e_layers)
        ])
        # the reference code drops the repeated growth out in its DampingLayer and the damped forecast again in its
        # decoder layer, two independent masks per step: their product is one mask that keeps with probability
        # (1 - p)^2, drawn once here (the same distribution, half the mask work on a (B, horizon, d_model) tensor)
        self.damping = nn.ModuleList([DampingLayer(horizon, n_heads, dropout=1 - (1 - dropout) ** 2)
                                      for _ in range(e_layers)])
        self.projection = nn.Linear(d_model, n_vars * n_outputs)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """Random per-variate scale and shift and per-value jitter, each ``N(0, sigma)``; training only."""
        s = self.augment_sigma
        c = x.shape[-1]
        scale = 1 + s * torch.randn(c, device=x.device, dtype=x.dtype)
        shift = s * torch.randn(c, device=x.device, dtype=x.dtype)
        return x * scale + shift + s * torch.randn_like(x)

    def components(self, x: torch.Tensor, x_mark: torch.Tensor | None = None,
                   y_mark: torch.Tensor | None = None) -> ETSComponents:
        """Level, growth and season of the forecast, each ``(B, horizon, n_vars)``."""
        if self.training and self.augment_sigma > 0:
            with torch.no_grad():
                x = self._augment(x)
        res = self.embedding_dropout(self.embedding(x))
        level = x
        growth_h = season_h = 0
        for layer, damping in zip(self.layers, self.damping):
            res, level, growth, season = layer(res, level)
            growth_h = growth_h + damping(growth[:, -1:])
            season_h = season_h + season[:, -self.horizon:]
        growth_h, season_h = (rearrange(self.projection(t), "b h (c q) -> b h c q", q=self.n_outputs)
                              for t in (growth_h, season_h))
        last_level = level[:, -1:, :, None].expand(-1, self.horizon, -1, self.n_outputs)
        if self.n_outputs == 1:
            return ETSComponents(last_level[..., 0], growth_h[..., 0], season_h[..., 0])
        return ETSComponents(last_level, growth_h, season_h)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None) -> torch.Tensor:
        level, growth, season = self.components(x)
        return level + growth + season
