"""`deepwell serve` on a real port: health, readiness, backends, the error shape."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit import KEY_PATTERN, deepwell_serve, free_port, serve_env


def _env(data: Path) -> dict[str, str]:
    return serve_env(data / "data", DEEPWELL_LOG_FORMAT="json")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[str]:
    with deepwell_serve(data_dir, _env(data_dir)) as srv:
        yield srv.url


def test_admin_health_reports_backends(server: str, data_dir: Path) -> None:
    r = httpx.get(f"{server}/healthz")
    assert r.status_code == 200
    assert set(r.json()) == {"status", "version"}  # the details need an admin key
    (admin_key, *_) = KEY_PATTERN.findall((data_dir / "server.log").read_text())
    r = httpx.get(f"{server}/v1/admin/health", headers={"Authorization": f"Bearer {admin_key}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    backends = body["backends"]
    assert backends["index"]["backend"] == "qdrant-edge"
    assert backends["database"]["backend"] == "sqlite"
    assert backends["embedding"]["model"] == "all-MiniLM-L6-v2"
    assert backends["llm"]["backend"] == "local"
    assert Path(backends["llm"]["path"]).name.endswith(".gguf")


def test_readyz(server: str) -> None:
    r = httpx.get(f"{server}/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


def test_unknown_route_uses_the_error_shape(server: str) -> None:
    r = httpx.get(f"{server}/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_openapi_documents_health(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    assert {"/healthz", "/readyz"} <= set(spec["paths"])


def test_second_server_on_the_same_data_is_refused(server: str, data_dir: Path) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--port", str(free_port())],
        cwd=data_dir,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 1
    assert "in use by another process" in second.stderr


def test_dev_mode_refuses_non_loopback(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"DEEPWELL_API__DEV_MODE": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--host", "0.0.0.0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "loopback only" in proc.stdout
