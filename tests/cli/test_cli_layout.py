"""The command modules call library functions: never another command, never a private name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "cli"
COMMANDS = sorted(CLI.glob("*_cmd.py"))
PACKAGES = ("core", "ingest", "retrieval", "api", "eval")


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from module import name`` and ``import module`` in ``path``."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_a_command_imports_no_other_command(path: Path) -> None:
    others = {f"cli.{p.stem}" for p in COMMANDS} - {f"cli.{path.stem}"}
    bad = [
        (module, name)
        for module, name in _imports(path)
        if module in others or (module == "cli" and f"cli.{name}" in others)
    ]
    assert bad == []


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_no_private_names_of_other_packages(path: Path) -> None:
    bad = [
        (module, name)
        for module, name in _imports(path)
        if module.split(".")[0] in PACKAGES and name.startswith("_")
    ]
    assert bad == []
