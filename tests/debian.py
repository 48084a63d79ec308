"""Install Debian packages a test needs (Chromium, Tesseract), as a new user's machine would.

Where a package is missing, the session installs it with apt when it can (root, apt-get
present); otherwise the caller skips with the reason returned here.
"""

from __future__ import annotations

import os
import shutil
import subprocess

INSTALL_TIMEOUT_S = 600


def apt_install(*packages: str) -> str | None:
    """Install ``packages`` with apt-get; None on success, else why not."""
    names = " ".join(packages)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"not running as root, so it cannot be installed here (apt-get install {names})"
    apt = shutil.which("apt-get")
    if apt is None:
        return f"apt-get is not available to install {names}"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [apt, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )

    install = ("install", "-y", "--no-install-recommends", *packages)
    try:
        if apt_get(*install).returncode == 0:
            return None
        # The package lists may be stale or absent (a fresh image): refresh once, retry.
        apt_get("update")
        second = apt_get(*install)
    except subprocess.TimeoutExpired:
        return f"apt-get did not finish within {INSTALL_TIMEOUT_S} s"
    if second.returncode == 0:
        return None
    tail = (second.stderr or second.stdout).strip().splitlines()[-1:]
    return f"apt-get install {names} failed: {' '.join(tail) or second.returncode}"
