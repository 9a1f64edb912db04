"""Names of a package imported on first use (PEP 562), so importing the package itself stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_names(package: str, where: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``where``.

    ``where`` maps each public name to the submodule (relative to ``package``) that defines it; the first
    access imports that submodule and caches the value in ``namespace`` (the package's ``globals()``), so
    later accesses are plain attribute reads.
    """

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{where[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
