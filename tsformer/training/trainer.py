"""The trainer factory and the one function that fits a network.

``train_network`` builds a Lightning ``Trainer`` (accelerator ``"auto"``, one device by default,
early stopping and best-weights restore on ``val_loss``, gradient clipping, precision, anything else
through ``trainer_kwargs``), runs it, and drops it.  Lightning's banners are silenced and no log or
checkpoint folder is left behind unless ``trainer_kwargs`` asks for one.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import warnings

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, TQDMProgressBar
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError
from .callbacks import BestWeights, EpochSummary, LossHistory

__all__ = ["callback_list", "make_trainer", "make_loader", "train_network", "quiet_lightning", "seed_everything"]

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning")


@contextlib.contextmanager
def quiet_lightning():
    """Silence Lightning's info banners and its advice-only warnings for the duration of a fit."""
    saved = {name: logging.getLogger(name).level for name in _LIGHTNING_LOGGERS}
    try:
        for name in _LIGHTNING_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        with warnings.catch_warnings():
            for pattern in (
                r".*does not have many workers.*",
                r".*number of training batches.*smaller than the logging interval.*",
                r".*GPU available but not used.*",
                r".*LeafSpec.*",
                r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
                r".*Checkpoint directory .* exists and is not empty.*",
                r".*You defined a `validation_step` but have no `val_dataloader`.*",
            ):
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (and dataloader workers) for a reproducible fit."""
    L.seed_everything(int(seed), workers=True, verbose=False)


def _identity(batch):
    return batch


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, num_workers: int = 0) -> DataLoader:
    """A loader whose batches are gathered in one call (``WindowDataset.__getitems__``)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=_identity, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


def callback_list(callbacks) -> list:
    """Lightning's ``callbacks`` argument (one callback, a list or tuple of them, or ``None``) as a list."""
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def make_trainer(*, max_epochs: int = 10, patience: int | None = 3, validate: bool = True, accelerator: str = "auto",
                 devices="auto", precision="32-true", gradient_clip_val: float | None = None, verbose: bool = False,
                 default_root_dir: str | None = None, callbacks=(), trainer_kwargs: dict | None = None) -> L.Trainer:
    """A ``Trainer`` configured the tsformer way; ``trainer_kwargs`` override anything."""
    cbs = list(callbacks)
    if validate and patience is not None and patience > 0:
        # checked when a validation pass ends, not at every training epoch's end: a fit that max_steps (or a
        # user's val_check_interval) ends before its epoch's validation has nothing to check, and is not an error
        cbs.append(EarlyStopping(monitor="val_loss", patience=patience, mode="min", check_on_train_epoch_end=False))
    show_bar = verbose and sys.stderr.isatty()
    if show_bar:
        cbs.append(TQDMProgressBar(leave=True))
    kwargs = dict(
        max_epochs=max_epochs,
        accelerator=accelerator,
        devices=devices,
        precision=precision,
        gradient_clip_val=gradient_clip_val,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=show_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=default_root_dir,
        callbacks=cbs,
    )
    if not validate:
        kwargs["limit_val_batches"] = 0
    extra = dict(trainer_kwargs or {})
    if "callbacks" in extra:
        kwargs["callbacks"] = cbs + callback_list(extra.pop("callbacks"))
    kwargs.update(extra)
    return L.Trainer(**kwargs)


def _accelerator_device(trainer: L.Trainer):
    """The trainer's accelerator device (this process's GPU), or ``None`` on the CPU."""
    try:
        device = trainer.strategy.root_device
    except (AttributeError, RuntimeError, IndexError):
        return None
    return device if device.type in ("cuda", "mps") else None


def _is_compile_error(exc: BaseException) -> bool:
    """Whether ``exc`` is torch.compile failing to build code (no C++ compiler on a CPU, an inductor bug)."""
    return type(exc).__module__.startswith(("torch._dynamo", "torch._inductor"))


def train_network(module: L.LightningModule, train_set: Dataset, val_set: Dataset | None, *, batch_size: int = 32,
                  max_epochs: int = 10, patience: int | None = 3, accelerator: str = "auto", devices="auto",
                  precision="32-true", gradient_clip_val: float | None = None, verbose: bool = False,
                  num_workers: int = 0, trainer_kwargs: dict | None = None, callbacks=()) -> list[dict]:
    """Fit ``module`` on the two window datasets and return the per-epoch loss history.

    The best weights by ``val_loss`` are restored at the end (without validation: the last ones).
    The module is moved back to the CPU afterwards; the trainer is not kept.
    """
    history = LossHistory()
    cbs = [history, *callbacks]
    validate = val_set is not None and len(val_set) > 0
    if validate:
        cbs.append(BestWeights("val_loss"))
    if verbose:
        cbs.append(EpochSummary(history))
    with quiet_lightning(), tempfile.TemporaryDirectory(prefix="tsformer-") as tmp:
        try:
            trainer = make_trainer(
                max_epochs=max_epochs, patience=patience, validate=validate, accelerator=accelerator,
                devices=devices, precision=precision, gradient_clip_val=gradient_clip_val, verbose=verbose,
                default_root_dir=(trainer_kwargs or {}).get("default_root_dir", tmp), callbacks=cbs,
                trainer_kwargs={k: v for k, v in (trainer_kwargs or {}).items() if k != "default_root_dir"},
            )
        except (MisconfigurationException, ValueError, TypeError) as exc:
            raise ConfigError(f"invalid training settings: {exc}") from exc
        device = _accelerator_device(trainer)
        if device is not None and num_workers == 0 and hasattr(train_set, "to"):
            # the whole series on the GPU: each batch is gathered there, no host-to-device copy per step
            train_set = train_set.to(device)
            val_set = val_set.to(device) if validate else val_set
        train_loader = make_loader(train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers)
        val_loader = make_loader(val_set, batch_size=batch_size, shuffle=False) if validate else None
        try:
            trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
        except Exception as exc:
            if not _is_compile_error(exc):
                raise
            raise ConfigError(f"compile= failed: torch.compile could not build this network here "
                              f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}); on a CPU it needs "
                              f"a working C++ compiler (g++ or clang++). Fit with compile=False (CLI: without "
                              f"--compile) to train eagerly") from exc
    module.to("cpu")
    return history.epochs
