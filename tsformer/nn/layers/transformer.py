"""Transformer encoder and decoder blocks shared by the attention-based models."""

from __future__ import annotations

import torch
from torch import nn

from .attention import AttentionLayer
from .checkpoint import CheckpointedLayer
from .dropout import Dropout

__all__ = ["activation", "FeedForward", "EncoderLayer", "Encoder", "DecoderLayer", "Decoder"]


def activation(name: str) -> nn.Module:
    """``"gelu"``, ``"relu"``, ``"elu"``, ``"silu"`` or ``"sigmoid"`` as a module."""
    table = {"gelu": nn.GELU, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid}
    if name not in table:
        raise ValueError(f"activation must be one of {sorted(table)}, got {name!r}")
    return table[name]()


class FeedForward(nn.Module):
    """Position-wise ``Linear(d_model, d_ff) -> act -> dropout -> Linear(d_ff, d_model) -> dropout``.

    (The reference implementations use ``Conv1d(kernel_size=1)``, the same map.)
    """

    def __init__(self, d_model: int, d_ff: int, *, dropout: float = 0.1, act: str = "gelu"):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), activation(act), Dropout(dropout), nn.Linear(d_ff, d_model), Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(CheckpointedLayer):
    """Post-norm block: ``x = norm1(x + drop(attn(x))); x = norm2(x + ffn(x))``; ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, attention: AttentionLayer, d_model: int, d_ff: int, *, dropout: float = 0.1, act: str = "gelu"):
        super().__init__()
        self.attention = attention
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, act=act)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.attention(x, x, x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.branch(self._attend, x))
        return self.norm2(x + self.branch(self.ffn, x))


class Encoder(nn.Module):
    """A stack of layers followed by an optional final ``LayerNorm``; ``(B, N, D) -> (B, N', D)``.

    ``between`` (optional, one module fewer than ``layers``) runs after every layer but the last, e.g.
    Informer's distilling layers, which halve ``N`` each time.
    """

    def __init__(self, layers: list[nn.Module], norm: nn.Module | None = None, between: list[nn.Module] | None = None):
        super().__init__()
        if between is not None and len(between) != len(layers) - 1:
            raise ValueError(f"need {len(layers) - 1} modules between {len(layers)} layers, got {len(between)}")
        self.layers = nn.ModuleList(layers)
        self.between = nn.ModuleList(between) if between else None
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.between is not None and i < len(self.between):
                x = self.between[i](x)
        return x if self.norm is None else self.norm(x)


class DecoderLayer(CheckpointedLayer):
    """Post-norm decoder block (Informer, the vanilla Transformer): masked self-attention, cross-attention, FFN.

    ``forward(x (B, N, D), memory (B, M, D)) -> (B, N, D)``::

        x = norm1(x + drop(self_attn(x, x, x, causal=True)))
        x = norm2(x + drop(cross_attn(x, memory, memory)))
        x = norm3(x + ffn(x))
    """

    def __init__(self, self_attention: AttentionLayer, cross_attention: AttentionLayer, d_model: int, d_ff: int, *,
                 dropout: float = 0.1, act: str = "gelu"):
        super().__init__()
        self.self_attention = self_attention
        self.cross_attention = cross_attention
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, act=act)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def _attend_self(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.self_attention(x, x, x, causal=True))

    def _attend_memory(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.cross_attention(x, memory, memory))

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.branch(self._attend_self, x))
        x = self.norm2(x + self.branch(self._attend_memory, x, memory))
        return self.norm3(x + self.branch(self.ffn, x))


class Decoder(nn.Module):
    """A stack of :class:`DecoderLayer` and an optional final norm: ``(x (B, N, D), memory (B, M, D)) -> (B, N, D)``."""

    def __init__(self, layers: list[nn.Module], norm: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory)
        return x if self.norm is None else self.norm(x)
