"""The embedded-index size warning: past ``index.embedded_warn_points`` the start-up log and
``/v1/admin/health`` say to move the index to a Qdrant server (``deepwell index migrate``)."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from core import Settings
from retrieval import index_warnings
from tests.api.apikit import STORAGE_MD, new_key, running_app, settings_for


def test_only_an_embedded_index_past_the_limit_warns() -> None:
    settings = Settings(index={"embedded_warn_points": 10})
    assert index_warnings(settings, {"points": 10}) == []
    (warning,) = index_warnings(settings, {"points": 11})
    assert "11 points" in warning
    assert "deepwell index migrate --to server" in warning
    local = Settings(index={"backend": "qdrant", "local_path": "q", "embedded_warn_points": 10})
    assert len(index_warnings(local, {"points": 50})) == 1  # qdrant-client local mode
    server = Settings(index={"backend": "qdrant", "url": "http://q:6333"})
    assert index_warnings(server, {"points": 10**9}) == []
    off = Settings(index={"embedded_warn_points": None})
    assert index_warnings(off, {"points": 10**9}) == []


def test_admin_health_and_the_start_log_warn_past_the_limit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", rate_limit_per_minute=0)
    settings.index.embedded_warn_points = 1
    with running_app(settings) as client:
        admin = new_key(client, user="root", role="admin")
        assert admin.get("/v1/admin/health").json()["warnings"] == []  # empty index
        writer = new_key(client, user="ann", role="writer")
        text = STORAGE_MD + "".join(f"\n## Part {i}\n\n" + "Word. " * 200 for i in range(3))
        job = writer.upload("storage.md", text)["job"]
        assert job["chunks"] > 1
        (warning,) = admin.get("/v1/admin/health").json()["warnings"]
        assert f"holds {job['chunks']} points" in warning
        assert "deepwell index migrate" in warning
    # structlog's capture, not the console: which stream the console handler writes to
    # depends on what configured logging earlier in the test session.
    with capture_logs() as logs, running_app(settings):  # a restart on the grown index
        pass
    assert any(e["event"] == "index.embedded_large" for e in logs), logs
