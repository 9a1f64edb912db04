"""Selective state space model (Mamba, Gu & Dao 2023): the scan and the block.

For every channel ``d`` and state index ``n`` the selective scan runs the recurrence

    h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t        (A discretized by zero-order hold, B by Euler, as mamba_ssm)
    y_t = C_t · h_t + D u_t,        out_t = y_t * silu(z_t)

where ``Δ_t = softplus(Δ̃_t + bias)``, ``B_t`` and ``C_t`` depend on the input (the *selection*), and
``A = -exp(A_log)`` is a fixed diagonal.  Three ways to evaluate it, all equal:

* :func:`linear_scan` — the parallel form: ``h_t = a_t h_{t-1} + b_t`` by an odd-even (Blelloch-style)
  reduction, ``O(log L)`` sequential steps and ``O(L)`` work; its backward pass is the same scan run
  backwards, so autograd keeps only ``a`` and ``h``.  Used for training (when gradients are needed).
  On a CPU :func:`selective_scan` runs it over chunks of the time axis, carrying the state from one chunk to
  the next, so that a chunk's ``(time, batch, D, N)`` tensors stay in the cache (``CPU_CHUNK_BYTES``): the
  whole-sequence form is memory-bound once ``batch * D * N`` is large (2-4x slower at batch 16-32, D 512,
  N 16, L 325 on a 2-core CPU; ``benchmarks/scan_scaling.py --whole``).
* ``mode="recurrent"`` of :func:`selective_scan` — one step at a time, keeping only the state
  ``(B, D, N)``: constant memory, used for inference; :meth:`MambaBlock.step` is the same recurrence
  one token at a time, with the convolution's window carried in the returned state.
* mamba_ssm's fused CUDA kernel ``selective_scan_fn`` (optional extra ``tsformer[mamba-cuda]``), used for
  CUDA tensors when installed; :func:`selective_scan` has the same signature and layouts, so the two
  are interchangeable.

:class:`MambaBlock` uses the parameter names of ``mamba_ssm.modules.mamba_simple.Mamba``
(``in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj``), so state dicts load into either.
"""

from __future__ import annotations

import functools
import importlib
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["linear_scan", "selective_scan", "fused_selective_scan", "resolve_scan", "MambaBlock", "MambaState",
           "SCANS", "FUSED_KERNEL_MODULE", "CPU_CHUNK_BYTES"]

#: accepted values of ``scan``
SCANS = ("auto", "torch", "cuda")
#: where mamba_ssm keeps its fused kernel
FUSED_KERNEL_MODULE = "mamba_ssm.ops.selective_scan_interface"
#: bytes of one chunk's ``(time, batch, D, N)`` tensors in the parallel form on a CPU
CPU_CHUNK_BYTES = 8 * 2**20
_MISSING_KERNEL = ("scan='cuda' needs mamba_ssm's fused selective-scan kernel; install it with "
                   "`pip install tsformer[mamba-cuda]` (a CUDA build of torch is required), or use scan='auto'/'torch'")


# ---------------------------------------------------------------------------------------- linear scan


def _odd_even_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``h_t = a_t h_{t-1} + b_t`` (``h_{-1} = 0``) along dim 0, in ``ceil(log2 L)`` levels.

    Each level combines neighbouring pairs ``(a_{2i}, b_{2i}), (a_{2i+1}, b_{2i+1})`` into one step
    ``(a_{2i+1} a_{2i}, a_{2i+1} b_{2i} + b_{2i+1})``, solves the half-length problem for the odd
    positions, then fills in the even positions from their odd predecessors.
    """
    n = a.shape[0]
    if n == 1:
        return b.clone()
    half = n // 2
    a_even, a_odd = a[0:2 * half:2], a[1:2 * half:2]
    b_even, b_odd = b[0:2 * half:2], b[1:2 * half:2]
    h_odd = _odd_even_scan(a_odd * a_even, a_odd * b_even + b_odd)  # h_1, h_3, ..., h_{2 half - 1}
    h = torch.empty_like(b)
    h[1::2] = h_odd
    h[0] = b[0]
    h[2::2] = a[2::2] * h_odd[: (n - 1) // 2] + b[2::2]
    return h


class _LinearScan(torch.autograd.Function):
    """Parallel scan with a parallel backward: ``∂L/∂b_t = g_t + a_{t+1} ∂L/∂b_{t+1}`` is a reversed scan."""

    @staticmethod
    def forward(ctx, a, b):
        h = _odd_even_scan(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h):
        a, h = ctx.saved_tensors
        a_next = torch.cat([a[1:], torch.zeros_like(a[:1])])
        grad_b = _odd_even_scan(a_next.flip(0), grad_h.flip(0)).flip(0)
        h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
        return grad_b * h_prev, grad_b


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, *, dim: int = 0) -> torch.Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` along ``dim``, by the parallel (log-depth) scan.

    Args:
        a, b: same shape, time along ``dim``.
        h0: state before the first step (shape of ``a`` without ``dim``); zero when ``None``.
    Returns:
        ``h`` with the shape of ``b``.
    """
    a, b = torch.broadcast_tensors(a, b)
    a, b = a.movedim(dim, 0), b.movedim(dim, 0)
    if h0 is not None:
        b = torch.cat([b[:1] + a[:1] * h0.unsqueeze(0), b[1:]])
    return _LinearScan.apply(a.contiguous(), b.contiguous()).movedim(0, dim)


