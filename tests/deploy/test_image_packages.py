"""The image copies every package the distribution ships (a package left out fails at start-up)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Shipped, but never imported by the service (the layering contract forbids it): not copied.
NOT_IN_IMAGE = {"testkit"}


def test_dockerfile_copies_every_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(p.rstrip("*") for p in include)
    assert "cli" in packages
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    needed = [p for p in packages if p not in NOT_IN_IMAGE]
    missing = [p for p in needed if f"COPY {p}/ {p}/" not in dockerfile]
    assert missing == []
