"""The inverted-token forecaster skeleton shared by iTransformer and S-Mamba.

Each variate's whole lookback becomes one token (each mark — calendar feature or known-future
covariate — one more token, embedded over the lookback and, with ``horizon_marks``, the horizon), a
stack of token-mixing layers and a final LayerNorm process the tokens, and a linear projection maps each
variate token to the horizon; instance normalization (RevIN without affine parameters) wraps the
whole.  The models differ only in how their layers mix the tokens (attention, bidirectional Mamba).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import nn

from .embeddings import InvertedEmbedding
from .revin import RevIN
from .transformer import Encoder

__all__ = ["InvertedTokenForecaster"]


class InvertedTokenForecaster(nn.Module):
    """``forward(x (B, lookback, n_vars), x_mark (B, lookback, n_marks), y_mark (B, horizon, n_marks)) -> (B, horizon, n_vars)``.

    With ``n_outputs > 1`` the output is ``(B, horizon, n_vars, n_outputs)``.

    Args:
        make_layer: builds one token-mixing layer ``(B, N, d_model) -> (B, N, d_model)``; called ``e_layers`` times.
        n_vars, lookback, horizon, n_marks (0: marks unused), d_model, e_layers, dropout (of the embedding),
            use_norm, n_outputs: as in the models built on it.
        horizon_marks: embed each mark token over the lookback *and* the horizon with a projection of its own
            (values known in advance reach the tokens), instead of the lookback alone through the variates'
            projection (the reference code's way).
    """

    def __init__(self, *, make_layer: Callable[[], nn.Module], n_vars: int, lookback: int, horizon: int,
                 n_marks: int, d_model: int, e_layers: int, dropout: float, use_norm: bool, n_outputs: int,
                 horizon_marks: bool = True):
        super().__init__()
        self.n_vars = n_vars
        self.n_marks = n_marks
        self.n_outputs = n_outputs
        self.revin = RevIN(n_vars, affine=False) if use_norm else None
        self.embedding = InvertedEmbedding(lookback, d_model, dropout=dropout,
                                           horizon=horizon if horizon_marks else 0)
        self.encoder = Encoder([make_layer() for _ in range(e_layers)], norm=nn.LayerNorm(d_model))
        self.projection = nn.Linear(d_model, horizon * n_outputs)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None) -> torch.Tensor:
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        if not self.n_marks:
            x_mark = y_mark = None
        tokens = self.encoder(self.embedding(x, x_mark, y_mark))  # (B, C + F, D)
        y = rearrange(self.projection(tokens[:, : self.n_vars]), "b c (h q) -> b h c q", q=self.n_outputs)
        if self.n_outputs == 1:
            y = y[..., 0]
        return self.revin.denormalize(y, stats) if self.revin is not None else y
