"""xLSTM (Beck et al., 2024): the sLSTM and mLSTM cells and their residual blocks, in plain PyTorch.

**sLSTM** (scalar memory, memory mixing).  Per step, with pre-activations ``ĩ, f̃, z̃, õ`` made of an
input part ``W x_t``, a *block-diagonal* recurrent part ``R h_{t-1}`` (one ``Dh x Dh`` matrix per head
and gate, so heads never mix) and a bias::

    c_t = f_t c_{t-1} + i_t tanh(z̃_t)        n_t = f_t n_{t-1} + i_t        h_t = σ(õ_t) c_t / n_t
    i_t = exp(ĩ_t)   (exponential input gate)    f_t = σ(f̃_t)

computed with the stabilizer state ``m_t = max(log f_t + m_{t-1}, ĩ_t)`` and the stabilized gates
``i'_t = exp(ĩ_t - m_t)``, ``f'_t = exp(log f_t + m_{t-1} - m_t)``: both are at most 1, so ``exp`` never
overflows, and ``h_t`` is unchanged (``c`` and ``n`` are both scaled by ``exp(-m_t)``).

**mLSTM** (matrix memory, covariance update rule, no memory mixing)::

    C_t = f_t C_{t-1} + i_t v_t k_tᵀ        n_t = f_t n_{t-1} + i_t k_t        h̃_t = C_t q_t / max(|n_tᵀ q_t|, 1)

with ``k`` scaled by ``1/sqrt(Dh)``, scalar gates per head, stabilized the same way.  Without memory
mixing the recurrence unrolls: ``h̃_t = Σ_j D_tj (q_t·k_j) v_j / max(|Σ_j D_tj q_t·k_j|, 1)`` with
``log D_tj = Σ_{r=j+1..t} log f_r + ĩ_j`` for ``j <= t``: :func:`mlstm_parallel` computes this
(training), :func:`mlstm_recurrent` the step-by-step form (inference); they are equal.

The blocks follow the xLSTM paper and its reference package: the sLSTM block is post-up-projection
(pre-LayerNorm, causal conv + SiLU feeding the input and forget gates, sLSTM, head-wise GroupNorm,
residual; then a gated MLP with factor 4/3, residual); the mLSTM block is pre-up-projection
(LayerNorm, up-projection by 2 into an mLSTM branch and an output-gate branch, causal conv + SiLU,
block-diagonal q/k projections, mLSTM, GroupNorm, learnable skip, ``* silu(gate)``, down-projection,
residual).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .checkpoint import CheckpointedLayer
from .dropout import Dropout
from .transformer import activation

__all__ = [
    "HeadwiseLinear", "CausalConv1d", "GatedFeedForward",
    "SLSTMState", "slstm_scan", "SLSTMLayer", "SLSTMBlock",
    "mlstm_parallel", "mlstm_recurrent", "MLSTMLayer", "MLSTMBlock",
    "XLSTMStack",
]


def _round_up(x: float, multiple: int) -> int:
    return int(math.ceil(x / multiple) * multiple)


def _small_init_(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """"Transformers without tears" init: ``N(0, 2 / (5 dim))``."""
    return nn.init.normal_(weight, mean=0.0, std=math.sqrt(2 / (5 * dim)))


def _head_norm(x: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """Normalize each head's features separately: ``(B, S, D) -> (B, S, D)`` through a ``GroupNorm(n_heads, D)``."""
    b = x.shape[0]
    return rearrange(norm(rearrange(x, "b s d -> (b s) d")), "(b s) d -> b s d", b=b)


