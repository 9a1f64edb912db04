"""The one LightningModule that trains every tsformer network."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ForecastingModule", "LOSSES", "LR_SCHEDULES"]

LOSSES = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "huber": F.huber_loss,
}
LR_SCHEDULES = ("halve", "cosine", "constant")


class ForecastingModule(L.LightningModule):
    """Train any network ``net(x, x_mark, y_mark) -> (B, H, C)`` on batches from a ``WindowDataset``.

    Logs ``train_loss`` and ``val_loss`` (epoch means), the one metric name that early stopping,
    the best-weights callback and Optuna pruning all watch.

    Args:
        network: a plain ``nn.Module``.
        target_idx: output columns the loss is computed on (``None``: all); the network forecasts every
            input column, the loss looks only at the targets.
        loss: ``"mse"``, ``"mae"`` or ``"huber"``.
        learning_rate, weight_decay: Adam(W) settings.
        lr_schedule: ``"halve"`` (x0.5 after every epoch, the reference implementations' ``type1``),
            ``"cosine"`` (to zero over ``max_epochs``) or ``"constant"``.
    """

    def __init__(self, network: nn.Module, *, target_idx=None, loss: str = "mse", learning_rate: float = 1e-4,
                 weight_decay: float = 0.0, lr_schedule: str = "halve"):
        super().__init__()
        self.network = network
        self.loss_fn = LOSSES[loss]
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        idx = None if target_idx is None else torch.as_tensor(target_idx, dtype=torch.long)
        self.register_buffer("target_idx", idx, persistent=False)

    def forward(self, x, x_mark=None, y_mark=None):
        return self.network(x, x_mark, y_mark)

    def _loss(self, batch) -> torch.Tensor:
        y_hat = self(batch["x"], batch["x_mark"], batch["y_mark"])
        if self.target_idx is not None:
            y_hat = y_hat[..., self.target_idx]
        return self.loss_fn(y_hat, batch["y"])

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["x"]))
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["x"]))
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        if self.lr_schedule == "halve":
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        elif self.lr_schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(self.trainer.max_epochs or 1), 1))
        else:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
