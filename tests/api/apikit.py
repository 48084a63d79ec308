"""Helpers of the service tests: an in-process app on a throwaway data directory, a real
server subprocess (``testkit.deepwell_serve``), keys, uploads that wait for their ingest job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from core import Settings

# KEY_PATTERN and free_port: the service tests import them from here.
from testkit import KEY_PATTERN, Served, deepwell_serve, free_port, serve_env  # noqa: F401

#: A running ``deepwell serve`` (url, log, proc, admin_key()).
Server = Served

#: Small documents, each about one thing, so search and answers are predictable.
STORAGE_MD = (
    "# Storage service\n\nThe storage service keeps customer files in three regions: "
    "Dublin, Oslo and Tokyo.\n\n## Pricing\n\nHot storage costs 2 cents per gigabyte and month; "
    "cold storage costs 4 tenths of a cent.\n"
)


def settings_for(data: Path, **api: Any) -> Settings:
    """Extractive answers (no model), the default everything else, data under ``data``."""
    return Settings(
        data_dir=data,
        llm={"backend": "extractive"},
        log_level="warning",
        ingest={"workers": 1, "allowed_roots": [str(data.parent / "sync")]},
        api=api,
    )


@dataclass
class Client:
    """One key's view of the API."""

    http: TestClient | httpx.Client
    key: str
    key_id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, headers=self.headers, **kw)

    def wait_job(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        # Polls back off to 1 s, so a slow job on a busy machine stays under the key's
        # rate limit (120 requests a minute): 5 polls a second hit it after ~24 s.
        deadline = time.monotonic() + timeout
        pause = 0.1
        while time.monotonic() < deadline:
            r = self.get(f"/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job: dict[str, Any] = r.json()
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(pause)
            pause = min(1.0, pause * 1.5)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")

    def upload(
        self,
        name: str,
        text: str,
        *,
        acl: list[str] | None = None,
        metadata: str | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if acl is not None:
            data["acl"] = acl
        if metadata is not None:
            data["metadata"] = metadata
        r = self.post(
            "/v1/documents", files={"file": (name, text.encode(), "text/markdown")}, data=data
        )
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        if wait:
            job = self.wait_job(body["job_id"])
            assert job["status"] == "done", job
            body["job"] = job
        return body


def new_key(app_client: TestClient, **fields: Any) -> Client:
    """A key created straight in the app's key store."""
    services = app_client.app.state.services  # type: ignore[attr-defined]
    info, secret = services.keys.create(**fields)
    return Client(app_client, secret, info.key_id)


@contextmanager
def running_app(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@contextmanager
def live_server(root: Path, **env: str) -> Iterator[Server]:
    """``deepwell serve`` on a free loopback port with the extractive backend, once ready."""
    variables = {
        "DEEPWELL_LLM__BACKEND": "extractive",
        "DEEPWELL_LOG_FORMAT": "json",
        "DEEPWELL_INGEST__WORKERS": "1",
        **env,
    }
    with deepwell_serve(root, serve_env(root / "data", **variables), ready_path="/readyz") as srv:
        yield srv
