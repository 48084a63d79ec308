"""A real Redis server for tests and benchmarks: Debian's ``redis-server`` on 127.0.0.1.

:func:`throwaway_redis` starts one on a free port in a temporary directory with append-only
persistence (fsync every write: a restart loses nothing, as in production), stopped and
removed on the way out. :meth:`RedisServer.stop` / :meth:`RedisServer.start` restart it on
the same port and data. When the binary is missing it is installed with apt-get when
running as root; otherwise :func:`find_redis_server` finds none (the tests skip).
``REDIS_SERVER`` overrides the binary.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testkit.servers import free_port


def find_redis_server() -> Path | None:
    """``redis-server``; installed from Debian's packages when missing and we are root."""
    if override := os.environ.get("REDIS_SERVER"):
        return Path(override)
    found = shutil.which("redis-server")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "redis-server"]  # from PATH, as an admin runs it
        subprocess.run(install, env=env, check=False)  # noqa: S603  (fixed arguments)
        # The package starts a system service: the tests run their own.
        stop = ["service", "redis-server", "stop"]
        subprocess.run(stop, check=False, capture_output=True)  # noqa: S603  (fixed arguments)
        found = shutil.which("redis-server")
    return Path(found) if found else None


@dataclass
class RedisServer:
    """One throwaway Redis; :meth:`stop` and :meth:`start` may be called repeatedly."""

    binary: Path
    root: Path
    port: int = field(default_factory=free_port)
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
        self.process = subprocess.Popen(  # noqa: S603  (the binary found above, fixed arguments)
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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

    def flush(self) -> None:
        """Empty every database (a no-op while stopped)."""
        if self.process is None:
            return
        import redis

        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


REDIS_MISSING = "redis-server not found (apt-get install redis-server, or set REDIS_SERVER)"


@contextmanager
def throwaway_redis(binary: Path | None = None) -> Iterator[RedisServer]:
    """A new Redis, running on 127.0.0.1 until exit, then stopped and its directory removed.

    ``binary`` defaults to :func:`find_redis_server`'s.

    Raises:
        RuntimeError: no ``redis-server`` here (:data:`REDIS_MISSING`), or it did not start.
    """
    binary = binary or find_redis_server()
    if binary is None or not binary.exists():
        raise RuntimeError(REDIS_MISSING)
    root = Path(tempfile.mkdtemp(prefix="deepwell-redis-"))
    server = RedisServer(binary, root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
