"""Suite-wide fixtures.

The network guard is pytest-socket, switched on for every test in pyproject's
``addopts`` (``--allow-hosts``): a connection to anything but loopback fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import core  # noqa: F401  (telemetry off before any third-party import in tests)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DEEPWELL_EVAL__DATA_DIR", REPO.parent / "shared" / "data"))
SEC_DIR = SHARED_DATA / "sec-10q"


@pytest.fixture
def sec_dir() -> Path:
    """The SEC 10-Q evaluation corpus; tests using it skip where it is absent."""
    if not (SEC_DIR / "docs").is_dir():
        pytest.skip(f"evaluation data not found at {SEC_DIR} (shared/data is not beside the repo)")
    return SEC_DIR


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DEEPWELL_* variables from the outside, and a throwaway data directory."""
    for key in list(os.environ):
        if key.startswith("DEEPWELL_") and key != "DEEPWELL_MODELS__CACHE_DIR":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPWELL_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


# A real PostgreSQL server (session) and a fresh database on it (per test); see pgserver.py.
from pgserver import pg_url, postgres_server  # noqa: E402, F401

# A real Redis server (session) for the Celery queue backend; see redisserver.py.
from redisserver import redis_server, redis_url  # noqa: E402, F401
