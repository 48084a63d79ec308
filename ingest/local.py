"""Ingest local files and folders in this process: what ``deepwell ingest`` runs.

Two steps a caller composes: :func:`collect_documents` turns paths into source
documents (ACL and tenant defaulting to ``ingest.default_acl`` /
``ingest.default_tenant``), and :func:`ingest_documents` runs them through one
:class:`~ingest.pipeline.Ingestor` against the index, registry and embedder the caller
opened. The CLI's ``deepwell ingest`` and ``deepwell eval run --ingest-missing`` both
call them, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core import Settings
from ingest.sources import FileSource, FolderSource, SourceDocument, normalize_acl

if TYPE_CHECKING:  # the pipeline pulls in the parsers and engines: imported when it runs
    from ingest.pipeline import DocOutcome, IngestSummary
    from ingest.registry import Registry
    from retrieval import Embedder, VectorIndex


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
