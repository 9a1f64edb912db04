"""Training: one LightningModule for every network, and the trainer factory."""

from .callbacks import EpochReport
from .heads import FutureCovariateHead
from .module import LOSSES, LR_SCHEDULES, ForecastingModule, pinball_loss, sort_quantiles
from .trainer import is_global_zero, make_loader, make_trainer, quiet_lightning, seed_everything, train_network

__all__ = ["EpochReport", "FutureCovariateHead", "ForecastingModule", "pinball_loss", "sort_quantiles", "LOSSES", "LR_SCHEDULES", "make_loader",
           "make_trainer", "quiet_lightning", "seed_everything", "train_network", "is_global_zero"]
