"""Informer's ProbSparse self-attention (Zhou et al., AAAI 2021) and its self-attention distilling.

ProbSparse attention computes full attention only for the few "active" queries whose score
distribution is far from uniform, measured by the max-mean sparsity measurement

    M(q_i, K) = max_j (q_i k_j^T / sqrt(E)) - mean_j (q_i k_j^T / sqrt(E))

evaluated on ``U = factor * ceil(ln L_K)`` randomly sampled keys per query.  The top
``u = factor * ceil(ln L_Q)`` queries attend to every key; the other ("lazy") queries, whose attention
would be nearly uniform, take the mean of ``V`` (or, in the causal variant, the cumulative sum of ``V``
up to their position, as in the reference implementation).  Cost: ``O(L_Q U E + u L_K E)``, i.e.
``O(L log L)``.

Causal variant (the decoder's masked self-attention): query ``i`` samples its keys from positions
``0..i`` only, and it is active when its measure ranks among the ``u`` largest of the queries
``0..i`` (a running top-``u``), so that neither its measure nor its selection depends on a later
position: changing a future input never changes an earlier output.  With ``u >= L_Q`` every query is
active and the layer is exactly masked full attention.

Sampling uses the global torch RNG while training; in evaluation mode it draws from a generator with a
fixed seed, so that a fitted model's forecasts are reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .dropout import Dropout

__all__ = ["ProbSparseAttention", "DistillingLayer", "sparsity_measure", "n_active_queries", "n_sampled_keys"]

_EVAL_SEED = 2021
_DENSE_RATIO = 8  # score every pair when L_K <= this x U (see ProbSparseAttention.measure)
_GATHER_ELEMENTS = 1 << 22  # at most this many gathered key elements at once (16 MB in float32)
_ROW_MULTIPLE = 8  # the causal variant computes a multiple of this many query rows (see ProbSparseAttention.forward)


def n_active_queries(factor: float, length: int) -> int:
    """``u = factor * ceil(ln L_Q)``, at most ``L_Q`` (at least 1)."""
    return max(1, min(length, int(factor * math.ceil(math.log(max(length, 2))))))


def n_sampled_keys(factor: float, length: int) -> int:
    """``U = factor * ceil(ln L_K)``, at most ``L_K`` (at least 1)."""
    return max(1, min(length, int(factor * math.ceil(math.log(max(length, 2))))))


def sparsity_measure(scores: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Max-mean measurement over the last axis: ``scores (..., U) -> (...)``; ``valid`` masks scores out."""
    if valid is None:
        return scores.amax(-1) - scores.mean(-1)
    top = scores.masked_fill(~valid, float("-inf")).amax(-1)
    mean = (scores * valid).sum(-1) / valid.sum(-1).clamp_min(1)
    return top - mean


def _running_top_u(measure: torch.Tensor, u: int, chunk: int = 64) -> torch.Tensor:
    """``measure (B, H, L) -> active (B, H, L)``: position ``i`` is active when fewer than ``u`` of the
    positions ``j < i`` have a larger measure (ties go to the earlier position).

    Done chunk by chunk with the running ``u`` largest values of the previous chunks: ``O(L (chunk + u))``.
    """
    B, H, L = measure.shape
    chunk = max(chunk, u)
    active = torch.empty(B, H, L, dtype=torch.bool, device=measure.device)
    best = measure.new_empty(B, H, 0)  # the u largest measures seen so far
    lower = torch.ones(chunk, chunk, dtype=torch.bool, device=measure.device).tril(-1)  # j < i within a chunk
    for lo in range(0, L, chunk):
        m = measure[..., lo:lo + chunk]  # (B, H, c)
        c = m.shape[-1]
        before = (best[..., None, :] >= m[..., :, None]).sum(-1)  # earlier chunks: (B, H, c)
        within = ((m[..., None, :] >= m[..., :, None]) & lower[:c, :c]).sum(-1)
        active[..., lo:lo + c] = (before + within) < u
        best = torch.cat([best, m], dim=-1)
        if best.shape[-1] > u:
            best = best.topk(u, dim=-1).values
    return active