class HeadwiseLinear(nn.Module):
    """Block-diagonal linear map: features split into ``n_heads`` groups, one square matrix per group.

    ``(..., d) -> (..., d)``; ``weight`` is ``(n_heads, d / n_heads (out), d / n_heads (in))``.
    """

    def __init__(self, d: int, n_heads: int, *, bias: bool = False, init_dim: int | None = None):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"the width ({d}) must be divisible by the number of heads ({n_heads})")
        self.n_heads = n_heads
        self.weight = nn.Parameter(_small_init_(torch.empty(n_heads, d // n_heads, d // n_heads), init_dim or d))
        self.bias = nn.Parameter(torch.zeros(d)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "... (h i) -> ... h i", h=self.n_heads)
        y = rearrange(torch.einsum("...hi,hoi->...ho", x, self.weight), "... h o -> ... (h o)")
        return y if self.bias is None else y + self.bias


class CausalConv1d(nn.Module):
    """Depthwise convolution along the sequence that sees only the past: ``(B, S, D) -> (B, S, D)``."""

    def __init__(self, d: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(d, d, kernel_size, groups=d, padding=kernel_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(rearrange(x, "b s d -> b d s"))[..., : x.shape[1]]
        return rearrange(y, "b d s -> b s d")


class GatedFeedForward(nn.Module):
    """``down(act(gate) * up)`` with ``gate, up = proj_up(x)``; inner width ``proj_factor * d`` rounded up to 64."""

    def __init__(self, d: int, *, proj_factor: float = 4 / 3, act: str = "gelu", dropout: float = 0.0):
        super().__init__()
        self.inner = _round_up(proj_factor * d, 64)
        self.proj_up = nn.Linear(d, 2 * self.inner, bias=False)
        self.proj_down = nn.Linear(self.inner, d, bias=False)
        self.act = activation(act)
        self.dropout = Dropout(dropout)
        _small_init_(self.proj_up.weight, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.proj_up(x).split(self.inner, dim=-1)
        return self.dropout(self.proj_down(self.act(gate) * up))


# ---------------------------------------------------------------------------------------------- sLSTM


class SLSTMState(NamedTuple):
    """sLSTM state, each ``(B, D)``: hidden ``h``, cell ``c``, normalizer ``n``, stabilizer ``m``."""

    h: torch.Tensor
    c: torch.Tensor
    n: torch.Tensor
    m: torch.Tensor


def slstm_scan(wx: torch.Tensor, recurrent: torch.Tensor, bias: torch.Tensor,
               state: SLSTMState | None = None) -> tuple[torch.Tensor, SLSTMState]:
    """Run the stabilized sLSTM over a sequence.

    Args:
        wx: input parts of the pre-activations ``(B, S, 4, D)``, gates in the order ``i, f, z, o``.
        recurrent: block-diagonal recurrent weights ``(4, H, Dh, Dh)`` (gate, head, in, out).
        bias: ``(4, D)``.
        state: state before the first step; ``None`` starts from zero (then ``m_0 = ĩ_0``).
    Returns:
        ``h (B, S, D)`` and the final state.
    """
    n_heads = recurrent.shape[1]
    outs = []
    for t in range(wx.shape[1]):
        raw = wx[:, t] + bias
        if state is not None:
            h_heads = rearrange(state.h, "b (h i) -> b h i", h=n_heads)
            raw = raw + rearrange(torch.einsum("bhi,ghio->bgho", h_heads, recurrent), "b g h o -> b g (h o)")
        i_raw, f_raw, z_raw, o_raw = raw.unbind(1)
        log_f = F.logsigmoid(f_raw)
        z, o = torch.tanh(z_raw), torch.sigmoid(o_raw)
        if state is None:  # c = n = 0: only the input term counts, and it is stabilized to exactly 1
            m = i_raw
            c, n = z, torch.ones_like(z)
        else:
            m = torch.maximum(log_f + state.m, i_raw)
            i_gate, f_gate = torch.exp(i_raw - m), torch.exp(log_f + state.m - m)
            c = f_gate * state.c + i_gate * z
            n = f_gate * state.n + i_gate
        state = SLSTMState(o * c / n, c, n, m)
        outs.append(state.h)
    return torch.stack(outs, dim=1), state


class SLSTMLayer(nn.Module):
    """sLSTM with ``n_heads`` heads: ``(B, S, D) -> (B, S, D)``.

    Input and forget gates read the causal-convolved input (``conv_kernel``, 0 disables the convolution),
    the cell input and the output gate read the input itself; all input weights are block-diagonal
    per head, like the recurrent ones.  The output is normalized per head.
    """

    def __init__(self, d: int, *, n_heads: int = 4, conv_kernel: int = 4, dropout: float = 0.0,
                 block_index: int = 0, n_blocks: int = 1):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d_model ({d}) must be divisible by n_heads ({n_heads})")
        self.conv = CausalConv1d(d, conv_kernel) if conv_kernel > 0 else None
        self.gates = nn.ModuleList([HeadwiseLinear(d, n_heads) for _ in range(4)])  # i, f, z, o
        dh = d // n_heads
        self.recurrent = nn.Parameter(torch.zeros(4, n_heads, dh, dh))
        self.bias = nn.Parameter(torch.zeros(4, d))
        with torch.no_grad():  # forget-gate biases spread over [-7, 5] per head, later blocks remember longer
            ratio = block_index / (n_blocks - 1) if n_blocks > 1 else 0.0
            pos = torch.arange(dh) / max(dh - 1, 1)
            self.bias[1] = (5.0 - 12.0 * pos ** (0.3 + 1.3 * ratio)).repeat(n_heads)
        self.dropout = Dropout(dropout)
        self.norm = nn.GroupNorm(n_heads, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xc = F.silu(self.conv(x)) if self.conv is not None else x
        i, f, z, o = (gate(inp) for gate, inp in zip(self.gates, (xc, xc, x, x)))
        h, _ = slstm_scan(torch.stack([i, f, z, o], dim=2), self.recurrent, self.bias)
        return _head_norm(self.dropout(h), self.norm)


class SLSTMBlock(CheckpointedLayer):
    """``x + slstm(norm(x))`` then ``x + gated_ffn(norm(x))``; ``(B, S, D) -> (B, S, D)``."""

    def __init__(self, d: int, *, n_heads: int = 4, conv_kernel: int = 4, ffn_factor: float = 4 / 3,
                 dropout: float = 0.0, block_index: int = 0, n_blocks: int = 1):
        super().__init__()
        self.norm = nn.LayerNorm(d, bias=False)
        self.cell = SLSTMLayer(d, n_heads=n_heads, conv_kernel=conv_kernel, dropout=dropout,
                               block_index=block_index, n_blocks=n_blocks)
        self.ffn_norm = nn.LayerNorm(d, bias=False)
        self.ffn = GatedFeedForward(d, proj_factor=ffn_factor, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.branch(lambda x: self.cell(self.norm(x)), x)
        return x + self.branch(lambda x: self.ffn(self.ffn_norm(x)), x)


# ---------------------------------------------------------------------------------------------- mLSTM


def mlstm_parallel(q, k, v, i_pre, f_pre, *, eps: float = 1e-6) -> torch.Tensor:
    """mLSTM in parallel form: ``q, k, v (B, H, S, Dh)``, gate pre-activations ``(B, H, S)`` -> ``h̃ (B, H, S, Dh)``."""
    s, dh = q.shape[-2], q.shape[-1]
    cum = F.logsigmoid(f_pre).cumsum(-1)                                      # Σ_{r<=t} log f_r
    log_d = cum[..., :, None] - cum[..., None, :] + i_pre[..., None, :]        # (B, H, S, S): [t, j]
    causal = torch.ones(s, s, dtype=torch.bool, device=q.device).tril()
    log_d = log_d.masked_fill(~causal, float("-inf"))
    m = log_d.amax(-1, keepdim=True)                                           # the stabilizer m_t
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh) * torch.exp(log_d - m)
    norm = torch.maximum(scores.sum(-1, keepdim=True).abs(), torch.exp(-m))
    return (scores / (norm + eps)) @ v


def mlstm_recurrent(q, k, v, i_pre, f_pre, *, eps: float = 1e-6) -> torch.Tensor:
    """mLSTM in recurrent form, one step at a time (matrix memory ``C (B, H, Dh, Dh)``); same I/O as :func:`mlstm_parallel`."""
    dh = q.shape[-1]
    mem = q.new_zeros(*q.shape[:2], dh, dh)
    nrm = q.new_zeros(*q.shape[:2], dh)
    m = None
    outs = []
    for t in range(q.shape[-2]):
        log_f, i_raw = F.logsigmoid(f_pre[..., t]), i_pre[..., t]
        m_new = i_raw if m is None else torch.maximum(log_f + m, i_raw)
        f_gate = torch.zeros_like(m_new) if m is None else torch.exp(log_f + m - m_new)
        i_gate = torch.exp(i_raw - m_new)
        kt, vt, qt = k[..., t, :] / math.sqrt(dh), v[..., t, :], q[..., t, :]
        mem = f_gate[..., None, None] * mem + i_gate[..., None, None] * (vt[..., :, None] * kt[..., None, :])
        nrm = f_gate[..., None] * nrm + i_gate[..., None] * kt
        num = (mem @ qt[..., None])[..., 0]
        den = torch.maximum((nrm * qt).sum(-1).abs(), torch.exp(-m_new))
        outs.append(num / (den[..., None] + eps))
        m = m_new
    return torch.stack(outs, dim=-2)


class MLSTMLayer(nn.Module):
    """The mLSTM block's inside (pre-up-projection): ``(B, S, D) -> (B, S, D)``.

    ``mode``: ``"auto"`` (parallel form when gradients are needed, recurrent otherwise), ``"parallel"`` or
    ``"recurrent"``.
    """

    def __init__(self, d: int, *, n_heads: int = 4, conv_kernel: int = 4, qkv_blocksize: int = 4,
                 proj_factor: float = 2.0, dropout: float = 0.0, n_blocks: int = 1, mode: str = "auto"):
        super().__init__()
        inner = _round_up(proj_factor * d, 64)
        if inner % n_heads or inner % qkv_blocksize:
            raise ValueError(f"the mLSTM width {inner} must be divisible by n_heads ({n_heads}) and {qkv_blocksize}")
        if mode not in ("auto", "parallel", "recurrent"):
            raise ValueError(f"mode must be 'auto', 'parallel' or 'recurrent', got {mode!r}")
        self.inner, self.n_heads, self.mode = inner, n_heads, mode
        self.proj_up = nn.Linear(d, 2 * inner, bias=False)
        self.conv = CausalConv1d(inner, conv_kernel)
        blocks = inner // qkv_blocksize
        self.q_proj = HeadwiseLinear(inner, blocks, init_dim=d)
        self.k_proj = HeadwiseLinear(inner, blocks, init_dim=d)
        self.v_proj = HeadwiseLinear(inner, blocks, init_dim=d)
        self.igate = nn.Linear(3 * inner, n_heads)
        self.fgate = nn.Linear(3 * inner, n_heads)
        self.norm = nn.GroupNorm(n_heads, inner)
        self.skip = nn.Parameter(torch.ones(inner))
        self.proj_down = nn.Linear(inner, d, bias=False)
        self.dropout = Dropout(dropout)
        _small_init_(self.proj_up.weight, d)
        nn.init.normal_(self.proj_down.weight, std=2 / n_blocks / math.sqrt(d))
        with torch.no_grad():  # gates start input-independent: forget gates open (bias 3..6), input gates ~0
            nn.init.zeros_(self.fgate.weight)
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, n_heads))
            nn.init.zeros_(self.igate.weight)
            nn.init.normal_(self.igate.bias, std=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_m, gate = self.proj_up(x).split(self.inner, dim=-1)
        x_conv = F.silu(self.conv(x_m))
        q, k, v = self.q_proj(x_conv), self.k_proj(x_conv), self.v_proj(x_m)
        qkv = torch.cat([q, k, v], dim=-1)
        i_pre = rearrange(self.igate(qkv), "b s h -> b h s")
        f_pre = rearrange(self.fgate(qkv), "b s h -> b h s")
        q, k, v = (rearrange(t, "b s (h e) -> b h s e", h=self.n_heads) for t in (q, k, v))
        mode = self.mode if self.mode != "auto" else ("parallel" if torch.is_grad_enabled() else "recurrent")
        cell = mlstm_parallel if mode == "parallel" else mlstm_recurrent
        h = rearrange(cell(q, k, v, i_pre, f_pre), "b h s e -> b s (h e)")
        h = _head_norm(h, self.norm) + self.skip * x_conv
        return self.dropout(self.proj_down(h * F.silu(gate)))


class MLSTMBlock(CheckpointedLayer):
    """``x + mlstm_layer(norm(x))``; ``(B, S, D) -> (B, S, D)``."""

    def __init__(self, d: int, *, n_heads: int = 4, conv_kernel: int = 4, dropout: float = 0.0, n_blocks: int = 1,
                 mode: str = "auto"):
        super().__init__()
        self.norm = nn.LayerNorm(d, bias=False)
        self.cell = MLSTMLayer(d, n_heads=n_heads, conv_kernel=conv_kernel, dropout=dropout, n_blocks=n_blocks,
                               mode=mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(lambda x: self.cell(self.norm(x)), x)


class XLSTMStack(nn.Module):
    """``n_blocks`` sLSTM or mLSTM blocks and a final LayerNorm: ``(B, S, D) -> (B, S, D)``, causal along ``S``."""

    def __init__(self, d: int, *, n_blocks: int = 3, cell: str = "slstm", n_heads: int = 4, conv_kernel: int = 4,
                 ffn_factor: float = 4 / 3, dropout: float = 0.0):
        super().__init__()
        if cell == "slstm":
            blocks = [SLSTMBlock(d, n_heads=n_heads, conv_kernel=conv_kernel, ffn_factor=ffn_factor, dropout=dropout,
                                 block_index=i, n_blocks=n_blocks) for i in range(n_blocks)]
        elif cell == "mlstm":
            blocks = [MLSTMBlock(d, n_heads=n_heads, conv_kernel=conv_kernel, dropout=dropout, n_blocks=n_blocks)
                      for _ in range(n_blocks)]
        else:
            raise ValueError(f"cell must be 'slstm' or 'mlstm', got {cell!r}")
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
