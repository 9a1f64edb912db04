"""The one LightningModule that trains every tsformer network."""

from __future__ import annotations

import math
from functools import partial

import lightning as L
import torch
from torch import nn

from ..errors import ConfigError
from .losses import LOSSES, ONE_CYCLE_WARMUP, WARM_START_SCALE, halving_factor, sort_quantiles, warmup_factor

__all__ = ["ForecastingModule"]


def _adamw(params, *, fused: bool = True, **kwargs) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where torch has one for these tensors (CPU and CUDA: ~3x faster steps)."""
    params = list(params)
    if not fused:
        return torch.optim.AdamW(params, **kwargs)
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or a device/dtype without the fused kernel
        return torch.optim.AdamW(params, **kwargs)


class ForecastingModule(L.LightningModule):
    """Train any network ``net(x, x_mark, y_mark) -> (B, H, C)`` on batches from a ``WindowDataset``.

    Logs ``train_loss`` and ``val_loss`` (epoch means over the windows), the one metric name that early
    stopping, the best-weights callback and Optuna pruning all watch.  The mean is summed on the loss's device
    and handed to Lightning once an epoch, at its last batch: each ``self.log`` call costs about 1.3 ms of
    Lightning's bookkeeping (``benchmarks/step_overhead.py``), which a call per step would add to every step.

    Args:
        network: a plain ``nn.Module``.
        target_idx: output columns the loss is computed on (``None``: all); the network forecasts every
            input column, the loss looks only at the targets.
        loss: ``"mse"``, ``"mae"``, ``"huber"`` or ``"quantile"`` (the network then outputs
            ``(B, H, C, Q)``, one value per level in ``quantiles``, sorted so they never cross).
        quantiles: the levels of the quantile loss, ascending.
        learning_rate, weight_decay: Adam(W) settings.
        lr_schedule: ``"halve"`` (the reference implementations' ``lradj="type1"``: the rate of epoch ``k``,
            counting from 1, is ``learning_rate * 0.5 ** max(k - 2, 0)``, so the first two epochs train at
            the full rate and every later one at half the one before; see :func:`halving_factor`),
            ``"cosine"`` (to zero over ``max_epochs``), ``"onecycle"`` (Smith's one-cycle policy, stepped every
            batch, as the xLSTMTime and PatchTST reference code train: from ``learning_rate / 25`` up to
            ``learning_rate`` over the first :data:`ONE_CYCLE_WARMUP` of all steps, then cosine annealing down to
            ``learning_rate / 2.5e5``, with Adam's ``beta1`` cycled from 0.95 to 0.85 and back; torch's
            ``OneCycleLR`` with its defaults otherwise), ``"warmup"`` (salesforce/ETSformer's
            ``exponential_with_warmup``: ``learning_rate`` x 1/4, 2/4, 3/4, 1, then halved every epoch; see
            :func:`warmup_factor`; a network with warm-start parameters, below, gets a warm-start epoch before it)
            or ``"constant"``.
            A module of ``network`` may declare *warm-start parameters* with a method
            ``warm_start_parameters()`` (ETSformer's smoothing and damping weights).  Under ``"warmup"`` the
            first epoch then trains those alone, at :data:`WARM_START_SCALE` x ``learning_rate``, and every
            other weight at rate 0, as salesforce/ETSformer's first epoch does; from the second epoch every
            weight follows the schedule.  The other schedules ignore the declaration.
        compile: train through ``torch.compile(network, dynamic=False)`` (``True``; a dict: ``torch.compile``'s
            arguments, e.g. ``{"mode": "max-autotune"}``); ``False`` runs the network eagerly.  Only the training and
            validation steps run compiled: ``network`` itself, its weights and what is saved are unchanged.
        activation_checkpointing: switch on ``checkpoint_branches`` in every module of ``network`` that has it
            (the layers of ``tsformer.nn``): the activations of each residual branch (attention, feed-forward,
            ...) are recomputed in the backward pass instead of kept, for less memory a step.  A network with
            no such module is a ConfigError.
    """

    def __init__(self, network: nn.Module, *, target_idx=None, loss: str = "mse", quantiles=None,
                 learning_rate: float = 1e-4, weight_decay: float = 0.0, lr_schedule: str = "halve",
                 compile: bool | dict = False, activation_checkpointing: bool = False):
        super().__init__()
        self.network = network
        if activation_checkpointing:
            layers = [m for m in network.modules() if hasattr(m, "checkpoint_branches")]
            if not layers:
                raise ConfigError(f"activation_checkpointing=True: {type(network).__name__} has no layer that can "
                                  f"recompute its activations; fit with activation_checkpointing=False")
            for layer in layers:
                layer.checkpoint_branches = True
        # kept out of the module tree (object.__setattr__), so the state dict has no second copy of the weights
        # static shapes by default: the last, smaller batch and validation get graphs of their own instead of
        # one shape-generic graph (which inductor 2.13 fails to build for the Mamba scan)
        options = {"dynamic": False, **(compile if isinstance(compile, dict) else {})}
        try:
            run = torch.compile(network, **options) if compile else network
        except (TypeError, ValueError, RuntimeError) as exc:  # unknown arguments, mode or backend
            raise ConfigError(f"compile={compile!r}: torch.compile rejected these arguments ({exc}); use compile=True "
                              f"or a dict of torch.compile's own arguments, e.g. {{'mode': 'max-autotune'}}") from exc
        object.__setattr__(self, "_run", run)
        self.loss_fn = LOSSES[loss]
        self._epoch_sums: dict[str, tuple] = {}  # stage -> (sum of loss x windows, windows) of the current epoch
        self._logged: set[str] = set()  # the epoch means logged in the current training epoch
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        idx = None if target_idx is None else torch.as_tensor(target_idx, dtype=torch.long)
        self.register_buffer("target_idx", idx, persistent=False)
        q = torch.as_tensor(quantiles, dtype=torch.float32) if loss == "quantile" else None
        self.register_buffer("quantiles", q, persistent=False)

    def forward(self, x, x_mark=None, y_mark=None):
        return self._run(x, x_mark, y_mark)

    def _loss(self, batch) -> torch.Tensor:
        y_hat = self(batch["x"], batch["x_mark"], batch["y_mark"])  # (B, H, C) or (B, H, C, Q)
        if self.target_idx is not None:
            y_hat = y_hat.index_select(2, self.target_idx)
        if self.quantiles is not None:
            return self.loss_fn(sort_quantiles(y_hat), batch["y"], self.quantiles)
        return self.loss_fn(y_hat, batch["y"])

    def _add_to_epoch_mean(self, stage: str, loss: torch.Tensor, n: int, last: bool) -> None:
        """Add a batch's mean loss over ``n`` windows to the epoch's sum; log the epoch mean at its ``last`` batch."""
        total, count = self._epoch_sums.get(stage, (0.0, 0))
        self._epoch_sums[stage] = (total + loss.detach().float() * n, count + n)
        if last:
            self._log_epoch_mean(stage)

    def _log_epoch_mean(self, stage: str) -> None:
        total, count = self._epoch_sums.pop(stage, (None, 0))
        if count:
            # averaged over every process of a distributed fit: early stopping, the best weights and pruning
            # then take the same decision on every rank
            self.log(f"{stage}_loss", total / count, on_step=False, on_epoch=True, prog_bar=True, batch_size=count,
                     sync_dist=True)
            self._logged.add(f"{stage}_loss")

    @property
    def losses_logged_this_epoch(self) -> frozenset:
        """The names of the epoch losses logged in the current training epoch (``train_loss``, ``val_loss``): the
        trainer's metrics keep older epochs' values until they are logged again."""
        return frozenset(self._logged)

    def _last_training_batch(self, batch_idx: int) -> bool:
        """Whether this batch ends the training epoch: its last batch, or the step at which ``max_steps`` stops."""
        trainer = self.trainer
        if batch_idx + 1 >= trainer.num_training_batches:
            return True
        max_steps = trainer.max_steps
        if max_steps is None or max_steps < 0:
            return False
        return (batch_idx + 1) % trainer.accumulate_grad_batches == 0 and trainer.global_step + 1 >= max_steps

    def on_train_epoch_start(self):
        self._epoch_sums.pop("train", None)
        self._logged.clear()

    def on_validation_epoch_start(self):
        self._epoch_sums.pop("val", None)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self._add_to_epoch_mean("train", loss, len(batch["x"]), self._last_training_batch(batch_idx))
        return loss

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        loss = self._loss(batch)
        self._add_to_epoch_mean("val", loss, len(batch["x"]),
                                batch_idx + 1 >= self.trainer.num_val_batches[dataloader_idx])
        return loss

    def on_train_epoch_end(self):
        self._log_epoch_mean("train")  # an epoch cut short otherwise (a callback's should_stop): what it trained on

    def on_validation_epoch_end(self):
        self._log_epoch_mean("val")

    def _warm_start_parameters(self) -> list:
        """The parameters that modules of the network declare for the ``"warmup"`` schedule's warm-start epoch."""
        declared = (getattr(m, "warm_start_parameters", None) for m in self.network.modules())
        return list({id(p): p for declare in declared if callable(declare) for p in declare()}.values())

    def configure_optimizers(self):
        warm = self._warm_start_parameters() if self.lr_schedule == "warmup" else []
        params = self.parameters()
        if warm:  # two groups: the warm-start epoch trains the declared weights alone
            ids = {id(p) for p in warm}
            params = [{"params": [p for p in params if id(p) not in ids]}, {"params": warm}]
        # Lightning refuses to clip the gradients of a fused optimizer under mixed precision (it would unscale them
        # itself): the plain kernel there
        trainer = self._trainer
        clipped_mixed = bool(trainer and trainer.gradient_clip_val and "mixed" in str(trainer.precision))
        opt = _adamw(params, fused=not clipped_mixed, lr=self.learning_rate, weight_decay=self.weight_decay)
        if self.lr_schedule == "warmup":
            factors = [partial(warmup_factor, warm_start=0.0), partial(warmup_factor, warm_start=WARM_START_SCALE)]
            sched = torch.optim.lr_scheduler.LambdaLR(opt, factors if warm else warmup_factor)
        elif self.lr_schedule == "halve":
            sched = torch.optim.lr_scheduler.LambdaLR(opt, halving_factor)
        elif self.lr_schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(self.trainer.max_epochs or 1), 1))
        elif self.lr_schedule == "onecycle":
            # every step of max_epochs (or max_steps), whether or not early stopping ends the fit before
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ConfigError("lr_schedule='onecycle' spreads its cycle over every training step, so it needs a "
                                  "finite max_epochs (or max_steps in trainer_kwargs); set one, or use another "
                                  "lr_schedule")
            total = max(int(total), 1)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.learning_rate, total_steps=total,
                                                        pct_start=ONE_CYCLE_WARMUP)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        else:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
