"""Heads the estimators put around any network.

``FutureCovariateHead``: a direct route from each future step's known covariates to that step's
forecast, for every model.  The network still receives the covariates with its calendar features
(Informer's and Autoformer's decoders embed them, iTransformer and S-Mamba turn them into tokens);
models whose paper has no time-feature path at all (ETSformer, xLSTMTime) get their covariate effect
from this head alone.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

__all__ = ["FutureCovariateHead"]


class FutureCovariateHead(nn.Module):
    """``net(x, x_mark, y_mark) + W · covariates(y_mark)``: a learned linear effect per variate (and output).

    The covariates are the last ``n_covariates`` columns of the marks.  ``W`` starts at zero, so the
    wrapped model starts out exactly as the bare network.

    ``forward(x (B, L, C), x_mark (B, L, F), y_mark (B, H, F)) -> (B, H, C)`` or ``(B, H, C, Q)``.
    """

    def __init__(self, network: nn.Module, *, n_covariates: int, n_vars: int, n_outputs: int = 1):
        super().__init__()
        self.network = network
        self.n_covariates = n_covariates
        self.n_outputs = n_outputs
        self.proj = nn.Linear(n_covariates, n_vars * n_outputs)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def effect(self, y_mark: torch.Tensor) -> torch.Tensor:
        """The covariates' contribution alone: ``(B, H, F) -> (B, H, C)`` or ``(B, H, C, Q)``."""
        effect = self.proj(y_mark[..., -self.n_covariates:])  # (B, H, C * Q)
        return rearrange(effect, "b h (c q) -> b h c q", q=self.n_outputs) if self.n_outputs > 1 else effect

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None,
                y_mark: torch.Tensor | None = None) -> torch.Tensor:
        return self.network(x, x_mark, y_mark) + self.effect(y_mark)
