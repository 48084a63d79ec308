"""Ingest local files and folders in this process: what ``deepwell ingest`` runs.

:class:`Store` opens what the documents live in (database, registry, index, embedder):
the CLI's offline commands open one, and the API server builds its services on one.
Two steps a caller composes on it: :func:`collect_documents` turns paths into source
documents (ACL and tenant defaulting to ``ingest.default_acl`` /
``ingest.default_tenant``), and :func:`ingest_documents` runs them through one
:class:`~ingest.pipeline.Ingestor` against the index, registry and embedder the caller
opened. The CLI's ``deepwell ingest`` and ``deepwell eval run --ingest-missing`` both
call them, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from core import Settings, get_logger
from ingest.sources import FileSource, FolderSource, SourceDocument, normalize_acl

if TYPE_CHECKING:  # the pipeline pulls in the parsers and engines: imported when it runs
    from sqlalchemy import Engine

    from ingest.pipeline import DocOutcome, Ingestor, IngestSummary
    from ingest.registry import Registry
    from retrieval import Embedder, VectorIndex

log = get_logger(__name__)


@dataclass(frozen=True)
class Store:
    """Where one deployment keeps its documents: the database (with the registry), the
    index and the embedder that writes and queries it. No LLM: see ``api.Services``.

    Open it with :meth:`open`; close it (or use it as a context manager) to release the
    embedded index's lock and the database connections.
    """

    settings: Settings
    engine: Engine
    registry: Registry
    index: VectorIndex
    embedder: Embedder

    @classmethod
    def open(cls, settings: Settings, *, warm_up: bool = False) -> Store:
        """Open the database (schema brought to head) and the index, and verify the
        embedding model.

        :param warm_up: load the embedding model now (a server answers its first query
            at once); otherwise it loads on first use.
        :raises core.errors.ConfigError: a backend name nobody registered.
        :raises core.errors.ModelError: the embedding model is missing or fails its hashes.
        :raises core.errors.IndexBackendError: the index is in use or cannot be opened.
        """
        from core import configured_embedding, ensure_schema, make_engine
        from ingest.registry import Registry
        from retrieval import index_warnings, make_embedder, open_index

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings)
        try:
            ensure_schema(engine, settings)  # alembic upgrade head (a no-op when current)
            embedder = make_embedder(settings, configured_embedding(settings))
            if warm_up:
                embedder.warm_up()
            index = open_index(settings)
        except BaseException:
            engine.dispose()
            raise
        store = cls(settings, engine, Registry(engine), index, embedder)
        try:
            index.ensure_collection(embedder.dim)
            backends = store.backends()
        except BaseException:
            store.close()
            raise
        log.info("store.opened", **{k: v["backend"] for k, v in backends.items()})
        for warning in index_warnings(settings, backends["index"]):
            log.warning("index.embedded_large", message=warning)
        return store

    def ingestor(self) -> Ingestor:
        """A new ingestor writing to this index and registry (its parsers start on first use)."""
        from ingest.pipeline import Ingestor

        return Ingestor(
            self.settings, index=self.index, registry=self.registry, embedder=self.embedder
        )

    def backends(self) -> dict[str, dict[str, Any]]:
        """What the index, database and embedder run on, for health checks and logs."""
        from core import describe

        return {
            "index": self.index.describe(),
            "database": describe(self.engine),
            "embedding": dict(self.embedder.describe()),
        }

    def close(self) -> None:
        """Close the index and the database connections."""
        try:
            self.index.close()
        finally:
            self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def collect_documents(
    settings: Settings,
    paths: Sequence[Path],
    *,
    acl: Sequence[str] | None = None,
    tenant: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[SourceDocument]:
    """The documents under ``paths``: folders (recursive, filtered by globs) and files.

    :param acl: who may read them (``user:ID``, ``group:ID``, ``*``); empty or None:
        ``ingest.default_acl``.
    :param tenant: their tenant; None: ``ingest.default_tenant``.
    :param include: only paths (relative to a folder) matching one of these globs.
    :param exclude: skip paths matching one of these globs.
    :returns: one :class:`SourceDocument` per file (a file too large or unreadable carries
        its ``problem``); empty when nothing matched.
    :raises core.errors.DeepwellError: an ACL entry that is not a principal.
    """
    access = normalize_acl(acl or settings.ingest.default_acl)
    owner = tenant or settings.ingest.default_tenant
    max_bytes = int(settings.ingest.max_file_mb * 1e6)
    docs: list[SourceDocument] = []
    for path in paths:
        if path.is_dir():
            docs += list(FolderSource(path, owner, access, include, exclude, max_bytes))
        else:
            docs += list(FileSource([path], owner, access, max_bytes=max_bytes))
    return docs


def ingest_documents(
    settings: Settings,
    docs: Sequence[SourceDocument],
    *,
    index: VectorIndex,
    registry: Registry,
    embedder: Embedder,
    prune_prefix: str | None = None,
    force: bool = False,
    on_outcome: Callable[[DocOutcome], None] | None = None,
) -> IngestSummary:
    """Ingest ``docs`` incrementally; optimize the index when anything was (re)indexed.

    :param prune_prefix: also delete documents whose source URI starts with it and that
        are not among ``docs`` (a folder sync with ``--prune``).
    :param force: re-index unchanged documents too (and retry failed ones).
    :param on_outcome: called with each document's outcome as it finishes (progress).
    :returns: the run's summary (per-document outcomes, pages, chunks, stage times).
    :raises core.errors.DeepwellError: the index or the registry failed.
    """
    from ingest.pipeline import Ingestor

    with Ingestor(
        settings, index=index, registry=registry, embedder=embedder, on_outcome=on_outcome
    ) as ingestor:
        summary = ingestor.run(docs, prune_prefix=prune_prefix, force=force)
        if any(o.status == "indexed" for o in summary.outcomes):
            index.optimize()
    return summary
