"""Issue 12, findings 5 and 6 (HTTP limits): oversized request heads are refused by the
server before they reach the app, requests without a valid key are rate-limited per client
address (so keys cannot be guessed at full speed), and unknown and revoked keys look the
same to the client while the server log tells them apart."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from api import KeyStore
from api.security import MAX_HEADERS
from tests.api.apikit import Server, live_server, new_key, running_app, settings_for

MB = 1024 * 1024
HUGE_HEADER = 64 * MB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_server(tmp_path_factory.mktemp("limits")) as srv:
        yield srv


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@dataclass
class Refusal:
    status: int | None  # None: the server closed the connection without an answer
    sent: int  # bytes of the header value sent before the server answered or closed
    seconds: float


def _send_huge_header(url: str, size: int) -> Refusal:
    """GET /healthz with one header of ``size`` bytes, no key; stop sending as soon as the
    server answers or closes."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    started = time.monotonic()
    sent = 0
    status: int | None = None
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: deepwell\r\nX-Big: ")
            chunk = b"a" * 65536
            while sent < size:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(chunk)
                sent += len(chunk)
            else:
                sock.sendall(b"\r\n\r\n")
            head = sock.recv(4096)
            if head:
                status = int(head.split()[1])
        except (ConnectionResetError, BrokenPipeError):
            pass
    return Refusal(status, sent, time.monotonic() - started)


def test_a_64_mb_header_is_refused_quickly_and_memory_stays_flat(server: Server) -> None:
    pid = server.proc.pid
    before = _rss_mb(pid)
    one = _send_huge_header(server.url, HUGE_HEADER)
    results: list[Refusal] = []
    threads = [
        threading.Thread(target=lambda: results.append(_send_huge_header(server.url, HUGE_HEADER)))
        for _ in range(5)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    five_s = time.monotonic() - started
    after = _rss_mb(pid)
    print(
        f"\n64 MB header: status {one.status}, {one.sent / MB:.2f} MB sent before refusal, "
        f"{one.seconds:.3f} s; five at once: {five_s:.3f} s, statuses "
        f"{sorted(str(r.status) for r in results)}, "
        f"max sent {max(r.sent for r in results) / MB:.2f} MB; "
        f"server RSS {before:.0f} -> {after:.0f} MB"
    )
    assert len(results) == 5
    for refusal in [one, *results]:
        assert refusal.status in (400, 431, None), refusal
        assert refusal.sent < 16 * MB, refusal  # refused long before the end
    assert five_s < 10
    assert after - before < 40, (before, after)
    # The server is still fine.
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_too_many_headers_are_refused(server: Server) -> None:
    headers = {f"X-Filler-{i}": "x" for i in range(MAX_HEADERS + 1)}
    r = httpx.get(f"{server.url}/healthz", headers=headers)
    assert r.status_code == 431, r.text
    assert r.json()["error"]["code"] == "headers_too_large"
    few = {f"X-Filler-{i}": "x" for i in range(20)}
    assert httpx.get(f"{server.url}/healthz", headers=few).status_code == 200


ATTACKER = ("10.0.0.9", 40000)
OTHER = ("10.0.0.10", 40000)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    """An in-process app with 5 requests a minute per address without a valid key."""
    with running_app(settings_for(tmp_path / "data", anonymous_rate_limit_per_minute=5)) as http:
        yield http


def _from(http: TestClient, client: tuple[str, int]) -> TestClient:
    """Another client address on the same running app (its lifespan is ``http``'s)."""
    return TestClient(http.app, client=client)


def test_failed_key_checks_exhaust_the_address_and_block_key_lookups(
    limited: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = new_key(limited, user="root", role="admin")
    attacker = _from(limited, ATTACKER)
    lookups: list[str] = []
    real = KeyStore.authenticate

    def counting(self: KeyStore, secret: str) -> object:
        lookups.append(secret)
        return real(self, secret)

    monkeypatch.setattr(KeyStore, "authenticate", counting)
    for i in range(5):
        r = attacker.get("/v1/me", headers={"Authorization": f"Bearer dw_guess{i:040d}"})
        assert r.status_code == 401, r.text
    assert len(lookups) == 5
    # Exhausted: further key checks from that address are refused before any lookup,
    # a valid key included, and so are requests without a key.
    for headers in (
        {"Authorization": "Bearer dw_guess-next"},
        {"X-API-Key": admin.key},
        {},
    ):
        r = attacker.get("/v1/me", headers=headers)
        assert r.status_code == 429, (headers, r.text)
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "rate_limited"
    assert attacker.get("/healthz").status_code == 429
    assert len(lookups) == 5
    # Another address is unaffected: its valid key works, and so do the open routes.
    other = _from(limited, OTHER)
    assert other.get("/v1/me", headers=admin.headers).status_code == 200
    assert other.get("/healthz").status_code == 200


def test_requests_without_a_key_are_limited_per_address_on_every_route(
    limited: TestClient,
) -> None:
    anonymous = _from(limited, ATTACKER)
    paths = ["/healthz", "/readyz", "/openapi.json", "/docs", "/v1/me"]
    statuses = [anonymous.get(p).status_code for p in paths]
    assert statuses == [200, 200, 200, 200, 401]
    for path in [*paths, "/redoc", "/", "/static/app.js", "/metrics", "/v1/search"]:
        r = anonymous.get(path)
        assert r.status_code == 429, (path, r.status_code)
        assert "retry-after" in r.headers
    assert _from(limited, OTHER).get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/healthz", {"Authorization": "Bearer dw_not-checked-here"}),  # a route with no key
        ("/docs", {"X-API-Key": "anything"}),
        ("/v1/me", {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}),  # not a bearer key
        ("/v1/me", {"X-API-Key": ""}),
        ("/v1/nope", {"Authorization": "Bearer dw_x"}),  # no route, so no key check
    ],
)
def test_a_credential_header_that_proves_nothing_is_limited_too(
    limited: TestClient, path: str, headers: dict[str, str]
) -> None:
    client = _from(limited, ATTACKER)
    statuses = [client.get(path, headers=headers).status_code for _ in range(6)]
    assert statuses[:5] == [statuses[0]] * 5
    assert statuses[0] != 429
    assert statuses[5] == 429, statuses