# ---------------------------------------------------------------------------------------- selective scan


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, *, mode="parallel"):
    """The selective scan in plain PyTorch, with mamba_ssm's ``selective_scan_fn`` signature and layouts.

    Args:
        u: input ``(batch, D, L)``.  delta: ``Δ̃`` ``(batch, D, L)``.  A: ``(D, N)`` (negative).
        B, C: input-dependent ``(batch, N, L)``.  D: skip ``(D,)``.  z: gate ``(batch, D, L)``.
        delta_bias: ``(D,)`` added to ``delta`` first; delta_softplus: then ``Δ = softplus(Δ)``.
        mode: ``"parallel"`` (log-depth scan, for training) or ``"recurrent"`` (one step at a time,
            state-sized memory, for inference).
    Returns:
        ``(batch, D, L)``.
    """
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    if mode == "parallel":
        L = u.shape[-1]
        step_bytes = max(1, u.shape[0] * u.shape[1] * A.shape[1] * u.element_size())
        chunk = max(1, CPU_CHUNK_BYTES // step_bytes if u.device.type == "cpu" else L)
        delta_u, h, ys = delta * u, None, []
        for start in range(0, L, chunk):  # one chunk on a GPU, and on a CPU when the sequence is small
            t = slice(start, start + chunk)
            dA = torch.exp(torch.einsum("bdl,dn->lbdn", delta[..., t], A))
            dBu = torch.einsum("bdl,bnl->lbdn", delta_u[..., t], B[..., t])
            hs = linear_scan(dA, dBu, h)  # (chunk, batch, D, N), from the state the last chunk left
            ys.append(torch.einsum("lbdn,bnl->bdl", hs, C[..., t]))
            h = hs[-1]
        y = torch.cat(ys, dim=-1) if ys else u.new_zeros(u.shape)
    elif mode == "recurrent":
        h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
        ys = []
        for t in range(u.shape[-1]):
            h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
            ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
        y = torch.stack(ys, dim=-1) if ys else u.new_zeros(u.shape)
    else:
        raise ValueError(f"mode must be 'parallel' or 'recurrent', got {mode!r}")
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


@functools.lru_cache(maxsize=None)
def fused_selective_scan():
    """mamba_ssm's fused ``selective_scan_fn``, or ``None`` when the optional package is not installed."""
    try:
        return importlib.import_module(FUSED_KERNEL_MODULE).selective_scan_fn
    except (ImportError, OSError, AttributeError):
        return None


def resolve_scan(scan: str, device: torch.device) -> str:
    """Which scan runs for tensors on ``device``: ``"cuda"`` (the fused kernel) or ``"torch"``.

    ``"auto"`` takes the kernel for CUDA tensors when mamba_ssm is installed; ``"cuda"`` insists on the
    package (``ImportError`` without it); ``"torch"`` never uses it.  The kernel exists for CUDA tensors
    only, so CPU tensors always take the torch scan (a model trained on a GPU still predicts on the CPU).
    """
    if scan not in SCANS:
        raise ValueError(f"scan must be one of {SCANS}, got {scan!r}")
    if scan == "torch":
        return "torch"
    if scan == "cuda" and fused_selective_scan() is None:
        raise ImportError(_MISSING_KERNEL)
    if device.type != "cuda":
        return "torch"
    return "cuda" if fused_selective_scan() is not None else "torch"


# ---------------------------------------------------------------------------------------- the block


class MambaState(NamedTuple):
    """Recurrent state of one :class:`MambaBlock`: the convolution window and the SSM state."""

    conv: torch.Tensor  # (B, d_inner, d_conv): the last d_conv inputs of the convolution
    ssm: torch.Tensor   # (B, d_inner, d_state)


class MambaBlock(nn.Module):
    """The Mamba block: ``(B, L, d_model) -> (B, L, d_model)``, causal along ``L``.

    ``in_proj`` splits into a branch ``u`` and a gate ``z``; ``u`` goes through a causal depthwise
    ``conv1d`` and SiLU, then ``x_proj`` gives the input-dependent ``Δ̃`` (rank ``dt_rank``, lifted by
    ``dt_proj``), ``B`` and ``C``; the selective scan with ``A = -exp(A_log)`` and skip ``D`` follows, gated
    by ``silu(z)``, and ``out_proj`` maps back.  Initialization follows mamba_ssm (``A_log = log(1..N)``,
    ``Δ`` log-uniform in ``[dt_min, dt_max]`` through the inverse softplus of ``dt_proj.bias``).

    Args:
        d_model: token width.  d_state: SSM state size ``N``.  d_conv: convolution width.
        expand: ``d_inner = expand * d_model``.  dt_rank: rank of ``Δ̃`` (``"auto"``: ``ceil(d_model / 16)``).
        scan: ``"auto"`` (fused kernel on CUDA when mamba_ssm is installed, else torch), ``"torch"``, ``"cuda"``.
    """

    def __init__(self, d_model: int, *, d_state: int = 16, d_conv: int = 4, expand: int = 2, dt_rank="auto",
                 dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4, conv_bias: bool = True,
                 bias: bool = False, scan: str = "auto"):
        super().__init__()
        resolve_scan(scan, torch.device("cpu"))  # validate now: unknown names, or "cuda" without the package
        self.scan = scan
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = d_inner = int(expand * d_model)
        self.dt_rank = dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        self.conv1d = nn.Conv1d(d_inner, d_inner, kernel_size=d_conv, groups=d_inner, padding=d_conv - 1,
                                bias=conv_bias)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)
        std = dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) == dt
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))

    def _scan_inputs(self, u: torch.Tensor):
        """``u (B, L, d_inner)`` after the convolution -> ``Δ̃ (B, d_inner, L)``, ``B, C (B, N, L)``."""
        dt, b, c = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight)  # the bias is added inside the scan (delta_bias)
        return (rearrange(delta, "b l d -> b d l"), rearrange(b, "b l n -> b n l"), rearrange(c, "b l n -> b n l"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        u, z = rearrange(self.in_proj(x), "b l e -> b e l").chunk(2, dim=1)       # (B, d_inner, L) each
        u = F.silu(self.conv1d(u)[..., :L])                                        # causal: drop the right pad
        delta, b, c = self._scan_inputs(rearrange(u, "b d l -> b l d"))
        if resolve_scan(self.scan, x.device) == "cuda":  # the kernel wants float32 A, D and bias, as in mamba_ssm
            y = fused_selective_scan()(u, delta, -torch.exp(self.A_log.float()), b, c, self.D.float(), z=z,
                                       delta_bias=self.dt_proj.bias.float(), delta_softplus=True)
        else:
            mode = "parallel" if torch.is_grad_enabled() else "recurrent"
            y = selective_scan(u, delta, -torch.exp(self.A_log), b, c, self.D, z=z, delta_bias=self.dt_proj.bias,
                               delta_softplus=True, mode=mode)
        return self.out_proj(rearrange(y, "b d l -> b l d"))

    def initial_state(self, batch: int, *, device=None, dtype=None) -> MambaState:
        """Zero state for :meth:`step`."""
        w = self.conv1d.weight
        return MambaState(torch.zeros(batch, self.d_inner, self.d_conv, device=device or w.device, dtype=dtype or w.dtype),
                          torch.zeros(batch, self.d_inner, self.d_state, device=device or w.device, dtype=dtype or w.dtype))

    def step(self, x: torch.Tensor, state: MambaState | None = None) -> tuple[torch.Tensor, MambaState]:
        """The recurrent form, one token at a time: ``x (B, d_model)`` -> ``(y (B, d_model), new state)``.

        Feeding a sequence token by token gives the same outputs as :meth:`forward` on the whole sequence.
        """
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        u, z = self.in_proj(x).chunk(2, dim=-1)                                   # (B, d_inner) each
        window = torch.cat([state.conv[..., 1:], u[..., None]], dim=-1)           # (B, d_inner, d_conv)
        u = (window * self.conv1d.weight[:, 0]).sum(-1)
        if self.conv1d.bias is not None:
            u = u + self.conv1d.bias
        u = F.silu(u)
        delta, b, c = (t[..., 0] for t in self._scan_inputs(u[:, None]))          # (B, d_inner), (B, N), (B, N)
        delta = F.softplus(delta + self.dt_proj.bias)
        A = -torch.exp(self.A_log)
        h = torch.exp(delta[..., None] * A) * state.ssm + (delta * u)[..., None] * b[:, None]
        y = torch.einsum("bdn,bn->bd", h, c) + self.D * u
        return self.out_proj(y * F.silu(z)), MambaState(window, h)
