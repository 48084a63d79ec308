"""Each package's front door: every name of ``__all__`` resolves, and opening the doors is cheap.

Other packages import only these names (``make lint``'s front-door contracts); the library
packages' names live in submodules and are imported on first use, so ``import retrieval``
loads no index engine, model runtime or web framework. ``cli`` is the command itself and
loads typer with it.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ("core", "ingest", "retrieval", "eval", "api", "cli")
LIBRARIES = ("core", "ingest", "retrieval", "eval", "api")
#: Libraries that take seconds to import: none of them may load with a front door alone.
HEAVY = (
    "torch",
    "sentence_transformers",
    "llama_cpp",
    "qdrant_client",
    "qdrant_edge",
    "unstructured",
    "sqlalchemy",
    "alembic",
    "celery",
    "fastapi",
    "typer",
    "matplotlib",
)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert len(set(exported)) == len(exported), name
    for attr in exported:
        assert getattr(package, attr) is not None, f"{name}.{attr}"
    with pytest.raises(AttributeError):
        _ = package.no_such_name


@pytest.mark.parametrize("name", PACKAGES)
def test_no_exported_name_is_also_a_module(name: str) -> None:
    """``import pkg.x`` rebinds ``pkg.x`` to the module, so an exported ``x`` would be lost."""
    package = importlib.import_module(name)
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert modules & set(package.__all__) == set()


def loaded_by(statement: str) -> list[str]:
    """The heavy libraries a fresh interpreter has loaded after ``statement``."""
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


def test_opening_the_library_front_doors_loads_no_heavy_library() -> None:
    assert loaded_by(f"import {', '.join(LIBRARIES)}") == []


def test_the_command_line_loads_no_engine_until_a_command_runs() -> None:
    assert set(loaded_by("import cli")) <= {"typer", "sqlalchemy"}  # `deepwell --help` is quick


def test_a_name_loads_what_it_needs_only() -> None:
    """Resolving one name imports its module, not the whole package."""
    assert loaded_by("from retrieval import can_read") == ["qdrant_client", "qdrant_edge"]
    assert "torch" not in loaded_by("from ingest import Registry")
