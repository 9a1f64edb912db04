"""The package's exceptions.

Everything tsformer raises about what a user gave it derives from :class:`TsformerError`, so
``except tsformer.errors.TsformerError`` catches every "your input is wrong" case, and the CLI turns
them into a one-line message.  Each class also derives from the builtin that fits (``ValueError``,
``ImportError``, ...) so code written against plain Python exceptions keeps working.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "TsformerError",
    "DataError",
    "ConfigError",
    "ModelFileError",
    "NotFittedError",
    "MissingDependencyError",
    "OutputExistsError",
    "TuningError",
]


class TsformerError(Exception):
    """Base class of every error tsformer raises about user input."""


class DataError(TsformerError, ValueError):
    """The data given (a frame, a CSV, an array) cannot be used as it is."""


class ConfigError(TsformerError, ValueError):
    """A parameter value or a combination of parameters is invalid."""


class ModelFileError(TsformerError, ValueError):
    """A model file is missing, truncated, corrupt or not a tsformer model file."""


class NotFittedError(TsformerError, _SklearnNotFittedError):
    """``predict`` (or ``save``) was called before ``fit``.

    Subclasses :class:`sklearn.exceptions.NotFittedError`, so scikit-learn's checks recognise it.
    """


class MissingDependencyError(TsformerError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


class OutputExistsError(TsformerError, FileExistsError):
    """Refusing to overwrite a file the user already has (ask with ``overwrite=True`` / ``--force``)."""


class TuningError(TsformerError, RuntimeError):
    """A hyperparameter search ended without a result to give (no trial completed)."""


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or fail with the ``pip install tsformer[extra]`` to run."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{feature} needs the optional package '{module}'; install it with "
            f"`pip install tsformer[{extra}]`"
        ) from exc
