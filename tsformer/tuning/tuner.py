"""Hyperparameter search for any registered forecaster: ``tune`` and the ``Tuner`` behind it.

The objective of a trial, rolling-origin validation on the tail, with no leakage::

    rows of each series  [ ........ fit rows (their own val_size tail included) ........ | w1 | w2 | w3 ]
                                                                                  cut = n - n_windows * horizon

The trial's estimator is the estimator's own backtest, ``est.backtest(df, n_windows=n_windows)``:
fitted once on the rows before ``cut`` (the ``val_size`` tail inside them drives early stopping and
the pruning reports), it forecasts each of the ``n_windows`` tail windows from its own origin,
reading the true history up to that origin.  Training never sees a row at or after ``cut``.  The
score is the backtest's ``overall`` metric over those windows, series and target columns, on the
data's original scale.  Wide and long frames, global models and covariates work as in ``fit``.

Counting, with any number of workers on one study: a study is done when it holds ``n_trials``
COMPLETE + PRUNED trials.  Before asking Optuna for a trial, a worker waits while the trials done and
running already fill the study (a running one may still fail and free its place).  Two workers that
ask at the same moment can still both get a trial; Optuna numbers trials in creation order in every
storage, so the later one sees ``n_trials`` live trials with smaller numbers and is dropped (FAIL,
``error`` = surplus) before it trains.  Failed trials do not count: another trial takes their place.
"""

from __future__ import annotations

import math
import numbers
import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from .. import registry
from ..errors import ConfigError, DataError, TuningError
from .. import training  # Lightning is imported with the first trial, not here
from .search import FixedParamsTrial, TrialSeededSampler, make_pruner, space_function
from .storage import Heartbeat, describe_storage, fail_stale_trials, open_storage

__all__ = ["METRICS", "LOOKBACK_MULTIPLES", "TuneResult", "Tuner", "trials_table", "tune"]

METRICS = ("mse", "mae", "rmse", "mape", "smape", "mase")  # columns of the backtest's metrics table
#: lookback = horizon x one of these, unless fixed by the user or sampled by the search space
LOOKBACK_MULTIPLES = (1, 2, 3, 4)
_DONE = (TrialState.COMPLETE, TrialState.PRUNED)
_LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


@dataclass
class TuneResult:
    """What a search found.

    Attributes:
        best_params: the tuned estimator parameters of the best trial (the fixed ones not repeated).
        best_score: its validation metric (original scale, mean over the tail windows).
        study: the ``optuna.Study`` (every trial, for plots and analysis).
        best_estimator: refitted on the whole frame with ``best_params``, or ``None`` when ``refit=False``.
        best_trial: the best trial's number.
        metric: the metric name.
    """

    best_params: dict
    best_score: float
    study: optuna.Study
    best_estimator: object
    best_trial: int
    metric: str

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: state, value, epochs, seconds, worker, error and the tuned parameters."""
        return trials_table(self.study)


def _positive_int(value, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _plain(value):
    """numpy scalars -> Python scalars, so that the storage can write them as JSON."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict, str)) else value


