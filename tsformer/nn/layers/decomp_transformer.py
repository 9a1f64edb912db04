"""Encoder and decoder layers with series decomposition inside (Autoformer, Wu et al., NeurIPS 2021).

Every layer removes the moving-average trend after each sub-block, so the attention (Auto-Correlation)
works on the seasonal part only:

* the **encoder** keeps only the seasonal part of its input (the trends it removes are dropped);
* the **decoder** keeps the seasonal part too, and returns the three trends it removed (after self-
  attention, cross-attention and the feed-forward network), projected to the output channels; the
  decoder adds them to the trend it carries, so the trend is accumulated progressively, layer by layer.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .attention import AttentionLayer
from .checkpoint import CheckpointedLayer
from .decomposition import SeriesDecomposition
from .dropout import Dropout
from .transformer import activation

__all__ = ["SeasonalLayerNorm", "DecompEncoderLayer", "DecompEncoder", "DecompDecoderLayer", "DecompDecoder"]


class SeasonalLayerNorm(nn.Module):
    """LayerNorm for the seasonal part: ``LayerNorm(x) - its mean over time``; ``(B, L, D) -> (B, L, D)``."""

    def __init__(self, d_model: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return x - x.mean(dim=1, keepdim=True)


class _PointwiseFFN(nn.Module):
    """``Linear(d, d_ff, no bias) -> act -> dropout -> Linear(d_ff, d, no bias) -> dropout`` (the reference's k=1 convs)."""

    def __init__(self, d_model: int, d_ff: int, *, dropout: float, act: str):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff, bias=False), activation(act), Dropout(dropout),
                                 nn.Linear(d_ff, d_model, bias=False), Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DecompEncoderLayer(CheckpointedLayer):
    """``x (B, L, D) -> seasonal (B, L, D)``::

        x, _ = decomp(x + drop(attn(x, x, x)))
        x, _ = decomp(x + ffn(x))
    """

    def __init__(self, attention: AttentionLayer, d_model: int, d_ff: int, *, moving_avg: int = 25,
                 dropout: float = 0.1, act: str = "gelu"):
        super().__init__()
        self.attention = attention
        self.ffn = _PointwiseFFN(d_model, d_ff, dropout=dropout, act=act)
        self.decomp1 = SeriesDecomposition(moving_avg)
        self.decomp2 = SeriesDecomposition(moving_avg)
        self.dropout = Dropout(dropout)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.attention(x, x, x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.decomp1(x + self.branch(self._attend, x))
        x, _ = self.decomp2(x + self.branch(self.ffn, x))
        return x


class DecompEncoder(nn.Module):
    """A stack of :class:`DecompEncoderLayer` and a :class:`SeasonalLayerNorm`: ``(B, L, D) -> (B, L, D)``."""

    def __init__(self, layers: list[nn.Module], norm: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x if self.norm is None else self.norm(x)


class DecompDecoderLayer(CheckpointedLayer):
    """``(x (B, L, D), memory (B, M, D)) -> (seasonal (B, L, D), trend (B, L, c_out))``::

        x, t1 = decomp(x + drop(self_attn(x, x, x)))
        x, t2 = decomp(x + drop(cross_attn(x, memory, memory)))
        x, t3 = decomp(x + ffn(x))
        trend = Conv1d_k3(t1 + t2 + t3)      # d_model -> c_out channels, circular padding
    """

    def __init__(self, self_attention: AttentionLayer, cross_attention: AttentionLayer, d_model: int, c_out: int,
                 d_ff: int, *, moving_avg: int = 25, dropout: float = 0.1, act: str = "gelu"):
        super().__init__()
        self.self_attention = self_attention
        self.cross_attention = cross_attention
        self.ffn = _PointwiseFFN(d_model, d_ff, dropout=dropout, act=act)
        self.decomp1 = SeriesDecomposition(moving_avg)
        self.decomp2 = SeriesDecomposition(moving_avg)
        self.decomp3 = SeriesDecomposition(moving_avg)
        self.dropout = Dropout(dropout)
        self.trend_projection = nn.Conv1d(d_model, c_out, kernel_size=3, padding=1, padding_mode="circular",
                                          bias=False)

    def _attend_self(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.self_attention(x, x, x, causal=True))

    def _attend_memory(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.cross_attention(x, memory, memory))

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, trend1 = self.decomp1(x + self.branch(self._attend_self, x))
        x, trend2 = self.decomp2(x + self.branch(self._attend_memory, x, memory))
        x, trend3 = self.decomp3(x + self.branch(self.ffn, x))
        trend = self.trend_projection(rearrange(trend1 + trend2 + trend3, "b l d -> b d l"))
        return x, rearrange(trend, "b c l -> b l c")


class DecompDecoder(nn.Module):
    """Decoder that accumulates the trend.

    ``forward(x (B, L, D), memory (B, M, D), trend (B, L, c_out)) -> (seasonal (B, L, c_proj), trend (B, L, c_out))``:
    every layer's trend is added to ``trend``; the final seasonal part is normalized and projected by
    ``projection`` (``d_model -> c_proj``).
    """

    def __init__(self, layers: list[nn.Module], norm: nn.Module, projection: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm
        self.projection = projection

    def forward(self, x: torch.Tensor, memory: torch.Tensor, trend: torch.Tensor):
        for layer in self.layers:
            x, residual_trend = layer(x, memory)
            trend = trend + residual_trend
        return self.projection(self.norm(x)), trend
