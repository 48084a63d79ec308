"""``open_index``: the settings choose the backend and where it lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from core import BackendUnavailableError, Settings
from retrieval.index import EdgeIndex, QdrantClientIndex, SearchTuning, open_index


def test_edge_is_the_default_and_lives_in_the_data_dir(clean_env: Path) -> None:
    settings = Settings()
    with open_index(settings) as index:
        assert isinstance(index, EdgeIndex)
        index.ensure_collection(8)
        assert index.describe()["path"] == str(settings.index_path / "deepwell")
        assert index.tuning == SearchTuning()  # ACORN on, the engine's ef
    assert (settings.data_dir / "index" / "deepwell").is_dir()


def test_qdrant_backend_in_local_mode(clean_env: Path) -> None:
    settings = Settings(
        index={"backend": "qdrant", "local_path": clean_env / "q", "collection": "x"}
    )
    with open_index(settings) as index:
        assert isinstance(index, QdrantClientIndex)
        index.ensure_collection(8)
        facts = index.describe()
        assert facts["local_mode"] is True
        assert facts["collection"] == "x"
        assert facts["location"] == str(clean_env / "q")


def test_qdrant_backend_with_a_url_passes_the_server_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def connect(collection: str, **kwargs: Any) -> str:
        seen.update(kwargs, collection=collection)
        return "index"

    # Recorded, not connected: a real client would start a version check against the URL.
    monkeypatch.setattr(QdrantClientIndex, "connect", staticmethod(connect))
    server = {
        "backend": "qdrant",
        "url": "http://127.0.0.1:9",
        "api_key": "k",
        "timeout_s": 2,
        "hnsw_ef": 128,
        "acorn_max_selectivity": 0.3,
    }
    assert open_index(Settings(index=server)) == "index"  # type: ignore[comparison-overlap]
    assert seen == {
        "collection": "deepwell",
        "url": "http://127.0.0.1:9",
        "api_key": "k",
        "timeout_s": 2.0,
        "shards": 1,
        "replication_factor": 1,
        "write_consistency": 1,
        "retries": 3,
        "retry_backoff_s": 0.5,
        "tuning": SearchTuning(hnsw_ef=128, acorn=True, acorn_max_selectivity=0.3),
    }


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    client = QdrantClient(url="http://127.0.0.1:9", timeout=2, check_compatibility=False)
    with QdrantClientIndex(client, "x") as index:
        assert index.local is False
        assert index.location == "http://127.0.0.1:9"
        with pytest.raises(BackendUnavailableError, match="unreachable"):
            index.count()
