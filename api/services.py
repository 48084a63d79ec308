"""The expensive objects of a running server, built once and complete before it serves.

:class:`Services` is the server's: the document store (:class:`ingest.Store`, which the
CLI's offline commands open on their own) plus the LLM, the searcher, the key, audit and
record stores, the ingest job queue, the metrics and the rate limiter. Every field is set
when :meth:`Services.start` returns, so request code never checks for a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.audit import AuditLog
from api.auth import KeyStore
from api.limits import RateLimiter
from api.metrics import Metrics
from core import Settings, get_logger
from ingest import Store, make_job_queue
from retrieval import Records, Searcher, SqlConversationStore, get_llm

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest import DocOutcome, Ingestor, JobQueue, Registry
    from retrieval import LLM, Answerer, ConversationStore, Embedder, VectorIndex

log = get_logger(__name__)


@dataclass
class Services:
    """Everything request handlers need, injected through :mod:`api.deps`."""

    store: Store
    llm: LLM
    searcher: Searcher
    keys: KeyStore
    audit: AuditLog
    records: Records
    conversations: ConversationStore
    jobs: JobQueue
    metrics: Metrics
    limiter: RateLimiter
    _closed = False  # not a field: every field is a service (tests/api/test_services.py)

    @classmethod
    def start(cls, settings: Settings) -> Services:
        """Open the store, load the embedder and the LLM, and start the ingest job queue.

        :raises core.errors.DeepwellError: a backend name nobody registered, a model that
            is missing or fails its hashes, an index in use, a database out of reach.
        """
        store = Store.open(settings, warm_up=True)  # the first query is answered at once
        llm: LLM | None = None
        try:
            llm = get_llm(settings)
            llm.warm_up()
            services = cls._on(store, llm)
        except BaseException:
            if llm is not None:
                llm.close()
            store.close()
            raise
        log.info(
            "services.started",
            **{k: v.get("backend") for k, v in services.backends().items()},
        )
        return services

    @classmethod
    def _on(cls, store: Store, llm: LLM) -> Services:
        settings = store.settings
        searcher = Searcher.from_settings(settings, store.index, store.embedder)
        searcher.warm_up()
        metrics = Metrics()
        metrics.watch_index(store.index.count)
        limiter = RateLimiter(
            settings.api.rate_limit_per_minute,
            storage=settings.api.rate_limit_storage_url.get_secret_value(),
        )

        def on_outcome(outcome: DocOutcome) -> None:
            metrics.ingest_documents.labels(outcome.status).inc()
            metrics.ingest_chunks.inc(outcome.chunks)
            if outcome.status == "failed":
                metrics.ingest_failures.inc()

        jobs = make_job_queue(
            settings,
            store.engine,
            store.ingestor,
            on_outcome=on_outcome,
            after_jobs=store.index.optimize,
        )
        metrics.watch_queue(jobs.queued)
        services = cls(
            store=store,
            llm=llm,
            searcher=searcher,
            keys=KeyStore(store.engine),
            audit=AuditLog(store.engine),
            records=Records(store.engine),
            conversations=SqlConversationStore(store.engine),
            jobs=jobs,
            metrics=metrics,
            limiter=limiter,
        )
        jobs.start()  # last: the worker thread may take a queued job at once
        return services

    # The store's parts, as request code reads them.
    @property
    def settings(self) -> Settings:
        return self.store.settings

    @property
    def engine(self) -> Engine:
        return self.store.engine

    @property
    def registry(self) -> Registry:
        return self.store.registry

    @property
    def index(self) -> VectorIndex:
        return self.store.index

    @property
    def embedder(self) -> Embedder:
        return self.store.embedder

    def ingestor(self) -> Ingestor:
        """A new ingestor writing to this index and registry (its parsers start on first use)."""
        return self.store.ingestor()

    def answerer(self, retrieve_limit: int | None = None) -> Answerer:
        """An answerer over the shared searcher, LLM and conversation store (cheap to build)."""
        from retrieval import Answerer

        return Answerer(
            self.searcher,
            self.llm,
            self.settings,
            conversations=self.conversations,
            retrieve_limit=retrieve_limit,
        )

    def close(self) -> None:
        """Stop the job queue, release the LLM, close the store; once (later calls do
        nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.jobs.close()
            self.llm.close()
        finally:
            self.store.close()

    def backends(self) -> dict[str, dict[str, Any]]:
        """What each tier runs on, for /healthz and start-up logs."""
        return self.store.backends() | {"llm": self.llm.describe()}
