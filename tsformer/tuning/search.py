"""What a trial samples and how: search spaces, the per-trial seeded sampler, the pruners."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from ..errors import ConfigError

__all__ = ["PRUNERS", "FixedParamsTrial", "TrialSeededSampler", "make_pruner", "space_function"]

PRUNERS = ("median", "halving", "hyperband", "none")


def _suggest(trial, name: str, dist: BaseDistribution):
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_categorical(name, list(dist.choices))


def space_function(cls, search_space=None):
    """``trial -> params``: the estimator's own ``search_space``, a user callable, or a dict.

    A dict maps parameter names to Optuna distributions (``FloatDistribution(1e-5, 1e-2, log=True)``,
    ``IntDistribution(1, 4)``, ``CategoricalDistribution([64, 128])``); a list stands for a categorical.
    """
    if search_space is None:
        return cls.search_space
    if callable(search_space):
        return search_space
    if not isinstance(search_space, Mapping):
        raise ConfigError(f"search_space must be None, a callable trial -> params or a dict of distributions, "
                          f"got {type(search_space).__name__}")
    dists = {}
    for name, dist in search_space.items():
        if isinstance(dist, (list, tuple)) and len(dist) > 0:
            dist = CategoricalDistribution(list(dist))
        if not isinstance(dist, BaseDistribution):
            raise ConfigError(f"search_space[{name!r}] must be an optuna distribution or a list of choices, "
                              f"got {dist!r}")
        dists[name] = dist
    return lambda trial: {name: _suggest(trial, name, dist) for name, dist in dists.items()}


class FixedParamsTrial:
    """An Optuna trial that answers the user's fixed parameters itself and samples only the others.

    Handed to a search space, so that a value derived from a fixed one (``d_ff = d_model * ratio``)
    uses the fixed value, and Optuna never models a parameter that cannot change.
    """

    def __init__(self, trial, fixed: Mapping):
        self._trial = trial
        self._fixed = fixed

    def _ask(self, method: str, name: str, args, kwargs):
        if name in self._fixed:
            return self._fixed[name]
        return getattr(self._trial, method)(name, *args, **kwargs)

    def suggest_float(self, name, *args, **kwargs):
        return self._ask("suggest_float", name, args, kwargs)

    def suggest_int(self, name, *args, **kwargs):
        return self._ask("suggest_int", name, args, kwargs)

    def suggest_categorical(self, name, *args, **kwargs):
        return self._ask("suggest_categorical", name, args, kwargs)

    def __getattr__(self, name):
        return getattr(self._trial, name)


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Sample trial ``k`` with a fresh sampler seeded from ``(seed, k)``.

    One seed per process would replay the same random start in every worker of a shared study, and
    again when an interrupted study is resumed; one seed per trial number gives each trial its own
    draws, the same ones for the same study history.

    Args:
        seed: base seed (``None``: unseeded).
        make: ``seed -> sampler`` (default: ``optuna.samplers.TPESampler(seed=seed)``).
    """

    def __init__(self, seed: int | None, make=None):
        self._seed = seed
        self._make = make or (lambda s: optuna.samplers.TPESampler(seed=s))
        self._number, self._sampler = None, None

    def seed_of(self, number: int) -> int | None:
        if self._seed is None:
            return None
        return int(np.random.SeedSequence([int(self._seed), int(number)]).generate_state(1)[0])

    def _for(self, trial):
        if trial.number != self._number:
            self._number, self._sampler = trial.number, self._make(self.seed_of(trial.number))
        return self._sampler

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Seeds come from the trial numbers; nothing to reseed."""


def make_pruner(pruner) -> optuna.pruners.BasePruner:
    """``"median"``, ``"halving"`` (successive halving), ``"hyperband"``, ``"none"``, or an Optuna pruner.

    The steps are epochs and the value the epoch's ``val_loss``; the median pruner waits for 5 finished
    trials before it prunes, successive halving and Hyperband pick their resources from the first trial.
    """
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise ConfigError(f"pruner={pruner!r} is not supported; use one of {PRUNERS} or an optuna.pruners object")
