"""The image copies every package the distribution ships (a package left out fails at start-up)."""

from __future__ import annotations

import re
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


def test_the_runtime_image_installs_the_programs_ingest_runs() -> None:
    """OCR of scans and images runs Tesseract (the packages ``ingest.ocr`` tells a user to
    install), and file-type sniffing libmagic: without them an image reads no scan."""
    from ingest.ocr import INSTALL_HINT

    debian = re.search(r"apt-get install ([\w\s-]+?) \(Debian", INSTALL_HINT)
    assert debian is not None
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    runtime = dockerfile.split(" AS runtime", 1)[1].split("\nFROM ", 1)[0]
    installed = set(
        re.findall(r"[\w.+-]+", runtime.split("RUN apt-get update", 1)[1].split("&& rm", 1)[0])
    )
    assert {*debian.group(1).split(), "libmagic1", "poppler-utils"} <= installed
