"""xLSTMTime (Alharthi & Mahmood, 2024): "xLSTMTime: Long-term Time Series Forecasting With xLSTM".

Pipeline, as in the paper and its reference code:

1. instance normalization (RevIN without affine parameters, the reference code's default) of each window;
2. series decomposition by a moving average (kernel 25) into trend and seasonal parts, a linear map
   ``lookback -> horizon`` for each (initialized to the mean, as in DLinear and the reference code), summed;
3. an embedding ``Linear(horizon, d_model)`` and batch normalization;
4. a stack of xLSTM blocks — sLSTM or mLSTM (:mod:`tsformer.nn.layers.xlstm`) — and a final LayerNorm;
5. a projection ``Linear(d_model, horizon)``, then the inverse instance normalization.

**Token axis: the variates.**  After step 3 each variate is one token of width ``d_model`` (its
linear forecast, embedded), and the xLSTM recurrence runs *across variates*, in column order — the
reference code hands the ``(batch, n_vars, d_model)`` tensor to the xLSTM stack, whose sequence axis is
dimension 1.  The time structure is carried by the decomposition-linear part inside each token.
Calendar features are not used.

**Cell.**  The paper uses the sLSTM for small data sets (ETTh/ETTm, ILI, Weather: at most 21
variates) and the mLSTM for large ones (Electricity, Traffic, PeMS: 170 to 883 variates).  Both the
paper's split and the token axis point at the number of variates, so ``cell="auto"`` decides on it:
:func:`choose_cell` picks the mLSTM from :data:`MLSTM_MIN_VARS` variates on, the sLSTM below.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .layers import RevIN, SeriesDecomposition
from .layers.xlstm import XLSTMStack

__all__ = ["XLSTMTime", "choose_cell", "MLSTM_MIN_VARS", "CELLS"]

CELLS = ("auto", "slstm", "mlstm")
#: ``cell="auto"`` uses the mLSTM from this many variates on (the paper's small sets have <= 21, its large >= 170)
MLSTM_MIN_VARS = 64


def choose_cell(cell: str, n_vars: int) -> str:
    """The cell to use: ``cell`` itself, or for ``"auto"`` the paper's rule on the data set's size (its variates)."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if cell != "auto":
        return cell
    return "mlstm" if n_vars >= MLSTM_MIN_VARS else "slstm"


class XLSTMTime(nn.Module):
    """``forward(x (B, lookback, n_vars)) -> (B, horizon, n_vars)``; the xLSTM runs over the variate axis.

    With ``n_outputs > 1`` the output is ``(B, horizon, n_vars, n_outputs)``.

    Args:
        n_vars: number of variates ``C`` (the xLSTM's sequence length).  lookback, horizon: input and output lengths.
        d_model: token width (the reference code's embedding dimension).  e_layers: xLSTM blocks.
        n_heads: heads of the sLSTM / mLSTM.  cell: ``"slstm"``, ``"mlstm"`` or ``"auto"`` (:func:`choose_cell`).
        conv_kernel: width of the blocks' causal convolution (0: none, sLSTM only).
        ffn_factor: up-projection of the sLSTM block's gated MLP.  moving_avg: decomposition kernel.
        dropout: inside the xLSTM blocks.  batch_norm: after the embedding.  use_norm: instance normalization.
        n_outputs: values forecast per variate and step.
    """

    def __init__(self, *, n_vars: int, lookback: int, horizon: int, n_marks: int = 0, d_model: int = 256,
                 e_layers: int = 3, n_heads: int = 4, cell: str = "auto", conv_kernel: int = 4,
                 ffn_factor: float = 1.3, moving_avg: int = 25, dropout: float = 0.0, batch_norm: bool = True,
                 use_norm: bool = True, n_outputs: int = 1):
        super().__init__()
        self.cell = choose_cell(cell, n_vars)
        self.n_outputs = n_outputs
        self.revin = RevIN(n_vars, affine=False) if use_norm else None
        self.decomposition = SeriesDecomposition(moving_avg)
        self.linear_seasonal = nn.Linear(lookback, horizon)
        self.linear_trend = nn.Linear(lookback, horizon)
        with torch.no_grad():
            self.linear_seasonal.weight.fill_(1.0 / lookback)
            self.linear_trend.weight.fill_(1.0 / lookback)
        self.embedding = nn.Linear(horizon, d_model)
        self.batch_norm = nn.BatchNorm1d(n_vars) if batch_norm else None
        self.xlstm = XLSTMStack(d_model, n_blocks=e_layers, cell=self.cell, n_heads=n_heads, conv_kernel=conv_kernel,
                                ffn_factor=ffn_factor, dropout=dropout)
        self.projection = nn.Linear(d_model, horizon * n_outputs)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None) -> torch.Tensor:
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        seasonal, trend = self.decomposition(x)                                   # (B, L, C) each
        linear = (self.linear_seasonal(rearrange(seasonal, "b l c -> b c l"))
                  + self.linear_trend(rearrange(trend, "b l c -> b c l")))       # (B, C, H): one token per variate
        tokens = self.embedding(linear)                                           # (B, C, D)
        if self.batch_norm is not None:
            tokens = self.batch_norm(tokens)                                      # statistics per variate
        y = self.projection(self.xlstm(tokens))                                   # (B, C, H * Q)
        y = rearrange(y, "b c (h q) -> b h c q", q=self.n_outputs)
        if self.n_outputs == 1:
            y = y[..., 0]
        return self.revin.denormalize(y, stats) if self.revin is not None else y
