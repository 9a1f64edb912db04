"""Input embeddings: values, positions and calendar (time) features."""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from .dropout import Dropout

__all__ = ["PositionalEmbedding", "TokenEmbedding", "TimeFeatureEmbedding", "DataEmbedding", "InvertedEmbedding"]


class PositionalEmbedding(nn.Module):
    """Fixed sinusoidal positions: ``forward(x (B, L, ...)) -> (1, L, d_model)``."""

    def __init__(self, d_model: int, max_len: int = 10000):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", pe[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pe[:, : x.shape[1]]


class TokenEmbedding(nn.Module):
    """Value embedding by a width-3 ``Conv1d`` over time: ``(B, L, C) -> (B, L, d_model)``.

    Circular padding by default; ``causal=True`` pads on the left only, so step ``t`` sees ``t-2..t`` (ETSformer).
    """

    def __init__(self, c_in: int, d_model: int, *, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.conv = nn.Conv1d(c_in, d_model, kernel_size=3, padding=2 if causal else 1,
                              padding_mode="zeros" if causal else "circular", bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(rearrange(x, "b l c -> b c l"))
        return rearrange(y[..., : x.shape[1]] if self.causal else y, "b d l -> b l d")


class TimeFeatureEmbedding(nn.Module):
    """Linear map of calendar features: ``(B, L, F) -> (B, L, d_model)``."""

    def __init__(self, n_marks: int, d_model: int):
        super().__init__()
        self.proj = nn.Linear(n_marks, d_model, bias=False)

    def forward(self, marks: torch.Tensor) -> torch.Tensor:
        return self.proj(marks)


class DataEmbedding(nn.Module):
    """Value + position + time-feature embedding, then dropout: ``(B, L, C), (B, L, F) -> (B, L, d_model)``."""

    def __init__(self, c_in: int, d_model: int, *, n_marks: int = 0, dropout: float = 0.1, positional: bool = True):
        super().__init__()
        self.value = TokenEmbedding(c_in, d_model)
        self.position = PositionalEmbedding(d_model) if positional else None
        self.time = TimeFeatureEmbedding(n_marks, d_model) if n_marks else None
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        out = self.value(x)
        if self.position is not None:
            out = out + self.position(x)
        if self.time is not None and marks is not None:
            out = out + self.time(marks)
        return self.dropout(out)


class InvertedEmbedding(nn.Module):
    """iTransformer's inverted embedding: each variate's whole lookback becomes one token.

    ``x (B, L, C)``, optional marks of the lookback ``x_mark (B, L, F)`` and of the horizon
    ``y_mark (B, H, F)`` -> ``(B, C + F, d_model)``.  Each mark (calendar feature or known-future
    covariate) becomes one extra token that the variates attend to; with ``horizon`` set, that token
    embeds the mark over the lookback *and* the horizon, so values known in advance reach the forecast.
    """

    def __init__(self, lookback: int, d_model: int, *, dropout: float = 0.1, horizon: int = 0):
        super().__init__()
        self.proj = nn.Linear(lookback, d_model)
        self.mark_proj = nn.Linear(lookback + horizon, d_model) if horizon else None
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None,
                y_mark: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.proj(rearrange(x, "b l c -> b c l"))
        if x_mark is not None and x_mark.shape[-1]:
            if self.mark_proj is not None and y_mark is not None:
                marks = self.mark_proj(rearrange(torch.cat([x_mark, y_mark], dim=1), "b t f -> b f t"))
            else:
                marks = self.proj(rearrange(x_mark, "b l f -> b f l"))
            tokens = torch.cat([tokens, marks], dim=1)
        return self.dropout(tokens)
