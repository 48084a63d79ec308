"""A real PostgreSQL server for tests and benchmarks: Debian's binaries, a throwaway cluster.

:func:`throwaway_postgres` runs ``initdb`` into a temporary directory and starts the server
on a free port of 127.0.0.1 with ``pg_ctl``; it is stopped and removed on the way out.
:meth:`PostgresServer.create_database` gives the URL of a fresh, empty database on it.
:func:`postgres_unavailable` says why no server can start here (the tests skip with it).
The binaries are found under ``/usr/lib/postgresql/<version>/bin`` (the newest) or on
``PATH``; ``PG_BIN`` overrides.

PostgreSQL refuses to run as root: under root every server command runs as the
``postgres`` system user (``runuser``), which owns the temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testkit.servers import free_port


def find_pg_bin() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``, or None."""
    if override := os.environ.get("PG_BIN"):
        return Path(override)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class PostgresServer:
    """One throwaway cluster; :meth:`stop` and :meth:`start` may be called repeatedly."""

    bin_dir: Path
    root: Path
    port: int = field(default_factory=free_port)
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(  # noqa: S603  (Debian's binaries, fixed arguments, no shell)
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()}\n{tail}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8")

    def start(self) -> None:
        # Durability is not under test: fsync off makes CREATE DATABASE and commits fast.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        conninfo = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the server accepts connections again (after :meth:`start`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"postgres on port {self.port} did not come up in {timeout} s")


def postgres_unavailable() -> str | None:
    """Why no PostgreSQL server can be started here, or None when one can."""
    bin_dir = find_pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        return "PostgreSQL binaries not found (apt-get install postgresql, or set PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot be started"
    return None


@contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """A new cluster, running on 127.0.0.1 until exit, then stopped and removed.

    Raises:
        RuntimeError: :func:`postgres_unavailable` gives a reason, or the server failed.
    """
    reason = postgres_unavailable()
    bin_dir = find_pg_bin()
    if reason is not None or bin_dir is None:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="deepwell-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PostgresServer(bin_dir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        # Already stopped when a caller stopped it and failed before restarting it.
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
