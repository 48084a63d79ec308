"""The expensive objects of a running server, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from core import Settings, get_logger
from core.db import describe as describe_db
from core.db import make_engine
from core.models import ResolvedModel, configured_embedding, configured_llm
from ingest.registry import Registry
from retrieval.embedding import Embedder, make_embedder
from retrieval.index import VectorIndex, open_index

log = get_logger(__name__)


@dataclass
class Services:
    """Everything request handlers need, injected through :mod:`api.deps`."""

    settings: Settings
    engine: Engine
    registry: Registry
    index: VectorIndex
    embedder: Embedder
    llm_model: ResolvedModel | None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings, *, with_llm: bool = True) -> Services:
        """Open the database and index and verify the models.

        ``with_llm`` (a server): also verify the LLM and load the embedder now, so the
        first query is fast. Without it (CLI jobs) the embedder loads on first use.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings)
        registry = Registry(engine)
        registry.create_schema()
        embedder = make_embedder(settings, configured_embedding(settings))
        if with_llm:  # the server answers queries at once; the CLI loads the model when it must
            embedder.warm_up()
        llm_model = configured_llm(settings) if with_llm else None
        index = open_index(settings)
        try:
            index.ensure_collection(embedder.dim)
        except Exception:
            index.close()
            raise
        services = cls(settings, engine, registry, index, embedder, llm_model)
        log.info("services.started", **{k: v["backend"] for k, v in services.backends().items()})
        return services

    def close(self) -> None:
        self.index.close()
        self.engine.dispose()

    def backends(self) -> dict[str, dict[str, Any]]:
        """What each tier runs on, for /healthz and start-up logs."""
        llm: dict[str, Any] = {
            "backend": self.settings.llm.backend,
            "model": self.settings.llm.model,
        }
        if self.llm_model is not None:
            llm |= {"model": self.llm_model.name, "path": str(self.llm_model.path)}
        elif self.settings.llm.backend == "openai":
            llm["base_url"] = self.settings.llm.base_url
        return {
            "index": self.index.describe(),
            "database": describe_db(self.engine),
            "embedding": self.embedder.describe(),
            "llm": llm,
        }
