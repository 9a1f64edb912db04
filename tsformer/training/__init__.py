"""Training: one LightningModule for every network, and the trainer factory."""

from .callbacks import EpochReport
from .module import LOSSES, LR_SCHEDULES, ForecastingModule
from .trainer import make_loader, make_trainer, quiet_lightning, seed_everything, train_network

__all__ = ["EpochReport", "ForecastingModule", "LOSSES", "LR_SCHEDULES", "make_loader", "make_trainer", "quiet_lightning",
           "seed_everything", "train_network"]
