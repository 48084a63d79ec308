"""``ingest.Store``: what the CLI's offline commands open (database, registry, index, embedder;
no LLM), and what the server's services are built on."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import ConfigError, Settings
from ingest import Store


def test_a_store_opens_without_an_llm_and_closes_its_index(tmp_path: Path) -> None:
    # A local LLM that is not there: a store never looks for it.
    settings = Settings(data_dir=tmp_path / "data", llm={"model": "no-such-model"})
    with Store.open(settings) as store:
        backends = store.backends()
        assert set(backends) == {"index", "database", "embedding"}
        assert backends["index"]["backend"] == "qdrant-edge"
        assert store.registry.documents(tenant="default") == []
    with Store.open(settings) as again:  # the embedded index's lock was released
        assert again.index.count() == 0


def test_an_unknown_backend_leaves_nothing_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.index.backend = "nope"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="valid names: 'edge', 'qdrant'"):
        Store.open(settings)
    settings.index.backend = "edge"
    with Store.open(settings) as store:
        assert store.index.count() == 0
