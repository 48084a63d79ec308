"""The command line's way to a running server: find it, find a key for it, call its API.

A server that owns an embedded store holds its lock, so while one runs the CLI goes through
its HTTP API instead of opening the store. Which server: ``--url`` / ``DEEPWELL_URL``, else
the one whose ``<data_dir>/server.json`` (written by ``deepwell serve`` once it listens,
removed on exit) names a live process. Which key: ``DEEPWELL_API_KEY``, else the one
``deepwell login`` stored for that URL in ``credentials.toml`` under the user's config
directory (mode 0600). Every failure is a :class:`ClientError` in the user's words.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from core import DeepwellError

SERVER_FILE = "server.json"
CREDENTIALS_FILE = "credentials.toml"
TIMEOUT_S = 60.0
#: Answers stream for as long as the model writes; only connecting and each read are bounded.
STREAM_TIMEOUT = httpx.Timeout(TIMEOUT_S, read=600.0)
#: Over the rate limit: wait this long at most, this many times, before giving up.
MAX_WAIT_S = 30.0
RETRIES = 2


class ClientError(DeepwellError):
    """The server could not be reached, refused the key, or answered with an error."""

    code = "client_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# --- the server of a data directory ------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """A ``deepwell serve`` process and where it answers."""

    url: str
    pid: int


def client_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server bound to ``host:port``
    (a wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104  (not binding: mapping a bind address to loopback)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def write_server_file(data_dir: Path, url: str, pid: int | None = None) -> Path:
    """Record that this process (or ``pid``) serves ``data_dir`` at ``url``."""
    path = data_dir / SERVER_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"url": url, "pid": pid or os.getpid()}) + "\n")
    tmp.replace(path)
    return path


def remove_server_file(data_dir: Path, pid: int | None = None) -> None:
    """Remove ``server.json`` if it names this process (or ``pid``): never another server's."""
    path = data_dir / SERVER_FILE
    info = _read_server_file(path)
    if info is not None and info.pid == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def _read_server_file(path: Path) -> ServerInfo | None:
    try:
        data = json.loads(path.read_text())
        return ServerInfo(url=str(data["url"]).rstrip("/"), pid=int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_server(data_dir: Path) -> ServerInfo | None:
    """The server ``data_dir/server.json`` names, if its process lives (a stale file is
    ignored)."""
    info = _read_server_file(data_dir / SERVER_FILE)
    if info is None or not pid_alive(info.pid):
        return None
    return info


# --- keys stored by ``deepwell login`` ---------------------------------------------------


def credentials_path() -> Path:
    """``credentials.toml`` in the user's config directory (``~/.config/deepwell`` on Linux,
    ``$XDG_CONFIG_HOME/deepwell`` where that is set)."""
    return Path(typer.get_app_dir("deepwell")) / CREDENTIALS_FILE


def _credentials(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ClientError(f"cannot read {path}: {exc}; remove it and run deepwell login") from exc


def stored_key(url: str) -> str | None:
    """The key ``deepwell login`` stored for ``url``, if any."""
    entry = _credentials(credentials_path()).get(url.rstrip("/"))
    key = entry.get("key") if isinstance(entry, dict) else None
    return key if isinstance(key, str) and key else None


def store_key(url: str, key: str) -> Path:
    """Store ``key`` for ``url`` (replacing an older one), readable by this user only."""
    path = credentials_path()
    entries = _credentials(path)
    entries[url.rstrip("/")] = {"key": key}
    lines = ["# API keys of deepwell servers, written by `deepwell login`. Keep private.\n"]
    for server, entry in sorted(entries.items()):
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            # A JSON string with only ASCII is a valid TOML basic string.
            lines.append(f"\n[{json.dumps(server)}]\nkey = {json.dumps(entry['key'])}\n")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{CREDENTIALS_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(lines))
    os.chmod(tmp, 0o600)  # an older file of that name may have had wider permissions
    tmp.replace(path)
    return path


# --- the HTTP client ---------------------------------------------------------------------


class ApiClient:
    """An API key's view of one server; each error becomes a :class:`ClientError`.

    ``via`` says how the server was found (for messages), ``key_source`` where the key came
    from.
    """

    def __init__(self, url: str, key: str, *, via: str, key_source: str) -> None:
        self.url = url.rstrip("/")
        self.via = via
        self.key_source = key_source
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key}", "User-Agent": "deepwell-cli"},
            timeout=TIMEOUT_S,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """``method path``; raises :class:`ClientError` unless the status is 2xx.

        Over the key's rate limit (429), it waits as long as ``Retry-After`` says (up to
        :data:`MAX_WAIT_S`) and tries again, at most :data:`RETRIES` times.
        """
        for attempt in range(RETRIES + 1):
            try:
                response = self.http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                raise self.transport_error(exc) from exc
            wait = _retry_after(response)
            if response.status_code != 429 or wait is None or attempt == RETRIES:
                break
            time.sleep(wait)
        if response.is_error:
            raise self.status_error(response)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        """The JSON of ``GET path``."""
        return self.request("GET", path, **kw).json()

    def post(self, path: str, **kw: Any) -> Any:
        """The JSON of ``POST path``."""
        return self.request("POST", path, **kw).json()

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A streamed response (2xx only), closed on exit."""
        try:
            with self.http.stream(method, path, timeout=STREAM_TIMEOUT, **kw) as response:
                if response.is_error:
                    response.read()
                    raise self.status_error(response)
                yield response
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from exc

    def transport_error(self, exc: httpx.HTTPError) -> ClientError:
        if isinstance(exc, httpx.TimeoutException):
            return ClientError(f"the deepwell server at {self.url} did not answer in time ({exc})")
        return ClientError(
            f"cannot reach the deepwell server at {self.url} ({self.via}): {exc}. "
            "Is it running? Start it with `deepwell serve`, or name another with --url."
        )

    def status_error(self, response: httpx.Response) -> ClientError:
        status = response.status_code
        message = _error_message(response)
        if status == 401:
            text = (
                f"the server at {self.url} rejected the API key from {self.key_source} "
                f"({message}): run `deepwell login --url {self.url}` with a valid key, or set "
                "DEEPWELL_API_KEY"
            )
        elif status == 403:
            text = f"not allowed: {message}. Ask an admin of the server for a key that may."
        elif status == 429:
            text = f"the server is limiting requests ({message}); try again in a minute"
        elif status >= 500:
            text = f"the server failed ({status}): {message} (its log has the details)"
        else:
            text = message
        return ClientError(text, status)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds ``Retry-After`` asks to wait, when given and at most :data:`MAX_WAIT_S`."""
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_WAIT_S else None


def _error_message(response: httpx.Response) -> str:
    """The message of the API's error shape, else the start of the body."""
    try:
        body = response.json()
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


def server_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """``(event, data)`` of a Server-Sent Events response whose data is JSON."""
    event, data = "message", list[str]()
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, json.loads("\n".join(data))


# --- choosing: a server, or the store ----------------------------------------------------


def no_key_message(url: str, via: str) -> str:
    """What to do when no key is known for the server at ``url``."""
    return (
        f"a deepwell server answers for this at {url} ({via}), so this command goes "
        "through its API, which needs an API key. Run `deepwell login"
        + ("" if "server.json" in via else f" --url {url}")
        + "` once (it asks for the key and stores it), or set DEEPWELL_API_KEY. "
        "The first admin key was printed by `deepwell serve` when it first started; the "
        "operator can create another with `deepwell keys create --user NAME --role admin`."
    )


def find_server(data_dir: Path, url: str | None) -> tuple[str, str] | None:
    """``(url, how it was found)``: ``url`` (from --url or DEEPWELL_URL) when given, else the
    server running on ``data_dir``, else None."""
    if url:
        return url.rstrip("/"), "from --url or DEEPWELL_URL"
    info = running_server(data_dir)
    if info is None:
        return None
    return info.url, f"pid {info.pid}, from {data_dir / SERVER_FILE}"


def connect(data_dir: Path, url: str | None, api_key: str | None) -> ApiClient | None:
    """A client of the server the CLI should talk to, or None: no server, open the store.

    :param url: --url / DEEPWELL_URL, if given.
    :param api_key: DEEPWELL_API_KEY, if set.
    :raises ClientError: a server is there but no key is known for it.
    """
    found = find_server(data_dir, url)
    if found is None:
        return None
    server, via = found
    if api_key:
        return ApiClient(server, api_key, via=via, key_source="DEEPWELL_API_KEY")
    key = stored_key(server)
    if key is None:
        raise ClientError(no_key_message(server, via))
    return ApiClient(server, key, via=via, key_source=str(credentials_path()))
