"""Callbacks: best-weights restore, the loss history, a per-epoch summary line, and an epoch reporter."""

from __future__ import annotations

import math
import sys
import time

import lightning as L

__all__ = ["BestWeights", "EpochReport", "EpochSummary", "LossHistory"]


class BestWeights(L.Callback):
    """Keep an in-memory copy of the weights with the lowest ``monitor`` value; restore them at the end.

    Early stopping alone leaves the weights of the *last* epoch; the reference implementations reload
    their best checkpoint.  This does the same without writing checkpoint files.
    """

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best_score = math.inf
        self.best_state = None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            return
        score = float(score)
        if score < self.best_score:
            self.best_score = score
            self.best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer, pl_module):
        if self.best_state is not None:
            pl_module.load_state_dict(self.best_state)


class LossHistory(L.Callback):
    """Record ``train_loss`` / ``val_loss``, the learning rate and the wall time of every epoch in ``self.epochs``."""

    def __init__(self):
        self.epochs: list[dict] = []
        self._start = 0.0
        self._lr: float | None = None

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()
        # read here: by on_train_epoch_end an epoch-interval scheduler has already set the next epoch's rate
        self._lr = float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None

    def on_train_epoch_end(self, trainer, pl_module):
        metrics = trainer.callback_metrics
        # only what this epoch logged: an epoch that max_steps ends before its validation has no val_loss, not
        # the last epoch's again
        fresh = getattr(pl_module, "losses_logged_this_epoch", None)
        row = {"epoch": trainer.current_epoch + 1, "seconds": time.perf_counter() - self._start}
        if self._lr is not None:
            row["lr"] = self._lr
        for name in ("train_loss", "val_loss"):
            if name in metrics and (fresh is None or name in fresh):
                row[name] = float(metrics[name])
        self.epochs.append(row)


class EpochSummary(L.Callback):
    """Print one line per epoch to stderr: epoch, train and validation loss, seconds."""

    def __init__(self, history: LossHistory, stream=None):
        self.history = history
        self.stream = stream or sys.stderr

    def on_train_epoch_end(self, trainer, pl_module):
        # runs after LossHistory (callbacks run in order), so the last row is this epoch's
        if not self.history.epochs or not trainer.is_global_zero:
            return
        row = self.history.epochs[-1]
        parts = [f"epoch {row['epoch']}/{trainer.max_epochs}"]
        parts += [f"{k} {row[k]:.4f}" for k in ("train_loss", "val_loss") if k in row]
        parts.append(f"{row['seconds']:.1f}s")
        print("  ".join(parts), file=self.stream, flush=True)


class EpochReport(L.Callback):
    """Hand the ``monitor`` value of every validation epoch to ``report(epoch, value)`` (epochs count from 1).

    Whatever ``report`` raises stops the fit and comes out of ``fit`` unchanged: hyperparameter tuning
    reports ``val_loss`` to an Optuna trial here and raises ``optuna.TrialPruned`` when the trial is
    unpromising.  Training knows nothing of Optuna; the reporter is any callable.  Give it to an
    estimator as ``trainer_kwargs={"callbacks": [EpochReport(fn)]}``.
    """

    def __init__(self, report, monitor: str = "val_loss"):
        self.report = report
        self.monitor = monitor

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None:
            self.report(trainer.current_epoch + 1, float(value))
