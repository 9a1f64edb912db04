"""Informer (Zhou et al., AAAI 2021): "Beyond Efficient Transformer for Long Sequence Time-Series Forecasting".

* **Embedding**: value (width-3 ``Conv1d`` token embedding) + fixed positional + calendar-feature
  embedding of every step's timestamp (and known-future covariates).
* **Encoder**: ``e_layers`` layers of ProbSparse self-attention (only the top ``u = factor ln L``
  queries by the max-mean sparsity measurement attend; the rest take the mean of ``V``), with
  **self-attention distilling** (``Conv1d + BatchNorm + ELU + MaxPool(stride 2)``) between layers, which
  halves the sequence each time.
* **Generative-style decoder**: its input is the start token -- the last ``label_len`` steps of the
  lookback -- followed by ``horizon`` zero placeholders, with the calendar features of those steps
  (the future ones included); ``d_layers`` layers of masked ProbSparse self-attention and full
  cross-attention to the encoder's output produce the whole horizon in one forward pass.

The decoder input is built here from the lookback and the marks, never by the caller.  ``use_norm``
(not in the paper, off by default) wraps the network in instance normalization.

``mix`` reproduces the reference code's "mix attention" (see :class:`~.layers.AttentionLayer`): the heads'
``(H, L, E)`` output read as ``(L, H * E)``, so that each step receives a run of ``H`` consecutive steps of
one head (when ``H`` divides ``L``).  Informer2020, the paper's code, mixes the decoder's self-attention
(``mix="decoder"``, its ``--mix`` flag, on by default); the Informer of Autoformer's and Time-Series-Library's
code, which produced the published lookback-96 ETTh1 figures, mixes the encoder's self-attention too, as its
ProbSparse attention returns ``(B, H, L, E)`` to a layer that reads it as ``(B, L, H * E)`` (``mix="all"``).
On ETTh1 at horizon 96 it lowers the validation loss a great deal (at 720 one seed showed no gain:
``benchmarks/RESULTS.md``); ``mix="none"`` concatenates the heads step by step, the textbook
layout.  The cross-attention is never mixed.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .layers import AttentionLayer, DataEmbedding, Decoder, DecoderLayer, Encoder, EncoderLayer, FullAttention, RevIN
from .layers.probsparse import DistillingLayer, ProbSparseAttention

__all__ = ["Informer", "decoder_input", "MIX"]

#: where the ProbSparse self-attentions merge their heads as the reference code's "mix attention"
MIX = ("all", "decoder", "none")


def decoder_input(x: torch.Tensor, horizon: int, label_len: int, fill: torch.Tensor | None = None) -> torch.Tensor:
    """The start token and placeholders: ``x (B, L, C) -> (B, label_len + horizon, C)``.

    The last ``label_len`` rows of ``x``, then ``horizon`` rows of ``fill`` (``(B, 1, C)``; default zeros).
    """
    B, _, C = x.shape
    tail = x[:, x.shape[1] - label_len:]
    fill = x.new_zeros(B, 1, C) if fill is None else fill
    return torch.cat([tail, fill.expand(B, horizon, C)], dim=1)


class Informer(nn.Module):
    """``forward(x (B, lookback, n_vars), x_mark (B, lookback, n_marks), y_mark (B, horizon, n_marks)) -> (B, horizon, n_vars)``.

    With ``n_outputs > 1`` the output is ``(B, horizon, n_vars, n_outputs)``.

    Args:
        n_vars, lookback, horizon: sizes. n_marks: calendar features (and covariates) per step; 0: none.
        label_len: start-token length of the decoder (at most ``lookback``).
        d_model, n_heads, e_layers, d_layers, d_ff, dropout, activation: Transformer sizes.
        factor: ProbSparse sampling factor ``c`` (``u = c ln L_Q`` queries, ``U = c ln L_K`` keys).
        distil: self-attention distilling between encoder layers.
        use_norm: instance normalization around the network (not in the paper).
        mix: which ProbSparse self-attentions merge their heads as the reference code's "mix attention":
            ``"all"`` (encoder and decoder), ``"decoder"`` or ``"none"``.
        n_outputs: values forecast per variate and step.
    """

    def __init__(self, *, n_vars: int, lookback: int, horizon: int, n_marks: int = 0, label_len: int = 48,
                 d_model: int = 512, n_heads: int = 8, e_layers: int = 2, d_layers: int = 1, d_ff: int = 2048,
                 dropout: float = 0.05, factor: float = 5, activation: str = "gelu", distil: bool = True,
                 use_norm: bool = False, mix: str = "all", n_outputs: int = 1):
        super().__init__()
        if not 0 <= label_len <= lookback:
            raise ValueError(f"label_len ({label_len}) must be between 0 and lookback ({lookback})")
        if mix not in MIX:
            raise ValueError(f"mix must be one of {MIX}, got {mix!r}")
        self.n_vars, self.horizon, self.label_len = n_vars, horizon, label_len
        self.n_marks, self.n_outputs = n_marks, n_outputs
        self.revin = RevIN(n_vars, affine=False) if use_norm else None
        self.enc_embedding = DataEmbedding(n_vars, d_model, n_marks=n_marks, dropout=dropout)
        self.dec_embedding = DataEmbedding(n_vars, d_model, n_marks=n_marks, dropout=dropout)

        def prob_attention(mixed: bool):
            # no dropout on the active queries' attention weights: the reference code's ProbAttention (Informer2020's,
            # and Time-Series-Library's) builds a dropout module and never calls it; the cross-attention's applies
            return AttentionLayer(ProbSparseAttention(factor=factor), d_model=d_model, n_heads=n_heads, mix=mixed)

        self.encoder = Encoder(
            [EncoderLayer(prob_attention(mix == "all"), d_model, d_ff, dropout=dropout, act=activation)
             for _ in range(e_layers)],
            norm=nn.LayerNorm(d_model),
            between=[DistillingLayer(d_model) for _ in range(e_layers - 1)] if distil else None,
        )
        self.decoder = Decoder(
            [DecoderLayer(prob_attention(mix != "none"),
                          AttentionLayer(FullAttention(dropout=dropout), d_model=d_model, n_heads=n_heads),
                          d_model, d_ff, dropout=dropout, act=activation) for _ in range(d_layers)],
            norm=nn.LayerNorm(d_model),
        )
        self.projection = nn.Linear(d_model, n_vars * n_outputs)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None, y_mark: torch.Tensor | None = None) -> torch.Tensor:
        H, Lab = self.horizon, self.label_len
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        dec_mark = None
        if self.n_marks and x_mark is not None and y_mark is not None:
            dec_mark = torch.cat([x_mark[:, x_mark.shape[1] - Lab:], y_mark], dim=1)  # (B, Lab + H, F)
        else:
            x_mark = None
        memory = self.encoder(self.enc_embedding(x, x_mark))  # (B, ~L / 2^(e_layers-1), D)
        dec = self.decoder(self.dec_embedding(decoder_input(x, H, Lab), dec_mark), memory)  # (B, Lab + H, D)
        y = rearrange(self.projection(dec[:, -H:]), "b h (c q) -> b h c q", q=self.n_outputs)
        if self.n_outputs == 1:
            y = y[..., 0]
        return self.revin.denormalize(y, stats) if self.revin is not None else y
