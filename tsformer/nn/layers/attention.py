"""Attention: the full scaled dot-product kernel and the multi-head projection layer around it.

An *inner attention* maps per-head queries, keys and values ``(B, H, L, E)`` to ``(B, H, L_q, E)``;
:class:`FullAttention` is the O(L^2) one, other models plug in their own (ProbSparse, Auto-Correlation)
through the same interface.  :class:`AttentionLayer` owns the projections: one fused QKV matrix, used
in one matmul for self-attention and split into its Q and KV parts for cross-attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .dropout import dropout

__all__ = ["FullAttention", "AttentionLayer"]


#: on a CPU, score matrices of up to this many entries per head are computed explicitly (matmul, softmax, matmul):
#: torch's fused CPU kernel (flash attention, in blocks of queries and keys) takes 3-4x the explicit form's time at
#: iTransformer's 7-11 tokens and 1.1-1.4x at 96-128 steps, and is 2-3x faster from 192 x 192 on
#: (``benchmarks/attention_kernels.py``, batch 32, 8 heads, 2 threads)
EXPLICIT_MAX_SCORES = 128 * 128


class FullAttention(nn.Module):
    """``softmax(Q K^T / sqrt(E)) V`` with optional causal mask; ``(B, H, L, E)`` in and out.

    On a CPU the scores are materialized when there are few of them (:data:`EXPLICIT_MAX_SCORES`) or when
    attention dropout is on in training (torch's CPU kernels then materialize them anyway, and the mask of
    ``layers.dropout`` is cheaper than theirs); otherwise, and on other devices, it is torch's fused
    ``scaled_dot_product_attention``.  Both compute the same function.
    """

    def __init__(self, *, dropout: float = 0.0, scale: float | None = None):
        super().__init__()
        self.dropout = dropout
        self.scale = scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        drop = self.dropout if self.training else 0.0
        if q.device.type == "cpu" and (drop > 0 or q.shape[-2] * k.shape[-2] <= EXPLICIT_MAX_SCORES):
            scores = (q @ k.transpose(-2, -1)) * (self.scale if self.scale is not None else q.shape[-1] ** -0.5)
            if causal:
                future = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).triu(1)
                scores = scores.masked_fill(future, float("-inf"))
            return dropout(torch.softmax(scores, dim=-1), drop) @ v
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=causal, scale=self.scale)


class AttentionLayer(nn.Module):
    """Multi-head attention around an inner attention kernel.

    ``forward(queries (B, Lq, D), keys (B, Lk, D), values (B, Lk, D)) -> (B, Lq, D)``.  Passing the
    same tensor three times (self-attention) costs one fused QKV matmul.

    ``mix=True`` merges the heads as the Informer reference code's "mix attention" does: the inner
    attention's ``(H, Lq, E)`` output of each sample is read in its row-major order as ``(Lq, H * E)``
    instead of concatenating the heads step by step, so output step ``l`` holds rows ``l H`` to
    ``l H + H - 1`` of the heads' outputs laid end to end: ``H`` consecutive steps of head ``l H // Lq``
    when ``H`` divides ``Lq``.  It mixes information across steps.
    """

    def __init__(self, attention: nn.Module, *, d_model: int, n_heads: int, mix: bool = False):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.attention = attention
        self.n_heads = n_heads
        self.d_model = d_model
        self.mix = mix
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def project(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor):
        """Per-head ``q, k, v`` of shape ``(B, H, L, E)``."""
        d = self.d_model
        if queries is keys and keys is values:  # one copy into (3, B, H, L, E): contiguous heads, no copy per matmul
            b, length = queries.shape[:2]
            qkv = self.qkv(queries).view(b, length, 3, self.n_heads, d // self.n_heads)
            return tuple(qkv.permute(2, 0, 3, 1, 4).contiguous().unbind(0))
        w, b = self.qkv.weight, self.qkv.bias
        q = F.linear(queries, w[:d], b[:d])
        if keys is values:
            k, v = F.linear(keys, w[d:], b[d:]).split(d, dim=-1)
        else:
            k, v = F.linear(keys, w[d:2 * d], b[d:2 * d]), F.linear(values, w[2 * d:], b[2 * d:])
        return tuple(rearrange(t, "b l (h e) -> b h l e", h=self.n_heads) for t in (q, k, v))

    def forward(self, queries, keys, values, *, causal: bool = False) -> torch.Tensor:
        q, k, v = self.project(queries, keys, values)
        out = self.attention(q, k, v, causal=causal)  # (B, H, Lq, E)
        if self.mix:
            return self.out(out.reshape(out.shape[0], out.shape[2], -1))
        return self.out(rearrange(out, "b h l e -> b l (h e)"))
