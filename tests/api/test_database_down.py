"""The database going away under a running server: 503 with Retry-After, then recovery.

A real PostgreSQL server (``testkit.pgserver``) is stopped and started again under the app;
the app is never restarted.
"""

from __future__ import annotations

import time
from pathlib import Path

from apikit import new_key, running_app

from core import Settings
from testkit import PostgresServer


def test_database_down_is_503_and_the_app_recovers(
    tmp_path: Path, postgres_server: PostgresServer, pg_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        llm={"backend": "extractive"},
        log_level="warning",
        ingest={"workers": 1},
        database={"url": pg_url, "connect_timeout_s": 2},
    )
    with running_app(settings) as http:
        services = http.app.state.services  # type: ignore[attr-defined]
        assert services.backends()["database"]["backend"] == "postgresql"
        admin = new_key(http, user="ann", role="admin")
        assert admin.get("/v1/me").status_code == 200

        postgres_server.stop()
        try:
            started = time.monotonic()
            down = admin.get("/v1/me")
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"].isdigit()
            assert down.json()["error"]["code"] == "unavailable"
            assert time.monotonic() - started < 10  # fails fast, does not hang
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert "Retry-After" in ready.headers
            time.sleep(2.5)  # the ingest worker polls the database meanwhile
        finally:
            postgres_server.start()
            postgres_server.wait_ready()

        assert admin.get("/v1/me").status_code == 200
        assert http.get("/readyz").status_code == 200
        assert services.jobs._thread is not None
        assert services.jobs._thread.is_alive()  # the worker survived the outage
