"""Limits: per-key rate limit (429 + Retry-After), body and upload size (413), LLM timeout
(504), CORS off unless configured."""

from __future__ import annotations

from pathlib import Path

import httpx
import limits.storage.memory
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import api.limits
from api.limits import BodySizeLimit, RateLimitedError, RateLimiter, address_bucket
from core import BackendUnavailableError, ConfigError, LLMTimeoutError, Settings
from retrieval import ExtractiveLLM
from tests.api.apikit import free_port, new_key, running_app, settings_for


class Clock:
    """A settable ``time`` module for limits' memory storage and api.limits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(api.limits, "time", fake)
    return fake


def test_a_key_gets_its_burst_then_a_request_whenever_one_turns_a_minute_old(
    clock: Clock,
) -> None:
    limiter = RateLimiter(60)
    for _ in range(30):
        limiter.check("k1")
    clock.now += 30
    for _ in range(30):
        limiter.check("k1")
    with pytest.raises(RateLimitedError) as caught:
        limiter.check("k1")
    assert caught.value.retry_after_s == pytest.approx(30.0)  # the first 30 turn a minute old
    assert "60 requests per minute per key" in str(caught.value)
    limiter.check("k2")  # another key has its own window
    clock.now += 29
    with pytest.raises(RateLimitedError):
        limiter.check("k1")
    clock.now += 1.5
    for _ in range(30):  # the first 30 have left the window, the other 30 have not
        limiter.check("k1")
    with pytest.raises(RateLimitedError) as caught:
        limiter.check("k1")
    assert caught.value.retry_after_s == pytest.approx(29.5)  # the second 30, sent at +30 s


def test_a_refund_gives_back_the_request_just_counted(clock: Clock) -> None:
    limiter = RateLimiter(2)
    limiter.check("k")
    limiter.check("k")
    limiter.refund("k")
    limiter.check("k")
    with pytest.raises(RateLimitedError):
        limiter.check("k")
    limiter.refund("other")  # nothing counted: nothing to give back, no error


def test_a_zero_rate_turns_limiting_off() -> None:
    limiter = RateLimiter(0)
    for _ in range(1000):
        limiter.check("k")
    limiter.refund("k")


def test_limiters_sharing_a_redis_share_each_key_s_window(redis_url: str) -> None:
    """Two limiters on one Redis (as in two API processes) count a key together; limiters
    of another scope, or on memory, do not."""
    one, two = RateLimiter(4, storage=redis_url), RateLimiter(4, storage=redis_url)
    assert one.shared
    assert two.shared
    for limiter in (one, two, one, two):
        limiter.check("k")
    for limiter in (one, two):
        with pytest.raises(RateLimitedError) as caught:
            limiter.check("k")
        assert 59 < caught.value.retry_after_s <= 60
    two.refund("k")  # in Redis too
    one.check("k")
    with pytest.raises(RateLimitedError):
        two.check("k")
    RateLimiter(4, storage=redis_url, scope="addr").check("k")  # another limiter's window
    memory = [RateLimiter(4), RateLimiter(4)]
    for limiter in memory * 2:
        limiter.check("k")
    memory[0].check("k")  # each process would count alone: 5 requests pass


def test_an_unreachable_storage_is_503_not_a_request_let_through() -> None:
    limiter = RateLimiter(5, storage=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BackendUnavailableError, match="rate-limit storage unavailable"):
        limiter.check("k")
    with pytest.raises(BackendUnavailableError):
        limiter.refund("k")


def test_a_storage_outside_memory_and_redis_is_refused() -> None:
    with pytest.raises(ConfigError, match="memcached"):
        RateLimiter(5, storage="memcached://127.0.0.1:11211")
    with pytest.raises(ValidationError, match="rate_limit_storage_url"):
        Settings(api={"rate_limit_storage_url": "mongodb://db/limits"})


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("203.0.113.7", "addr:203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "addr:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "addr:2001:db8:1:2::/64"),  # same /64
        ("2001:db8:1:3::1", "addr:2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "addr:203.0.113.7"),  # IPv4-mapped: the IPv4 address
        ("203.0.113.7, 10.0.0.1", "addr:invalid"),
        ("client-chosen-name", "addr:invalid"),
        (None, "addr:unknown"),
        ("", "addr:unknown"),
    ],
)
def test_an_address_bucket_cannot_be_picked_at_will(host: str | None, bucket: str) -> None:
    assert address_bucket(host) == bucket


def _echo_app(request_bytes: int, upload_bytes: int) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    app = Starlette(
        routes=[
            Route("/v1/documents", echo, methods=["POST"]),
            Route("/v1/search", echo, methods=["POST"]),
        ]
    )
    return BodySizeLimit(  # type: ignore[return-value]
        app,
        request_bytes=request_bytes,
        upload_bytes=upload_bytes,
        is_upload=lambda m, p: p == "/v1/documents",
    )


def test_body_size_limits_by_content_length_and_by_stream() -> None:
    client = TestClient(_echo_app(100, 1000))
    assert client.post("/v1/search", content=b"x" * 100).json() == {"size": 100}
    r = client.post("/v1/search", content=b"x" * 101)
    assert r.status_code == 413
    assert r.json() == {
        "error": {
            "code": "payload_too_large",
            "message": "request body too large: the limit is 0.0001 MB (api.max_request_mb)",
        }
    }
    assert client.post("/v1/documents", content=b"x" * 1000).status_code == 200

    def chunks() -> object:  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"x" * 100

    r = client.post("/v1/documents", content=chunks())  # type: ignore[arg-type]
    assert r.status_code == 413
    assert "api.max_upload_mb" in r.text  # (the deepwell app renders it in the error shape)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("limits")
    settings = settings_for(
        root / "data", rate_limit_per_minute=5, max_request_mb=0.001, max_upload_mb=0.004
    )
    with running_app(settings) as http:
        yield http


def test_over_the_rate_limit_gets_429_with_retry_after(limited: TestClient) -> None:
    ann = new_key(limited, user="ann")
    bob = new_key(limited, user="bob")
    codes = [ann.get("/v1/me").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]
    r = ann.get("/v1/me")
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert bob.get("/v1/me").status_code == 200  # per key


def test_oversized_requests_and_uploads_get_413(limited: TestClient) -> None:
    w = new_key(limited, user="w", role="writer")
    r = w.post("/v1/search", json={"query": "x" * 1500})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert "api.max_request_mb" in r.json()["error"]["message"]
    r = w.post("/v1/documents", files={"file": ("big.md", b"a " * 1500)})
    assert r.status_code == 202  # 3 kB: over the request limit, under the upload limit
    r = w.post("/v1/documents", files={"file": ("huge.md", b"a " * 2500)})
    assert r.status_code == 413
    assert "api.max_upload_mb" in r.json()["error"]["message"]


def test_an_llm_timeout_is_504_and_an_error_event_in_streams(tmp_path: Path) -> None:
    class Slow(ExtractiveLLM):
        def stream(self, messages, *, max_tokens=None):  # type: ignore[no-untyped-def]
            raise LLMTimeoutError("local model did not finish within llm.timeout_s=1s")

    with running_app(settings_for(tmp_path / "data")) as http:
        w = new_key(http, user="w", role="writer")
        w.upload("a.md", "# A\n\nThe ferret budget is 12 dollars for the whole year.\n")
        http.app.state.services.llm = Slow()  # type: ignore[attr-defined]
        r = w.post("/v1/answer", json={"question": "What is the ferret budget?"})
        assert r.status_code == 504
        assert r.json()["error"]["code"] == "timeout"
        s = w.post("/v1/answer", json={"question": "What is the ferret budget?", "stream": True})
        assert s.status_code == 200
        assert "event: error" in s.text
        assert '"code": "timeout"' in s.text
        c = w.post(
            "/v1/chat/completions",
            json={"model": "deepwell", "messages": [{"role": "user", "content": "ferret budget?"}]},
        )
        assert c.status_code == 504


def test_cors_is_off_unless_configured(tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://intranet.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    with running_app(settings_for(tmp_path / "a")) as http:
        r = http.options("/v1/search", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    with running_app(
        settings_for(tmp_path / "b", cors_origins=["https://intranet.example"])
    ) as http:
        r = http.options("/v1/search", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://intranet.example"


def test_metrics_count_requests_by_route_template(limited: TestClient) -> None:
    w = new_key(limited, user="metrics")
    w.get("/v1/jobs/one")
    w.get("/v1/jobs/two")
    text = httpx.Response(200, content=limited.get("/metrics").content).text
    assert (
        'deepwell_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"}' in text
    )
    assert "deepwell_index_points" in text
    assert "deepwell_ingest_documents_total" in text
    assert "/v1/jobs/one" not in text


def test_a_rate_limit_storage_that_is_down_answers_503(tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    with running_app(settings_for(tmp_path / "data", rate_limit_storage_url=down)) as http:
        r = http.get("/healthz")
        assert r.status_code == 503
        assert r.json()["error"] == {
            "code": "unavailable",
            "message": "rate-limit storage unavailable (ConnectionError)",
        }
        assert r.headers["retry-after"] == "5"
        # Readiness goes through the same limiter, so a load balancer stops sending traffic
        # to a replica whose shared counts are out of reach.
        assert http.get("/readyz").status_code == 503
