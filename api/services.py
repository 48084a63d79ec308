"""The expensive objects of a running server, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from core import (
    ResolvedModel,
    Settings,
    configured_embedding,
    configured_llm,
    ensure_schema,
    get_logger,
    make_engine,
)
from core import describe as describe_db
from ingest import Registry
from retrieval import Embedder, VectorIndex, index_warnings, make_embedder, open_index

if TYPE_CHECKING:  # the server's runtime: built by serve(), not by CLI commands
    from api.audit import AuditLog
    from api.auth import KeyStore
    from api.limits import RateLimiter
    from api.metrics import Metrics
    from ingest import Ingestor, JobQueue
    from retrieval import LLM, Answerer, ConversationStore, Records, Searcher

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
    # The server's runtime, built by serve() (None in CLI commands).
    llm: LLM | None = None
    searcher: Searcher | None = None
    keys: KeyStore | None = None
    records: Records | None = None
    conversations: ConversationStore | None = None
    jobs: JobQueue | None = None
    metrics: Metrics | None = None
    limiter: RateLimiter | None = None
    audit: AuditLog | None = None

    @classmethod
    def start(cls, settings: Settings, *, with_llm: bool = True) -> Services:
        """Open the database and index and verify the models.

        ``with_llm`` (a server): also verify the LLM and load the embedder now, so the
        first query is fast. Without it (CLI jobs) the embedder loads on first use.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings)
        ensure_schema(engine, settings)  # alembic upgrade head (a no-op when current)
        registry = Registry(engine)
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
        backends = services.backends()
        log.info("services.started", **{k: v["backend"] for k, v in backends.items()})
        for warning in index_warnings(settings, backends["index"]):
            log.warning("index.embedded_large", message=warning)
        return services

    def serve(self) -> None:
        """Build what the HTTP server needs on top: LLM, searcher, key and record stores,
        the ingest worker, metrics and the rate limiter. Idempotent."""
        if self.jobs is not None:
            return
        from api.audit import AuditLog
        from api.auth import KeyStore
        from api.limits import RateLimiter
        from api.metrics import Metrics
        from ingest import JobQueue
        from retrieval import Records, Searcher, SqlConversationStore, get_llm

        settings = self.settings
        self.keys = KeyStore(self.engine)
        self.audit = AuditLog(self.engine)
        self.records = Records(self.engine)
        self.conversations = SqlConversationStore(self.engine)
        self.llm = get_llm(settings)
        self.llm.warm_up()
        self.searcher = Searcher.from_settings(settings, self.index, self.embedder)
        self.searcher.warm_up()
        self.metrics = Metrics()
        self.metrics.watch_index(self.index.count)
        self.limiter = RateLimiter(
            settings.api.rate_limit_per_minute,
            storage=settings.api.rate_limit_storage_url.get_secret_value(),
        )
        metrics = self.metrics

        def on_outcome(outcome: Any) -> None:
            metrics.ingest_documents.labels(outcome.status).inc()
            metrics.ingest_chunks.inc(outcome.chunks)
            if outcome.status == "failed":
                metrics.ingest_failures.inc()

        jobs: JobQueue
        if settings.queue.backend == "celery":  # `deepwell worker` processes ingest
            from ingest import CeleryJobQueue

            jobs = CeleryJobQueue(settings, self.engine)
        else:
            jobs = JobQueue(
                settings,
                self.engine,
                self.ingestor,
                on_outcome=on_outcome,
                after_jobs=self.index.optimize,
            )
        self.metrics.watch_queue(jobs.queued)
        jobs.start()
        self.jobs = jobs

    def ingestor(self) -> Ingestor:
        """A new ingestor writing to this index and registry (its parsers start on first use)."""
        from ingest import Ingestor

        return Ingestor(
            self.settings, index=self.index, registry=self.registry, embedder=self.embedder
        )

    def answerer(self, retrieve_limit: int | None = None) -> Answerer:
        """An answerer over the shared searcher, LLM and conversation store (cheap to build)."""
        from retrieval import Answerer

        assert self.searcher is not None, "serve() was not called"
        assert self.llm is not None, "serve() was not called"
        return Answerer(
            self.searcher,
            self.llm,
            self.settings,
            conversations=self.conversations,
            retrieve_limit=retrieve_limit,
        )

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        if self.llm is not None:
            self.llm.close()
            self.llm = None
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
