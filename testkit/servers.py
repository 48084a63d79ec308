"""A deepwell server for tests and benchmarks, on a free loopback port, waited for.

:func:`deepwell_serve` runs ``deepwell serve`` in a subprocess (its output in a log file)
and returns once a health route answers 200; :class:`AppThread` runs an ASGI app under
uvicorn in a thread of this process. Both raise :class:`ServerError` when the server does
not come up, with the end of its log, and stop it on the way out.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

#: An API key as ``deepwell serve`` prints it (the first admin key, at start-up).
KEY_PATTERN = re.compile(r"dw_[A-Za-z0-9_-]{43}")
#: Kept from the caller's environment: where the exported models live, if not the default.
_INHERITED = ("DEEPWELL_MODELS__CACHE_DIR",)


class ServerError(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(data_dir: Path, **variables: str) -> dict[str, str]:
    """The environment of a ``deepwell serve`` child process.

    This process's environment without its ``DEEPWELL_*`` variables (so the outside
    configuration does not leak in; the models' cache directory is kept), then
    ``DEEPWELL_DATA_DIR=data_dir``, then ``variables``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPWELL_")}
    env |= {k: os.environ[k] for k in _INHERITED if k in os.environ}
    return env | {"DEEPWELL_DATA_DIR": str(data_dir), **variables}


@dataclass
class Served:
    """A running ``deepwell serve``: its base URL, log file and process."""

    url: str
    log: Path
    proc: subprocess.Popen[bytes]

    def log_tail(self, chars: int = 3000) -> str:
        return _tail(self.log, chars)

    def admin_key(self) -> str:
        """The first admin key the server printed at start-up."""
        found = KEY_PATTERN.findall(self.log.read_text(errors="replace"))
        if not found:
            raise ServerError(f"the server printed no admin key\n{self.log_tail()}")
        return str(found[0])


def _tail(log: Path | None, chars: int = 3000) -> str:
    if log is None or not log.is_file():
        return ""
    return log.read_text(errors="replace")[-chars:]


def wait_until_ready(
    url: str,
    *,
    path: str = "/healthz",
    timeout: float = 120.0,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``url + path`` until it answers 200.

    Raises:
        ServerError: ``proc`` exited first, or ``timeout`` seconds passed; with ``log``'s end.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"server exited ({proc.returncode}):\n{_tail(log)}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise ServerError(
                f"server at {url} did not answer {path} in {timeout:g} s:\n{_tail(log)}"
            )
        time.sleep(0.3)


@contextmanager
def deepwell_serve(
    cwd: Path,
    env: Mapping[str, str],
    *,
    log: Path | None = None,
    ready_path: str = "/healthz",
    timeout: float = 120.0,
    args: Sequence[str] = (),
) -> Iterator[Served]:
    """``deepwell serve`` on a free loopback port, from ``cwd`` with ``env``, until exit.

    Its output goes to ``log`` (default ``cwd / "server.log"``). Yields once ``ready_path``
    answers 200; terminates the server on the way out.

    Raises:
        ServerError: the server exited or did not become ready within ``timeout`` seconds.
    """
    log = log or cwd / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603  (this Python, fixed arguments, no shell)
            [sys.executable, "-m", "cli", "serve", "--port", str(port), *args],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(url, path=ready_path, timeout=timeout, proc=proc, log=log)
        yield Served(url, log, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class AppThread:
    """An ASGI app under uvicorn in a daemon thread of this process, on a free loopback port.

    ``config`` goes to ``uvicorn.Config`` (``log_level`` defaults to ``warning``).
    """

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config.setdefault("log_level", "warning")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 120.0) -> str:
        """Start serving; returns the base URL once uvicorn has started.

        Raises:
            ServerError: the thread ended first, or ``timeout`` seconds passed.
        """
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise ServerError(f"the app at {self.url} stopped while starting")
            if time.monotonic() > deadline:
                raise ServerError(f"the app at {self.url} did not start in {timeout:g} s")
            time.sleep(0.02)
        return self.url

    def stop(self, timeout: float = 60.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> AppThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