class ProbSparseAttention(nn.Module):
    """ProbSparse attention: an inner attention ``(q, k, v) (B, H, L, E) -> (B, H, L_q, E)``.

    Args:
        factor: the sampling factor ``c`` of ``u = c ln L_Q`` and ``U = c ln L_K`` (the paper's 5).
        dropout: on the attention weights of the active queries.
        scale: score scale (default ``1 / sqrt(E)``).
        n_top, n_sample: fix ``u`` and ``U`` instead of deriving them from ``factor`` (tests, studies).
            ``U >= L_K`` scores every key (no sampling).

    ``forward(q, k, v, causal=False)``; the causal variant needs ``L_q == L_k``.
    """

    def __init__(self, *, factor: float = 5, dropout: float = 0.0, scale: float | None = None,
                 n_top: int | None = None, n_sample: int | None = None):
        super().__init__()
        self.factor = factor
        self.scale = scale
        self.n_top = n_top
        self.n_sample = n_sample
        self.dropout = Dropout(dropout)

    def _sizes(self, L_q: int, L_k: int) -> tuple[int, int]:
        u = n_active_queries(self.factor, L_q) if self.n_top is None else max(1, min(self.n_top, L_q))
        U = n_sampled_keys(self.factor, L_k) if self.n_sample is None else max(1, self.n_sample)
        return u, U

    def _uniform(self, shape, device) -> torch.Tensor:
        if self.training:
            return torch.rand(shape, device=device)
        gen = torch.Generator(device=device).manual_seed(_EVAL_SEED)
        return torch.rand(shape, device=device, generator=gen)

    def measure(self, q: torch.Tensor, k: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        """The sparsity measurement of every query, ``(B, H, L_q)``, on ``U`` sampled keys (unscaled scores)."""
        L_q, L_k = q.shape[-2], k.shape[-2]
        _, U = self._sizes(L_q, L_k)
        if U >= L_k:  # every key: the exact measurement
            scores = q @ k.transpose(-2, -1)  # (B, H, L_q, L_k)
            valid = None
            if causal:
                valid = torch.ones(L_q, L_k, dtype=torch.bool, device=q.device).tril()
            return sparsity_measure(scores, valid)
        # the same U sampled key positions for every batch element and head, as in the reference code
        r = self._uniform((L_q, U), q.device)
        if causal:  # query i samples from keys 0..i
            idx = (r * torch.arange(1, L_q + 1, device=q.device)[:, None]).long()
        else:
            idx = (r * L_k).long()
        idx = idx.clamp_max(L_k - 1)
        if L_k <= _DENSE_RATIO * U:
            # short sequences: one matmul over every pair, then the sampled pairs, is faster than gathering
            # a (B, H, L_q, U, E) copy of the keys; the scores are the same
            B, H = q.shape[:2]
            scores = (q @ k.transpose(-2, -1)).gather(-1, idx[None, None].expand(B, H, L_q, U))
        else:  # gather each query's sampled keys, a block of queries at a time to bound the memory
            B, H, _, E = q.shape
            step = max(1, _GATHER_ELEMENTS // max(B * H * U * E, 1))
            scores = torch.cat([torch.einsum("bhqe,bhque->bhqu", q[:, :, lo:lo + step], k[:, :, idx[lo:lo + step]])
                                for lo in range(0, L_q, step)], dim=2)
        return sparsity_measure(scores)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        B, H, L_q, E = q.shape
        L_k = k.shape[-2]
        if causal and L_q != L_k:
            raise ValueError(f"causal ProbSparse attention needs as many queries as keys, got {L_q} and {L_k}")
        u, _ = self._sizes(L_q, L_k)
        scale = self.scale if self.scale is not None else 1.0 / math.sqrt(E)
        # the measure only ranks the queries (integer indices onward): no gradient flows through it, so it
        # keeps no graph (its sampled scores were 11% of what an Informer step saved for backward)
        with torch.no_grad():
            m = self.measure(q, k, causal=causal)  # (B, H, L_q)

        # the lazy queries' output: mean of V, or its running sum for the causal variant
        out = v.cumsum(dim=-2) if causal else v.mean(dim=-2, keepdim=True).expand(B, H, L_q, v.shape[-1])
        if causal:
            active = _running_top_u(m, u)
            # rounded up to a multiple of 8: the count varies from batch to batch (51-58 of 144 in an ETTh1
            # Informer); a few sizes instead of a new one every step (a recompilation each under compile=True)
            n = min(L_q, -(-int(active.sum(-1).max()) // _ROW_MULTIPLE) * _ROW_MULTIPLE)
            # the (up to n) active positions of each row, in order; padding rows are inactive ones
            top = (active.float() * 2 - torch.arange(L_q, device=q.device) / L_q).topk(n, dim=-1).indices
            keep = active.gather(-1, top)  # (B, H, n)
        else:
            top = m.topk(u, dim=-1, sorted=False).indices  # (B, H, u)
            keep = None
        q_top = q.gather(2, top[..., None].expand(-1, -1, -1, E))  # (B, H, n, E)
        scores = (q_top @ k.transpose(-2, -1)) * scale  # (B, H, n, L_k)
        if causal:
            future = torch.arange(L_k, device=q.device)[None, None, None, :] > top[..., None]
            scores = scores.masked_fill(future, float("-inf"))
        attn = self.dropout(torch.softmax(scores, dim=-1))
        ctx = (attn @ v).to(out.dtype)  # (B, H, n, E)
        if keep is not None:  # padding positions keep their lazy output
            ctx = torch.where(keep[..., None], ctx, out.gather(2, top[..., None].expand(-1, -1, -1, ctx.shape[-1])))
        return out.scatter(2, top[..., None].expand(-1, -1, -1, ctx.shape[-1]), ctx)


class DistillingLayer(nn.Module):
    """Self-attention distilling: ``Conv1d(k=3, circular) -> BatchNorm -> ELU -> MaxPool(3, stride 2)``.

    ``(B, L, D) -> (B, ceil(L / 2), D)``: halves the sequence between Informer's encoder layers.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)
        self.pool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.elu(self.norm(self.conv(rearrange(x, "b l d -> b d l"))))
        return rearrange(self.pool(y), "b d l -> b l d")
