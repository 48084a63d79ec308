"""Rate limits across API replicas: two ``deepwell serve`` processes counting in one Redis.

The two servers share the database (a key is valid on both) but not the embedded index
(each has its own data directory), as two replicas behind a load balancer would. With
``api.rate_limit_storage_url`` on the shared Redis, a key's ``N`` requests per minute,
spread over both servers, are all it gets: the next one is refused on either. With
``memory://`` each server would count alone and let ``2 N`` through.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from api.auth import KeyStore
from core import Settings, ensure_schema, make_engine
from testkit import RedisServer
from tests.api.apikit import Server, live_server

N = 6  # requests per minute, per key and per address without a key


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[tuple[Server, Server, str]]:
    """Two servers on one database and one Redis, and a reader key valid on both."""
    root = tmp_path_factory.mktemp("replicas")
    db = f"sqlite:///{root / 'shared.db'}"
    settings = Settings(data_dir=root / "setup", database={"url": db})
    engine = make_engine(settings)
    ensure_schema(engine, settings)
    _, secret = KeyStore(engine).create(user="ann", role="reader")
    engine.dispose()
    env = {
        "DEEPWELL_DATABASE__URL": db,
        "DEEPWELL_API__RATE_LIMIT_PER_MINUTE": str(N),
        "DEEPWELL_API__ANONYMOUS_RATE_LIMIT_PER_MINUTE": str(N),
        "DEEPWELL_API__RATE_LIMIT_STORAGE_URL": redis_server.url,
    }
    for name in ("a", "b"):
        (root / name).mkdir()
    with live_server(root / "a", **env) as a, live_server(root / "b", **env) as b:
        yield a, b, secret


@pytest.fixture
def fresh(
    servers: tuple[Server, Server, str], redis_server: RedisServer
) -> tuple[Server, Server, str]:
    """The servers with every count forgotten (the readiness checks spent address tokens)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return servers


def test_a_key_s_limit_holds_across_two_api_processes(fresh: tuple[Server, Server, str]) -> None:
    a, b, secret = fresh
    me = {"Authorization": f"Bearer {secret}"}
    codes = [httpx.get(f"{s.url}/v1/me", headers=me).status_code for s in [a, b] * (N // 2)]
    assert codes == [200] * N  # N requests, half on each server
    for server in (a, b):  # the next one is refused on either
        r = httpx.get(f"{server.url}/v1/me", headers=me)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60


def test_an_address_limit_holds_across_two_api_processes(
    fresh: tuple[Server, Server, str],
) -> None:
    a, b, _ = fresh
    codes = [httpx.get(f"{s.url}/healthz").status_code for s in [a, b] * (N // 2)]
    assert codes == [200] * N
    for server in (a, b):
        r = httpx.get(f"{server.url}/healthz")
        assert r.status_code == 429, r.text
        assert "api.anonymous_rate_limit_per_minute" in r.json()["error"]["message"]


def test_valid_keys_refund_the_address_token_in_the_shared_storage(
    fresh: tuple[Server, Server, str],
) -> None:
    """The address token a request with a valid key gives back is given back in Redis: key
    requests on one server leave the address's whole budget for requests without a key."""
    a, b, secret = fresh
    me = {"Authorization": f"Bearer {secret}"}
    assert [httpx.get(f"{a.url}/v1/me", headers=me).status_code for _ in range(N)] == [200] * N
    codes = [httpx.get(f"{s.url}/healthz").status_code for s in [b, a] * (N // 2)]
    assert codes == [200] * N
    assert httpx.get(f"{b.url}/healthz").status_code == 429
