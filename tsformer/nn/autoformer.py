"""Autoformer (Wu et al., NeurIPS 2021): "Decomposition Transformers with Auto-Correlation for Long-Term Series Forecasting".

* **Series decomposition inside the network**: every encoder and decoder layer splits its sub-blocks'
  outputs into a moving-average trend and a seasonal part; the encoder keeps only the seasonal part,
  the decoder carries the trend and accumulates the trends its layers remove (progressive
  decomposition).
* **Auto-Correlation** instead of self-attention: period-based dependencies from the FFT and time-delay
  aggregation of the top ``k = factor ln L`` delays.
* **Decoder initialization**: the lookback is decomposed; the decoder's seasonal input is the seasonal
  part of the last ``label_len`` steps followed by zeros, its trend the trend part of those steps
  followed by the lookback's mean, for the horizon.  The forecast is the decoder's trend plus its
  projected seasonal part.

Embeddings are value + calendar features (no positional embedding, as in the paper).  ``use_norm``
(not in the paper, off by default) wraps the network in instance normalization.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .layers import AttentionLayer, DataEmbedding, RevIN, SeriesDecomposition
from .layers.autocorrelation import AutoCorrelation
from .layers.decomp_transformer import (DecompDecoder, DecompDecoderLayer, DecompEncoder, DecompEncoderLayer,
                                        SeasonalLayerNorm)

__all__ = ["Autoformer"]


class Autoformer(nn.Module):
    """``forward(x (B, lookback, n_vars), x_mark (B, lookback, n_marks), y_mark (B, horizon, n_marks)) -> (B, horizon, n_vars)``.

    With ``n_outputs > 1`` the output is ``(B, horizon, n_vars, n_outputs)``: the seasonal projection
    has one output per level, the accumulated trend is shared by all of them.

    Args:
        n_vars, lookback, horizon: sizes. n_marks: calendar features (and covariates) per step; 0: none.
        label_len: start-token length of the decoder (at most ``lookback``).
        d_model, n_heads, e_layers, d_layers, d_ff, dropout, activation: Transformer sizes.
        factor: Auto-Correlation's ``c`` in ``k = floor(c ln L)`` delays.
        moving_avg: the decomposition's moving-average window.
        use_norm: instance normalization around the network (not in the paper).
        n_outputs: values forecast per variate and step.
    """

    def __init__(self, *, n_vars: int, lookback: int, horizon: int, n_marks: int = 0, label_len: int = 48,
                 d_model: int = 512, n_heads: int = 8, e_layers: int = 2, d_layers: int = 1, d_ff: int = 2048,
                 dropout: float = 0.05, factor: float = 3, moving_avg: int = 25, activation: str = "gelu",
                 use_norm: bool = False, n_outputs: int = 1):
        super().__init__()
        if not 0 <= label_len <= lookback:
            raise ValueError(f"label_len ({label_len}) must be between 0 and lookback ({lookback})")
        self.n_vars, self.horizon, self.label_len = n_vars, horizon, label_len
        self.n_marks, self.n_outputs = n_marks, n_outputs
        self.revin = RevIN(n_vars, affine=False) if use_norm else None
        self.decomp = SeriesDecomposition(moving_avg)
        self.enc_embedding = DataEmbedding(n_vars, d_model, n_marks=n_marks, dropout=dropout, positional=False)
        self.dec_embedding = DataEmbedding(n_vars, d_model, n_marks=n_marks, dropout=dropout, positional=False)

        def auto_correlation():
            return AttentionLayer(AutoCorrelation(factor=factor), d_model=d_model, n_heads=n_heads)

        self.encoder = DecompEncoder(
            [DecompEncoderLayer(auto_correlation(), d_model, d_ff, moving_avg=moving_avg, dropout=dropout,
                                act=activation) for _ in range(e_layers)],
            norm=SeasonalLayerNorm(d_model),
        )
        self.decoder = DecompDecoder(
            [DecompDecoderLayer(auto_correlation(), auto_correlation(), d_model, n_vars, d_ff, moving_avg=moving_avg,
                                dropout=dropout, act=activation) for _ in range(d_layers)],
            norm=SeasonalLayerNorm(d_model),
            projection=nn.Linear(d_model, n_vars * n_outputs),
        )

    def decoder_init(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, L, C) -> (seasonal_init, trend_init)``, each ``(B, label_len + horizon, C)``."""
        H, Lab = self.horizon, self.label_len
        seasonal, trend = self.decomp(x)
        mean = x.mean(dim=1, keepdim=True).expand(-1, H, -1)
        zeros = x.new_zeros(x.shape[0], H, x.shape[2])
        seasonal_init = torch.cat([seasonal[:, x.shape[1] - Lab:], zeros], dim=1)
        trend_init = torch.cat([trend[:, x.shape[1] - Lab:], mean], dim=1)
        return seasonal_init, trend_init

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None) -> torch.Tensor:
        H, Lab = self.horizon, self.label_len
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        dec_mark = None
        if self.n_marks and x_mark is not None and y_mark is not None:
            dec_mark = torch.cat([x_mark[:, x_mark.shape[1] - Lab:], y_mark], dim=1)  # (B, Lab + H, F)
        else:
            x_mark = None
        seasonal_init, trend_init = self.decoder_init(x)
        memory = self.encoder(self.enc_embedding(x, x_mark))  # (B, L, D)
        seasonal, trend = self.decoder(self.dec_embedding(seasonal_init, dec_mark), memory, trend_init)
        seasonal = rearrange(seasonal[:, -H:], "b h (c q) -> b h c q", q=self.n_outputs)
        y = trend[:, -H:, :, None] + seasonal
        if self.n_outputs == 1:
            y = y[..., 0]
        return self.revin.denormalize(y, stats) if self.revin is not None else y
