"""Mamba as a forecaster: S-Mamba (Wang et al., 2024, "Is Mamba Effective for Time Series Forecasting?").

Design choice, as in S-Mamba: the selective state space model (Gu & Dao, 2023) runs over **variate
tokens**, not over time.  Each variate's whole lookback is embedded as one token
(``Linear(lookback, d_model)``, iTransformer's inverted embedding; calendar features become extra
tokens), and every encoder layer mixes the tokens with a *bidirectional* Mamba — one
:class:`~tsformer.nn.layers.ssm.MambaBlock` reads the tokens in column order, a second reads them in
reverse, and their outputs are added to the residual — followed by a LayerNorm, a feed-forward network
per token and a second LayerNorm.  A linear projection maps each variate token to the horizon.
Instance normalization (RevIN without affine parameters) wraps the whole.  Time dependencies are
captured by the token embedding and the FFN; the SSM captures dependencies between variates, and the
two directions remove the dependence on the column order that one causal scan would have.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import CheckpointedLayer, FeedForward, MambaBlock
from .layers.inverted import InvertedTokenForecaster

__all__ = ["SMamba", "BidirectionalMambaLayer"]


class BidirectionalMambaLayer(CheckpointedLayer):
    """``x = norm1(x + mamba_fwd(x) + flip(mamba_bwd(flip(x)))); x = norm2(x + ffn(x))``; ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, d_model: int, d_ff: int, *, d_state: int, d_conv: int, expand: int, dropout: float,
                 activation: str, scan: str):
        super().__init__()
        block = dict(d_state=d_state, d_conv=d_conv, expand=expand, scan=scan)
        self.forward_mamba = MambaBlock(d_model, **block)
        self.backward_mamba = MambaBlock(d_model, **block)
        self.ffn = FeedForward(d_model, d_ff, dropout=dropout, act=activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.branch(self.forward_mamba, x) + self.branch(self.backward_mamba, x.flip(1)).flip(1)
        x = self.norm1(x + mixed)
        return self.norm2(x + self.branch(self.ffn, x))


class SMamba(InvertedTokenForecaster):
    """``forward(x (B, lookback, n_vars), x_mark (B, lookback, n_marks), y_mark (B, horizon, n_marks)) -> (B, horizon, n_vars)``.

    With ``n_outputs > 1`` the output is ``(B, horizon, n_vars, n_outputs)``.

    Args:
        n_vars: number of variates ``C``.  lookback, horizon: input and output lengths.
        n_marks: calendar features and known-future covariates per step, each embedded as one extra token
            (0: none used).
        d_model: token width.  d_state: SSM state size.  d_conv: Mamba's causal convolution width.
        expand: Mamba's inner width factor.  e_layers: encoder layers.  d_ff: feed-forward width.
        dropout, activation: of the embedding and the feed-forward network.
        use_norm: instance normalization around the network.
        scan: ``"auto"``, ``"torch"`` or ``"cuda"`` (see :class:`~tsformer.nn.layers.ssm.MambaBlock`).
        horizon_marks: also embed the marks over the horizon (see
            :class:`~tsformer.nn.layers.inverted.InvertedTokenForecaster`); S-Mamba's code embeds the lookback's.
        n_outputs: values forecast per variate and step.
    """

    def __init__(self, *, n_vars: int, lookback: int, horizon: int, n_marks: int = 0, d_model: int = 512,
                 d_state: int = 16, d_conv: int = 2, expand: int = 1, e_layers: int = 2, d_ff: int = 512,
                 dropout: float = 0.1, activation: str = "gelu", use_norm: bool = True, scan: str = "auto",
                 horizon_marks: bool = False, n_outputs: int = 1):
        super().__init__(
            make_layer=lambda: BidirectionalMambaLayer(d_model, d_ff, d_state=d_state, d_conv=d_conv, expand=expand,
                                                       dropout=dropout, activation=activation, scan=scan),
            n_vars=n_vars, lookback=lookback, horizon=horizon, n_marks=n_marks, d_model=d_model, e_layers=e_layers,
            dropout=dropout, use_norm=use_norm, n_outputs=n_outputs, horizon_marks=horizon_marks,
        )
