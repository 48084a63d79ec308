"""core.lazy_exports: a front door's names imported on first use, once, and listed by dir()."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from core import lazy_exports


@pytest.fixture
def door() -> Iterator[types.ModuleType]:
    """A throwaway package ``lazydoor`` whose names live in ``json`` and ``textwrap``."""
    package = types.ModuleType("lazydoor")
    package.__getattr__, package.__dir__ = lazy_exports(  # type: ignore[attr-defined]
        "lazydoor", {"dumps": "json", "wrapped": "textwrap:wrap"}
    )
    sys.modules["lazydoor"] = package
    yield package
    del sys.modules["lazydoor"]


def test_a_name_resolves_from_its_module_and_is_bound_once(door: types.ModuleType) -> None:
    import json

    assert "dumps" not in vars(door)
    assert door.dumps is json.dumps
    assert vars(door)["dumps"] is json.dumps  # bound: __getattr__ is not asked again


def test_a_name_exported_under_another_name(door: types.ModuleType) -> None:
    import textwrap

    assert door.wrapped is textwrap.wrap
    assert not hasattr(door, "wrap")


def test_an_unknown_name_is_an_attribute_error(door: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="module 'lazydoor' has no attribute 'nope'"):
        _ = door.nope


def test_dir_lists_the_lazy_names_before_they_are_used(door: types.ModuleType) -> None:
    listed = dir(door)
    assert {"dumps", "wrapped", "__name__"} <= set(listed)
    assert listed == sorted(listed)


@pytest.mark.parametrize("name", ["core", "ingest", "retrieval", "eval", "api", "testkit"])
def test_each_front_door_lists_its_exports(name: str) -> None:
    package = __import__(name)
    assert set(package.__all__) <= set(dir(package))
