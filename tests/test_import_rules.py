"""DESIGN.md's "who may import whom", checked on the source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tsformer"
STDLIB = set(sys.stdlib_module_names)


def imports(path: Path) -> set[str]:
    """Absolute module names imported by a file (relative imports resolved against the package)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    names.update(f"{mod}.{a.name}" for a in node.names)
                else:
                    names.add(mod)
            else:
                names.add(node.module)
    return names


def third_party(names):
    return {n.split(".")[0] for n in names if n.split(".")[0] not in STDLIB and not n.startswith("tsformer")}


def internal(names):
    return {n for n in names if n.startswith("tsformer")}


FILES = sorted(p for p in PKG.rglob("*.py"))


def area(path: Path) -> str:
    return path.relative_to(PKG).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_import_rules(path):
    names = imports(path)
    ext, own = third_party(names), internal(names)
    where = area(path)
    assert not any(n == "tsformer.cli" or n.startswith("tsformer.cli.") for n in own) or where == "__main__", \
        "nothing imports cli"
    if where == "nn":
        assert ext <= {"torch", "einops"}, ext
        assert all(n.startswith("tsformer.nn") for n in own), own
        if path.parent.name == "nn" and path.name != "__init__.py":
            assert all(n.startswith("tsformer.nn.layers") for n in own), f"a model file imports only nn/layers: {own}"
    elif where in ("data", "datasets"):
        assert ext <= {"numpy", "pandas", "torch", "einops"}, ext
        assert not any(n.startswith("tsformer.nn") for n in own), own
    elif where == "training":
        assert ext <= {"lightning", "torch", "einops"}, ext
        assert not any(n.startswith(("tsformer.nn", "tsformer.estimators", "tsformer.data")) for n in own), own
    elif where == "base":
        assert ext <= {"sklearn", "numpy", "pandas", "torch"}, ext
        assert not any(n.startswith(("tsformer.nn", "tsformer.estimators", "tsformer.tuning")) for n in own), own
    elif where == "estimators" and path.name != "__init__.py":
        model = path.stem
        allowed = ("tsformer.base", f"tsformer.nn.{model}", "tsformer.nn.layers", "tsformer.errors")
        assert all(n.startswith(allowed) for n in own), own
    elif where == "tuning":
        assert ext <= {"optuna", "numpy", "pandas", "torch"}, ext
        assert not any(n.startswith(("tsformer.nn", "tsformer.estimators")) for n in own), own