def test_valid_keys_do_not_spend_the_address_budget(limited: TestClient) -> None:
    ann = new_key(limited, user="ann", role="reader")
    client = _from(limited, ATTACKER)
    for _ in range(12):  # over the address limit (5), under the key limit (120)
        assert client.get("/v1/me", headers=ann.headers).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_valid_keys_keep_their_own_limit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", rate_limit_per_minute=3)
    with running_app(settings) as http:
        ann = new_key(http, user="ann", role="reader")
        assert [ann.get("/v1/me").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_unknown_and_revoked_keys_get_the_same_answer_and_the_log_says_which(
    tmp_path: Path,
) -> None:
    with running_app(settings_for(tmp_path / "data")) as http:
        services = http.app.state.services  # type: ignore[attr-defined]
        gone = new_key(http, user="gone", role="reader")
        services.keys.revoke(gone.key_id)
        with capture_logs() as unknown_logs:
            unknown = http.get("/v1/me", headers={"Authorization": "Bearer dw_" + "x" * 43})
        with capture_logs() as revoked_logs:
            revoked = http.get("/v1/me", headers=gone.headers)
    assert unknown.status_code == revoked.status_code == 401
    assert unknown.json() == revoked.json()
    assert revoked.json()["error"]["message"] == "invalid API key"
    (unknown_event,) = [e for e in unknown_logs if e["event"] == "auth.key_rejected"]
    assert unknown_event["reason"] == "unknown"
    assert unknown_event["log_level"] == "warning"
    (revoked_event,) = [e for e in revoked_logs if e["event"] == "auth.key_rejected"]
    assert revoked_event["reason"] == "revoked"
    assert revoked_event["log_level"] == "warning"
    assert revoked_event["key_id"] == gone.key_id
    assert revoked_event["prefix"] == gone.key[:11]  # the visible prefix
    assert gone.key not in repr(revoked_logs)  # never the secret


def test_static_files_are_cached_by_the_browser_so_a_reload_costs_little(
    limited: TestClient,
) -> None:
    # The web app is ~11 files; without caching, a few reloads a minute from one address
    # would spend its whole budget of requests without a key.
    r = limited.get("/static/app.js")
    assert r.status_code == 200
    assert "max-age=" in r.headers["cache-control"]
    assert "cache-control" not in limited.get("/healthz").headers
