"""Kits that tests and benchmarks share: servers started and waited for, real PostgreSQL and
Redis from Debian's binaries, and the vector-index contract kit.

Shipped with the distribution so a benchmark, or another backend's test suite, uses the
same pieces as deepwell's tests. No pytest here: the suite's fixtures (``tests/conftest.py``,
``tests/retrieval/index/conftest.py``) are thin wrappers that skip where these say a server
cannot run. The packages never import this one (the layering contract in pyproject).
Each name is imported from its module on first use. The index contract kit is the module
``testkit.index_contract`` (its corpus, reference filter and backends belong together).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import lazy_exports

if TYPE_CHECKING:
    from testkit.pgserver import (
        PostgresServer,
        find_pg_bin,
        postgres_unavailable,
        throwaway_postgres,
    )
    from testkit.redisserver import (
        REDIS_MISSING,
        RedisServer,
        find_redis_server,
        throwaway_redis,
    )
    from testkit.servers import (
        KEY_PATTERN,
        AppThread,
        Served,
        ServerError,
        deepwell_serve,
        free_port,
        serve_env,
        wait_until_ready,
    )

#: Where each public name lives. Imported on first use.
_EXPORTS = {
    "KEY_PATTERN": "testkit.servers",
    "AppThread": "testkit.servers",
    "Served": "testkit.servers",
    "ServerError": "testkit.servers",
    "deepwell_serve": "testkit.servers",
    "free_port": "testkit.servers",
    "serve_env": "testkit.servers",
    "wait_until_ready": "testkit.servers",
    "PostgresServer": "testkit.pgserver",
    "find_pg_bin": "testkit.pgserver",
    "postgres_unavailable": "testkit.pgserver",
    "throwaway_postgres": "testkit.pgserver",
    "REDIS_MISSING": "testkit.redisserver",
    "RedisServer": "testkit.redisserver",
    "find_redis_server": "testkit.redisserver",
    "throwaway_redis": "testkit.redisserver",
}

__all__ = [
    "KEY_PATTERN",
    "REDIS_MISSING",
    "AppThread",
    "PostgresServer",
    "RedisServer",
    "Served",
    "ServerError",
    "deepwell_serve",
    "find_pg_bin",
    "find_redis_server",
    "free_port",
    "postgres_unavailable",
    "serve_env",
    "throwaway_postgres",
    "throwaway_redis",
    "wait_until_ready",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
