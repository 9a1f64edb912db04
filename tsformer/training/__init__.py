"""Training: one LightningModule for every network, and the trainer factory.

Names are imported on first use (PEP 562), so what needs no Lightning (the losses, the covariate head)
never imports it: forecasting with a fitted model, or a ``tsformer --help``, starts in a fraction of the
time a fit needs.
"""

from __future__ import annotations

from .._lazy import lazy_names as _lazy_names

_WHERE = {
    "EpochReport": "callbacks",
    "FutureCovariateHead": "heads",
    "ForecastingModule": "module",
    "LOSSES": "losses",
    "LR_SCHEDULES": "losses",
    "halving_factor": "losses",
    "warmup_factor": "losses",
    "pinball_loss": "losses",
    "sort_quantiles": "losses",
    "is_global_zero": "rank",
    "callback_list": "trainer",
    "make_loader": "trainer",
    "make_trainer": "trainer",
    "quiet_lightning": "trainer",
    "seed_everything": "trainer",
    "train_network": "trainer",
}

__all__ = list(_WHERE)

__getattr__, __dir__ = _lazy_names(__name__, _WHERE, globals())
