"""iTransformer (Liu et al., ICLR 2024): "Inverted Transformers Are Effective for Time Series Forecasting".

The Transformer is applied to the *inverted* view of the window: every variate's whole lookback is
embedded as one token (``Linear(lookback, d_model)``), self-attention mixes information **across
variates**, the feed-forward network works on each variate token alone, and a linear projection maps
each token to the horizon.  Calendar features, when given, become extra tokens (as in the reference
code) that the variates attend to; they are dropped before the projection.  Instance normalization
(RevIN without affine parameters, the paper's ``use_norm``) wraps the whole.
"""

from __future__ import annotations

from .layers import AttentionLayer, EncoderLayer, FullAttention
from .layers.inverted import InvertedTokenForecaster

__all__ = ["ITransformer"]


class ITransformer(InvertedTokenForecaster):
    """``forward(x (B, lookback, n_vars), x_mark (B, lookback, n_marks), y_mark (B, horizon, n_marks)) -> (B, horizon, n_vars)``.

    With ``n_outputs > 1`` the output is ``(B, horizon, n_vars, n_outputs)`` (e.g. one per quantile).

    Args:
        n_vars: number of variates ``C``.
        lookback, horizon: input and output lengths.
        n_marks: number of calendar features per step (0: none used).
        d_model, n_heads, e_layers, d_ff, dropout, activation: encoder size.
        use_norm: wrap the network in instance normalization.
        horizon_marks: also embed the marks over the horizon (see
            :class:`~tsformer.nn.layers.inverted.InvertedTokenForecaster`); iTransformer's code embeds the lookback's.
        n_outputs: values forecast per variate and step.
    """

    def __init__(self, *, n_vars: int, lookback: int, horizon: int, n_marks: int = 0, d_model: int = 512,
                 n_heads: int = 8, e_layers: int = 2, d_ff: int = 2048, dropout: float = 0.1,
                 activation: str = "gelu", use_norm: bool = True, horizon_marks: bool = True, n_outputs: int = 1):
        super().__init__(
            make_layer=lambda: EncoderLayer(AttentionLayer(FullAttention(dropout=dropout), d_model=d_model, n_heads=n_heads),
                                            d_model, d_ff, dropout=dropout, act=activation),
            n_vars=n_vars, lookback=lookback, horizon=horizon, n_marks=n_marks, d_model=d_model, e_layers=e_layers,
            dropout=dropout, use_norm=use_norm, n_outputs=n_outputs, horizon_marks=horizon_marks,
        )
