"""A real Redis server for the tests: Debian's ``redis-server`` on 127.0.0.1, in a temp dir.

``redis_server`` (session) starts one on a free port with append-only persistence
(fsync every write: a restart loses nothing, as in production), stopped and removed
at the end. :meth:`RedisServer.stop` / :meth:`RedisServer.start` restart it on the same
port and data. When the binary is missing it is installed with apt-get when running as
root; otherwise the tests skip, saying why. ``REDIS_SERVER`` overrides the binary.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_redis_server() -> Path | None:
    """``redis-server``; installed from Debian's packages when missing and we are root."""
    if override := os.environ.get("REDIS_SERVER"):
        return Path(override)
    found = shutil.which("redis-server")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "redis-server"], env=env, check=False)
        # The package starts a system service: the tests run their own.
        subprocess.run(["service", "redis-server", "stop"], check=False, capture_output=True)
        found = shutil.which("redis-server")
    return Path(found) if found else None


@dataclass
class RedisServer:
    """One throwaway Redis; :meth:`stop` and :meth:`start` may be called repeatedly."""

    binary: Path
    root: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        cmd = [
            str(self.binary),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.root),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--protected-mode", "yes",
            "--logfile", str(self.root / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn,
            ):
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.root / "redis.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"redis-server on port {self.port} did not come up\n{log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A running Redis on 127.0.0.1 for the whole session (skips without the binary)."""
    binary = find_redis_server()
    if binary is None or not binary.exists():
        pytest.skip("redis-server not found (apt-get install redis-server, or set REDIS_SERVER)")
    root = Path(tempfile.mkdtemp(prefix="deepwell-redis-"))
    server = RedisServer(binary, root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, emptied after the test."""
    yield redis_server.url
    if redis_server.process is not None:
        import redis

        client = redis.Redis.from_url(redis_server.url)
        client.flushall()
        client.close()
