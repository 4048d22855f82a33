"""Deferred imports, so that drawing, loading and validating a graph never imports PyTorch.

Importing torch takes about two seconds; the editor must open faster than that. Two tools:

- ``LazyModule("torch.nn")`` stands for a module that is imported on first attribute access, so
  build functions keep writing ``nn.Linear(...)`` while the catalog itself loads without torch.
- ``lazy_exports(__name__, {".compiler": ("CompiledGraph", "compile_graph")})`` returns a package's
  PEP 562 ``__getattr__`` and ``__dir__``: a submodule is imported the first time one of its names
  is read from the package, so ``from runtime import compile_graph`` still works.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Iterable, Mapping


class LazyModule:
    """A module imported when one of its attributes is first read (``name`` may be relative to ``package``)."""

    __slots__ = ("_name", "_package")

    def __init__(self, name: str, package: str | None = None):
        self._name = name
        self._package = package

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name, self._package), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]],
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 hooks for ``package``: ``exports`` maps each (relative) submodule to the names it gives."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        submodule = module_of.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(submodule, package), name)
        setattr(sys.modules[package], name, value)  # later reads skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(module_of))

    return __getattr__, __dir__
