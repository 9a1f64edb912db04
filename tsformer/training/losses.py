"""Losses and learning-rate schedules: what an estimator validates its parameters against.

Kept apart from the LightningModule so that checking ``loss=`` or ``lr_schedule=`` (and forecasting with a
fitted model) never imports Lightning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "LR_SCHEDULES", "ONE_CYCLE_WARMUP", "WARMUP_EPOCHS", "WARM_START_SCALE", "halving_factor",
           "pinball_loss", "sort_quantiles", "warmup_factor"]


def pinball_loss(y_hat: torch.Tensor, y: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Mean quantile (pinball) loss: ``y_hat (..., Q)`` against ``y (...)`` for the ``Q`` levels in ``quantiles``."""
    diff = y[..., None] - y_hat
    return torch.maximum(quantiles * diff, (quantiles - 1) * diff).mean()


def sort_quantiles(y_hat: torch.Tensor) -> torch.Tensor:
    """Monotone rearrangement (Chernozhukov et al., 2010): sort the quantile axis so quantiles never cross."""
    return torch.sort(y_hat, dim=-1).values


LOSSES = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "huber": F.huber_loss,
    "quantile": pinball_loss,
}
LR_SCHEDULES = ("halve", "cosine", "onecycle", "warmup", "constant")
#: ``"onecycle"``: the share of all training steps spent warming up (the xLSTMTime reference's ``pct_start``)
ONE_CYCLE_WARMUP = 0.2
#: ``"warmup"``: the epochs at a linearly rising rate before the full one (salesforce/ETSformer's ``warmup_epochs``)
WARMUP_EPOCHS = 3
#: ``"warmup"``: the rate of a network's warm-start parameters in the warm-start epoch, as a multiple of
#: ``learning_rate`` (salesforce/ETSformer's default smoothing and damping rates, 100x its ``learning_rate``)
WARM_START_SCALE = 100.0


def halving_factor(epoch: int) -> float:
    """The ``"halve"`` schedule's factor for the 0-based ``epoch``: 1, 1, 0.5, 0.25, ...

    Informer's, Autoformer's and Time-Series-Library's training loops call
    ``adjust_learning_rate(optimizer, epoch + 1)`` after each epoch, which sets
    ``lr * 0.5 ** ((epoch + 1) - 1)``: the second epoch still runs at the full rate, and halving starts
    with the third.
    """
    return 0.5 ** max(epoch - 1, 0)


def warmup_factor(epoch: int, *, warm_start: float | None = None) -> float:
    """The ``"warmup"`` schedule's factor for the 0-based ``epoch``: 1/4, 2/4, 3/4, 1, 0.5, ...

    salesforce/ETSformer's ``exponential_with_warmup``: the rate rises linearly over :data:`WARMUP_EPOCHS` epochs,
    the next epoch trains at the full rate, and every later one at half the one before.  With ``warm_start`` the
    schedule starts one epoch later, after a warm-start epoch at the factor ``warm_start``.
    """
    if warm_start is not None:
        if epoch == 0:
            return warm_start
        epoch -= 1
    k = epoch + 1
    if k <= WARMUP_EPOCHS:
        return k / (WARMUP_EPOCHS + 1)
    return 0.5 ** (k - WARMUP_EPOCHS - 1)
