"""A training step of a Mamba that scans over time, built from tsformer's layers: the parallel scan against a loop.

    python benchmarks/mamba_over_time.py [--threads 2] [--steps 10] [--lookback 96]

tsformer's Mamba forecaster is S-Mamba, which scans over the variates (11 tokens on ETTh1), so its scans are
short. The issue's yardstick for the torch scan is Time-Series-Library's ``MambaSimple``, which scans over the
96 time steps with a Python loop (about 2,000 s an epoch). This script builds that network's layout from
tsformer's parts, so the two scans can be timed in the same network at its ETTh1 size: instance
normalization, tsformer's ``DataEmbedding`` (7 channels and 4 calendar features to d_model 128), two residual
layers of RMSNorm and tsformer's ``MambaBlock`` (expand 2, state 16, convolution 4), RMSNorm, and a linear
map back to the 7 channels at every step (seq_len = pred_len = lookback). One training step is forward, MSE,
backward and Adam on a random batch of 32; each figure is the median of ``--steps`` steps after two warm-up
steps, the two scans alternating step by step:

* ``parallel``: the block as it trains (``selective_scan(mode="parallel")``: the odd-even scan over chunks of
  time sized to the CPU's cache, ``ssm.CPU_CHUNK_BYTES``);
* ``loop``: the same block with the scan run as a loop over time (``mode="recurrent"``, differentiated by
  autograd), which is how ``MambaSimple`` runs it.

Time-Series-Library's own ``MambaSimple`` step is not run here (no script that fetches or runs it is
committed); RESULTS.md records it as measured by hand.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from tsformer.nn.layers import DataEmbedding, ssm
from tsformer.nn.layers.ssm import MambaBlock

sys.path.insert(0, str(Path(__file__).parent))
from ltsf import machine  # noqa: E402


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaOverTime(nn.Module):
    """``(B, L, C), (B, L, F) -> (B, L, C)``: Mamba layers over the time axis, MambaSimple's layout."""

    def __init__(self, c: int = 7, n_marks: int = 4, d_model: int = 128, d_state: int = 16, d_conv: int = 4,
                 expand: int = 2, e_layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.embedding = DataEmbedding(c, d_model, n_marks=n_marks, dropout=dropout)
        self.norms = nn.ModuleList(RMSNorm(d_model) for _ in range(e_layers))
        self.mixers = nn.ModuleList(MambaBlock(d_model, d_state=d_state, d_conv=d_conv, expand=expand, scan="torch")
                                    for _ in range(e_layers))
        self.norm = RMSNorm(d_model)
        self.out = nn.Linear(d_model, c, bias=False)

    def forward(self, x, marks):
        mean = x.mean(1, keepdim=True).detach()
        std = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + 1e-5).detach()
        h = self.embedding((x - mean) / std, marks)
        for norm, mixer in zip(self.norms, self.mixers):
            h = h + mixer(norm(h))
        return self.out(self.norm(h)) * std + mean


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = MambaOverTime()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x, marks, y = torch.randn(args.batch, args.lookback, 7), torch.rand(args.batch, args.lookback, 4) - 0.5, \
        torch.randn(args.batch, args.lookback, 7)
    parallel = ssm.selective_scan
    scans = {"parallel": parallel, "loop": functools.partial(parallel, mode="recurrent")}

    def step(scan):
        ssm.selective_scan = scans[scan]  # what MambaBlock.forward calls
        try:
            t0 = time.perf_counter()
            loss = nn.functional.mse_loss(net(x, marks), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return time.perf_counter() - t0
        finally:
            ssm.selective_scan = parallel

    times = {name: [] for name in scans}
    for i in range(args.steps + 2):
        for name in scans:
            t = step(name)
            if i >= 2:
                times[name].append(t)
    n_weights = sum(p.numel() for p in net.parameters())
    print(f"Mamba over time (MambaSimple's layout, {n_weights:,} weights), batch {args.batch}, L {args.lookback}; "
          f"{machine()}")
    print("\n| scan | ms per training step (median) |\n|---|---:|")
    for name, ts in times.items():
        print(f"| {name} | {1000 * statistics.median(ts):.0f} |")
    ratio = statistics.median(times["parallel"]) / statistics.median(times["loop"])
    print(f"\nparallel / loop: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