class Tuner:
    """One worker of a study: checks the inputs and opens the study, runs trials, and gives the result.

    ``tune`` is ``Tuner(...).run(n_trials)`` then ``.result()``; the command line keeps them apart to
    start several worker processes on one study. Arguments are those of :func:`tune`.
    """

    def __init__(self, model, df, *, horizon: int, metric: str = "mse", n_windows: int = 3, storage=None,
                 study_name: str | None = None, seed: int | None = 0, search_space=None, params: dict | None = None,
                 pruner="median", sampler=None, heartbeat: float = 30.0):
        self.cls = model if isinstance(model, type) else registry.get_estimator(model)
        self.name = self.cls.name or self.cls.__name__
        self.horizon = _positive_int(horizon, "horizon")
        self.n_windows = _positive_int(n_windows, "n_windows")
        if metric not in METRICS:
            raise ConfigError(f"metric={metric!r} is not supported; use one of {METRICS}")
        if not isinstance(heartbeat, numbers.Real) or heartbeat <= 0:
            raise ConfigError(f"heartbeat must be a positive number of seconds, got {heartbeat!r}")
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
            raise ConfigError(f"seed must be an integer or None, got {seed!r}")
        self.metric, self.seed = metric, seed
        self.heartbeat, self.grace = float(heartbeat), 2.0 * float(heartbeat)
        self.params = dict(params or {})
        defaults = self.cls().get_params(deep=False)
        unknown = sorted(set(self.params) - set(defaults))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown} for {self.name}; valid: {', '.join(sorted(defaults))}")
        for key, arg in (("horizon", "horizon="), ("random_state", "seed=")):
            if key in self.params:
                raise ConfigError(f"{key} is set by tuning ({arg}), leave it out of params")
        self._valid = set(defaults)
        self._space = space_function(self.cls, search_space)
        self.df = df
        self._prepare_data()

        self.storage = open_storage(storage)
        self.storage_text = describe_storage(storage)
        self.sampler = sampler if sampler is not None else TrialSeededSampler(seed)
        name = study_name or (None if storage is None else f"{self.name}-h{self.horizon}")
        self.study = optuna.create_study(storage=self.storage, study_name=name, direction="minimize",
                                         load_if_exists=True, sampler=self.sampler, pruner=make_pruner(pruner))
        self._check_study()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    # ------------------------------------------------------------------ set-up
    def _prepare_data(self) -> None:
        """Validate the frame and the fixed parameters once; pick the lookbacks that leave rows to train on."""
        probe = self.cls(**self.params, horizon=self.horizon)
        probe._check_params()
        data = probe._read(self.df)  # the estimator's own reading: errors name the problem and the fix
        H = self.horizon
        before = np.asarray(data.lengths) - self.n_windows * H  # rows before the first window, per series
        self.cut = int(before.min())
        n_val = probe._n_val(np.maximum(before, 0))

        def fits(lookback: int) -> bool:  # every series trains and validates before its first window
            return bool(((n_val == 0) | (n_val >= H)).all() and (before - n_val >= lookback + H).all())

        if "lookback" in self.params:
            choices = [self.params["lookback"]]
        else:
            self.lookback_multiples = [m for m in LOOKBACK_MULTIPLES if fits(m * H)]
            choices = [m * H for m in self.lookback_multiples]
        if not any(fits(L_) for L_ in choices):
            L_, n = self.params.get("lookback", H), int(np.min(data.lengths))
            raise DataError(
                f"too few rows to tune: {n} rows less {self.n_windows} validation windows of horizon {H} leave "
                f"{max(self.cut, 0)} rows to fit on, and a fit with lookback {L_} needs {L_ + H} rows"
                + (f" plus a validation tail of at least {H} rows" if n_val.max() else "")
                + "; lower n_windows, horizon or lookback, or pass more rows"
            )

    def _check_study(self) -> None:
        config = {"model": self.name, "horizon": self.horizon, "metric": self.metric, "n_windows": self.n_windows}
        have = self.study.user_attrs.get("tsformer")
        if have is None:
            self.study.set_user_attr("tsformer", config)
        elif have != config:
            raise ConfigError(
                f"the study {self.study.study_name!r} in {self.storage_text} tunes {have}, not {config}; "
                "give another study name"
            )

    # ------------------------------------------------------------------ counting
    def counts(self) -> Counter:
        """Number of trials in the study by state name (``COMPLETE``, ``PRUNED``, ``RUNNING``, ``FAIL``, ...)."""
        return Counter(t.state.name for t in self.study.get_trials(deepcopy=False))

    def n_done(self) -> int:
        c = self.counts()
        return c["COMPLETE"] + c["PRUNED"]

    def _wait_for_place(self, n_trials: int, deadline: float | None) -> bool:
        """True when this worker may ask for a trial, False when the study is done (or time is up)."""
        while deadline is None or time.monotonic() < deadline:
            fail_stale_trials(self.study, self.storage, self.grace)
            c = self.counts()
            done = c["COMPLETE"] + c["PRUNED"]
            if done >= n_trials:
                return False
            if c["WAITING"] or done + c["RUNNING"] < n_trials:
                return True
            time.sleep(min(2.0, self.heartbeat))  # running trials fill the study: wait for one to end
        return False

    def _live_before(self, number: int) -> int:
        return sum(1 for t in self.study.get_trials(deepcopy=False, states=_LIVE) if t.number < number)

    # ------------------------------------------------------------------ trials
    def model_seed(self, number: int) -> int | None:
        """``random_state`` of trial ``number``'s model (and of its refit)."""
        return None if self.seed is None else int(self.seed) + int(number)

    def _estimator(self, tuned: dict, number: int, *, report=None):
        kw = {**self.params, **tuned, "horizon": self.horizon, "random_state": self.model_seed(number)}
        if report is not None:  # a trial: quiet, and reports every epoch
            kw["verbose"] = False
            trainer_kwargs = dict(kw.get("trainer_kwargs") or {})
            trainer_kwargs["callbacks"] = [*trainer_kwargs.get("callbacks", []), training.EpochReport(report)]
            kw["trainer_kwargs"] = trainer_kwargs
        return self.cls(**kw)

    def _sample(self, trial) -> dict:
        proxy = FixedParamsTrial(trial, self.params)
        sampled = dict(self._space(proxy))
        unknown = sorted(set(sampled) - self._valid)
        if unknown:
            raise ConfigError(f"the search space returned unknown parameter(s) {unknown} for {self.name}")
        if "lookback" not in sampled and "lookback" not in self.params:
            sampled["lookback"] = self.horizon * proxy.suggest_categorical("lookback_multiple", self.lookback_multiples)
        return {k: _plain(v) for k, v in sampled.items() if k not in self.params}

    def _objective(self, trial) -> float:
        tuned = self._sample(trial)
        trial.set_user_attr("params", tuned)

        epochs = []

        def report(epoch: int, value: float) -> None:
            epochs.append(epoch)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: val_loss {value:.4g}")

        est = self._estimator(tuned, trial.number, report=report)
        backtest = est.backtest(self.df, n_windows=self.n_windows)
        trial.set_user_attr("epochs", len(epochs))
        value = float(backtest.metrics.loc["overall", self.metric])
        if not math.isfinite(value):
            raise TuningError(f"the validation {self.metric} is {value}: the training diverged")
        return float(value)

    def _run_trial(self, trial) -> FrozenTrial | None:
        start = time.perf_counter()
        try:
            with Heartbeat(trial, self.heartbeat):
                trial.set_user_attr("worker", self.worker)
                value, state, error = None, TrialState.COMPLETE, None
                try:
                    value = self._objective(trial)
                except optuna.TrialPruned:
                    state = TrialState.PRUNED
                except Exception as exc:  # recorded as a failed trial; another trial takes its place
                    state, error = TrialState.FAIL, f"{type(exc).__name__}: {exc}"
        except BaseException:  # Ctrl-C, SystemExit: leave the trial FAIL, not RUNNING
            self._abandon(trial, "interrupted")
            raise
        try:
            if error:
                trial.set_user_attr("error", error[:2000])
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
            return self.study.tell(trial, value, state=state)
        except (UpdateFinishedTrialError, ValueError):
            if self.storage.get_trial(trial._trial_id).state == TrialState.FAIL:
                return None  # failed by another worker that took it for dead: its place is taken again
            raise

    def _abandon(self, trial, reason: str) -> None:
        try:
            trial.set_user_attr("error", reason)
            self.study.tell(trial, state=TrialState.FAIL)
        except Exception:  # the storage is gone too: the heartbeat timeout will fail it
            pass

    def run(self, n_trials: int, *, timeout: float | None = None, progress: bool = False, label: str = "",
            max_failures: int = 10) -> list[FrozenTrial]:
        """Run trials until the study holds ``n_trials`` complete + pruned ones; the trials this worker finished.

        Args:
            n_trials: the study's total, shared by every worker.
            timeout: stop starting trials after this many seconds (a running one finishes).
            progress: print a line per finished trial to stderr.
            label: prefix of those lines (e.g. ``"[worker 2] "``).
            max_failures: give up after this many failed trials in a row (a broken setting fails them all).
        """
        n_trials = _positive_int(n_trials, "n_trials")
        if timeout is not None and (not isinstance(timeout, numbers.Real) or timeout <= 0):
            raise ConfigError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        finished, failed_in_a_row = [], 0
        while self._wait_for_place(n_trials, deadline):
            trial = self.study.ask()
            if self._live_before(trial.number) >= n_trials:
                self._abandon(trial, f"surplus: the study already had {n_trials} trials when it started")
                continue
            frozen = self._run_trial(trial)
            if frozen is None:
                continue
            finished.append(frozen)
            if progress:
                print(label + self.progress_line(frozen, n_trials), file=sys.stderr, flush=True)
            failed_in_a_row = failed_in_a_row + 1 if frozen.state == TrialState.FAIL else 0
            if failed_in_a_row >= max_failures:
                if progress:
                    print(f"{label}{failed_in_a_row} trials failed in a row; this worker stops", file=sys.stderr)
                break
        return finished

    def progress_line(self, trial: FrozenTrial, n_trials: int) -> str:
        """``trial 3: mse 0.412 | best mse 0.398 (trial 1) | 4/20 done | 12.3 s``."""
        if trial.state == TrialState.COMPLETE:
            what = f"{self.metric} {trial.value:.4g}"
        elif trial.state == TrialState.PRUNED:
            step = trial.last_step
            what = "pruned" + (f" at epoch {step} (val_loss {trial.intermediate_values[step]:.4g})" if step else "")
        else:
            what = f"failed: {trial.user_attrs.get('error', 'unknown error')}"
        best = self._best()
        best_text = f"best {self.metric} {best.value:.4g} (trial {best.number})" if best else "no best yet"
        seconds = trial.user_attrs.get("seconds")
        return (f"trial {trial.number}: {what} | {best_text} | {self.n_done()}/{n_trials} done"
                + (f" | {seconds:.1f} s" if seconds is not None else ""))

    def _best(self) -> FrozenTrial | None:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return min(complete, key=lambda t: t.value) if complete else None

    # ------------------------------------------------------------------ result
    def result(self, *, refit: bool = True) -> TuneResult:
        """The best trial's parameters and score; with ``refit``, an estimator fitted on the whole frame."""
        best = self._best()
        if best is None:
            c = self.counts()
            errors = [t.user_attrs["error"] for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                      if "error" in t.user_attrs]
            raise TuningError(
                f"no trial of the study {self.study.study_name!r} completed ({c['PRUNED']} pruned, {c['FAIL']} failed"
                f", {c['RUNNING']} running)" + (f"; the last failure: {errors[-1]}" if errors else "")
                + "; fix the failure, or run more trials"
            )
        params = dict(best.user_attrs.get("params", best.params))
        estimator = self._estimator(params, best.number).fit(self.df) if refit else None
        return TuneResult(best_params=params, best_score=float(best.value), study=self.study, best_estimator=estimator,
                          best_trial=best.number, metric=self.metric)


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of a tsformer study, by number: state, value, epochs, seconds, worker, error, params.

    ``value`` is the validation metric of complete trials; ``last_val_loss`` the last epoch's
    validation loss a trial reported (where a pruned trial stopped).
    """
    rows = []
    for t in study.get_trials(deepcopy=False):
        steps = t.intermediate_values
        rows.append({
            "number": t.number, "state": t.state.name,
            "value": t.value if t.state == TrialState.COMPLETE else None,
            "epochs": len(steps), "last_val_loss": steps[max(steps)] if steps else None,
            "seconds": t.user_attrs.get("seconds"), "worker": t.user_attrs.get("worker"),
            "error": t.user_attrs.get("error"),
            **t.user_attrs.get("params", t.params),
        })
    return pd.DataFrame(rows).sort_values("number").reset_index(drop=True) if rows else pd.DataFrame(rows)


def tune(model, df, *, horizon: int, n_trials: int = 20, timeout: float | None = None, metric: str = "mse",
         n_windows: int = 3, storage=None, study_name: str | None = None, seed: int | None = 0, search_space=None,
         params: dict | None = None, pruner="median", sampler=None, heartbeat: float = 30.0, refit: bool = True,
         progress: bool = False) -> TuneResult:
    """Search the hyperparameters of a forecaster with Optuna; the best ones, their score, the study, a refit.

    Args:
        model: a registered name (``"itransformer"``, ...) or an estimator class.
        df: the frame (wide or long, as ``fit`` takes it).
        horizon: steps forecast.
        n_trials: complete + pruned trials the study should hold in the end, over every worker sharing it.
        timeout: seconds after which this call starts no new trial.
        metric: ``"mse"``, ``"mae"``, ``"rmse"``, ``"mape"``, ``"smape"`` or ``"mase"`` over the validation
            windows (the ``overall`` row of ``est.backtest``), original scale.
        n_windows: rolling-origin validation windows of ``horizon`` rows at the end of ``df``; trials
            train on the rows before them only.
        storage: ``None`` (in memory), a journal file path, a database URL (``sqlite:///s.db``,
            ``postgresql://...``) or an Optuna storage; several processes on one storage and study name
            share the study (the trials add up), and running the same call again resumes it.
        study_name: default ``"<model>-h<horizon>"`` with a storage, Optuna's own name in memory.
        seed: seeds the sampler (trial ``k`` draws with a seed derived from ``(seed, k)``) and trial
            ``k``'s model (``random_state = seed + k``); ``None`` for unseeded.
        search_space: ``None`` (the estimator's ``search_space``), a callable ``trial -> params``, or a
            dict of Optuna distributions (lists are categoricals).
        params: fixed estimator parameters (``max_epochs``, ``lookback``, ``target``, ...); the search
            space does not sample these. ``lookback`` not fixed is tuned as horizon x 1, 2, 3 or 4.
        pruner: ``"median"``, ``"halving"``, ``"hyperband"``, ``"none"`` or an Optuna pruner; it reads the
            ``val_loss`` of every epoch (the fit's ``val_size`` tail; ``val_size=0`` disables pruning).
        sampler: an Optuna sampler to use instead of the seeded TPE.
        heartbeat: seconds between a running trial's heartbeats; a trial silent for twice as long is
            taken for the trial of a dead worker and marked FAIL.
        refit: fit ``best_estimator`` on the whole frame with the best parameters.
        progress: print a line per finished trial to stderr.
    """
    tuner = Tuner(model, df, horizon=horizon, metric=metric, n_windows=n_windows, storage=storage,
                  study_name=study_name, seed=seed, search_space=search_space, params=params, pruner=pruner,
                  sampler=sampler, heartbeat=heartbeat)
    tuner.run(n_trials, timeout=timeout, progress=progress)
    return tuner.result(refit=refit)
