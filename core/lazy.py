"""Front doors that import their names on first use.

A package's ``__init__`` lists where each public name lives and gets back the module-level
``__getattr__`` and ``__dir__`` (PEP 562)::

    __getattr__, __dir__ = lazy_exports(__name__, {"Registry": "ingest.registry"})

so ``import ingest`` loads none of the submodules, and ``ingest.Registry`` imports
``ingest.registry`` once, then is an ordinary module attribute. A name exported under
another name than it has in its module is written ``"module:attr"``. The package keeps its
own ``__all__`` and, for mypy, the same names imported under ``if TYPE_CHECKING:``.
Standard library only: every front door imports this.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names are imported on first use.

    Args:
        package: the package's ``__name__``.
        exports: each lazily exported name and where it lives: ``"module"`` (same name
            there) or ``"module:attr"``.

    Returns:
        ``(__getattr__, __dir__)`` to bind at the package's top level. ``__getattr__`` raises
        AttributeError for a name not in ``exports``; ``__dir__`` lists the names already
        bound and the lazy ones.
    """
    targets = {
        name: (where.partition(":")[0], where.partition(":")[2] or name)
        for name, where in exports.items()
    }

    def module_getattr(name: str) -> Any:
        target = targets.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = target
        value = getattr(import_module(module), attr)
        setattr(sys.modules[package], name, value)  # resolved once
        return value

    def module_dir() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(targets))

    return module_getattr, module_dir
