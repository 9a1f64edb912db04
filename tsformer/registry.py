"""Name -> estimator class: the one list of forecasters the CLI, tuning and tests go through.

Entries are import paths, imported on first use, so listing the models is instant and one model's
optional dependency never breaks the others.  ``register`` adds a user's own estimator.
"""

from __future__ import annotations

import importlib

from .errors import ConfigError

__all__ = ["available", "get_estimator", "register", "describe"]

_REGISTRY: dict[str, str] = {
    "itransformer": "tsformer.estimators.itransformer:ITransformerForecaster",
    "informer": "tsformer.estimators.informer:InformerForecaster",
    "autoformer": "tsformer.estimators.autoformer:AutoformerForecaster",
    "etsformer": "tsformer.estimators.etsformer:ETSformerForecaster",
    "xlstmtime": "tsformer.estimators.xlstm_time:XLSTMTimeForecaster",
    "mamba": "tsformer.estimators.mamba:MambaForecaster",
}


def available() -> list[str]:
    """Registered names, in registration order."""
    return list(_REGISTRY)


def register(name: str, target) -> None:
    """Register an estimator class (or an ``"module:Class"`` path) under ``name``."""
    key = name.lower()
    if key in _REGISTRY:
        raise ConfigError(f"an estimator named {key!r} is already registered")
    _REGISTRY[key] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def get_estimator(name: str):
    """The estimator class registered as ``name`` (case-insensitive)."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available())}")
    module, _, attr = _REGISTRY[key].partition(":")
    return getattr(importlib.import_module(module), attr)


def describe(name: str) -> str:
    """First line of the estimator's docstring."""
    doc = (get_estimator(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
