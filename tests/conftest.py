"""Suite-wide fixtures.

The network guard is pytest-socket, switched on for every test in pyproject's
``addopts`` (``--allow-hosts``): a connection to anything but loopback fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import core  # noqa: F401  (telemetry off before any third-party import in tests)
from testkit import (
    REDIS_MISSING,
    PostgresServer,
    RedisServer,
    find_redis_server,
    postgres_unavailable,
    throwaway_postgres,
    throwaway_redis,
)

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the whole session (skips without one)."""
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis on 127.0.0.1 for the whole session (skips without the binary)."""
    binary = find_redis_server()
    if binary is None or not binary.exists():
        pytest.skip(REDIS_MISSING)
    with throwaway_redis(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, emptied after the test."""
    yield redis_server.url
    redis_server.flush()
