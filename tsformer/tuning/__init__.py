"""Hyperparameter search with Optuna for every registered forecaster.

    >>> from tsformer.tuning import tune
    >>> result = tune("itransformer", df, horizon=24, n_trials=30, storage="study.journal")
    >>> result.best_params, result.best_score, result.study
    >>> result.best_estimator.predict()

The search space of a model is its estimator's ``search_space(trial)`` class method, so a forecaster
added to the registry is tunable as soon as it declares one.  Trials are scored by the
estimator's own rolling-origin backtest on the tail of the frame (see :mod:`tsformer.tuning.tuner`),
pruned on the ``val_loss`` of each epoch, and counted exactly over any number of workers sharing a
study (journal file, SQLite, PostgreSQL, ...).

Imports: Optuna, the registry, and one callback of the training layer, ``EpochReport``: the pruning
hook has to be a Lightning callback and only ``tsformer.training`` may import Lightning, while only
this package imports Optuna, so the callback takes a plain function and the Optuna part (report,
should_prune, TrialPruned) lives here.
"""

from .search import PRUNERS
from .storage import open_storage
from .tuner import LOOKBACK_MULTIPLES, METRICS, TuneResult, Tuner, trials_table, tune

__all__ = ["tune", "Tuner", "TuneResult", "trials_table", "open_storage", "METRICS", "PRUNERS", "LOOKBACK_MULTIPLES"]
