"""The server's services: built once, complete, in the app's lifespan (or by the caller
that hands them to ``create_app``, who closes them)."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import Services, create_app
from core import ConfigError
from ingest import JobQueue, Store
from tests.api.apikit import settings_for


def test_no_service_is_optional() -> None:
    for f in fields(Services):
        assert f.default is MISSING, f.name
        assert f.default_factory is MISSING, f.name
        assert "None" not in str(f.type), f"{f.name}: {f.type}"


def test_the_lifespan_builds_every_service_and_closes_them(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert isinstance(services, Services)
        assert all(getattr(services, f.name) is not None for f in fields(Services))
        assert isinstance(services.jobs, JobQueue)
        worker = services.jobs._thread
        assert worker is not None
        assert worker.is_alive()
        assert set(services.backends()) == {"index", "database", "embedding", "llm"}
    assert not worker.is_alive()
    with Store.open(settings) as store:  # the lifespan released the embedded index
        assert store.index.count() == 0


def test_given_services_are_left_to_their_builder(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    services = Services.start(settings)
    try:
        with TestClient(create_app(settings, services)) as client:
            assert client.app.state.services is services  # type: ignore[attr-defined]
        assert services.index.count() == 0  # still open after the app stopped
        worker = services.jobs._thread
        assert worker is not None
        assert worker.is_alive()
    finally:
        services.close()
    assert not worker.is_alive()


def test_a_failed_start_closes_what_it_opened(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    settings.queue.backend = "nope"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"unknown queue\.backend 'nope'"):
        Services.start(settings)
    settings.queue.backend = "inprocess"
    Services.start(settings).close()  # the embedded index was released
