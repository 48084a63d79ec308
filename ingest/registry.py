"""The document registry: what was ingested, in which state, and why it failed.

One row per document (``documents``), plus the owners of de-duplicated chunk
texts (``chunk_owners``) so that deleting or changing the document that kept a
shared chunk re-ingests the documents whose copies were dropped against it. The
near-duplicate signatures of kept chunks live beside them (:mod:`ingest.signatures`).
SQLAlchemy only: SQLite by default, PostgreSQL in the scaled deployment.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Engine,
    Enum,
    Integer,
    String,
    Text,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core import Base, retrying, upgrade_schema
from ingest.signatures import delete_signatures


class DocState(enum.StrEnum):
    """Lifecycle of a document. ``indexed`` is set only after its points are written."""

    discovered = "discovered"
    parsed = "parsed"
    indexed = "indexed"
    failed = "failed"


def _now() -> datetime:
    return datetime.now(UTC)


class DocumentRow(Base):
    __tablename__ = "documents"

    doc_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    source_uri: Mapped[str] = mapped_column(Text, index=True)
    filename: Mapped[str] = mapped_column(Text)
    #: The user who uploaded it (may delete or replace it); None for documents synced from a
    #: source by an operator or admin, which only admins of the tenant may delete.
    owner: Mapped[str | None] = mapped_column(String(256), default=None)
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[DocState] = mapped_column(Enum(DocState, native_enum=False), index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    pipeline_signature: Mapped[str] = mapped_column(String(64), default="")
    acl: Mapped[list[str]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    file_type: Mapped[str | None] = mapped_column(String(128), default=None)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    chunk_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    dropped: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    timings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    #: Signals of a bad extraction and the verdict (ingest.quality.ParseQuality.as_dict);
    #: None for documents not parsed since revision 0004, or that failed.
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: What the user should know about how the document was read (type mismatch, pages
    #: without text, a suspect extraction and whether another parser re-read it).
    warnings: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    #: Who issued the document, its type and period (ingest.docmeta; revision 0005), and all
    #: the metadata read (``docmeta``: DocMeta.as_payload); None where nothing was read.
    issuer: Mapped[str | None] = mapped_column(Text, default=None)
    doc_type: Mapped[str | None] = mapped_column(String(64), default=None)
    period: Mapped[str | None] = mapped_column(String(128), default=None)
    period_end: Mapped[date | None] = mapped_column(Date, default=None)
    docmeta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    def as_dict(self) -> dict[str, Any]:
        return {c.key: getattr(self, c.key) for c in self.__mapper__.column_attrs}


class ChunkOwnerRow(Base):
    """Which document keeps the one stored copy of a chunk text shared by several documents."""

    __tablename__ = "chunk_owners"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(36), index=True)


class DuplicateRow(Base):
    """A chunk of ``doc_id`` dropped because ``owner_doc_id`` holds the same text."""

    __tablename__ = "dropped_duplicates"

    doc_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_doc_id: Mapped[str] = mapped_column(String(36), index=True)


def metadata_columns(docmeta: dict[str, Any] | None) -> dict[str, Any]:
    """The registry columns a document's metadata (``DocMeta.as_payload``) fills."""
    meta = docmeta or {}
    end = meta.get("period_end")
    return {
        "issuer": meta.get("issuer"),
        "doc_type": meta.get("doc_type"),
        "period": meta.get("period"),
        "period_end": date.fromisoformat(end) if isinstance(end, str) else None,
    }


def source_file(row: DocumentRow) -> bytes | str:
    """The bytes of the file a folder-synced document was read from, if that file still
    holds what was ingested; else why not, in words.

    Only the path the registry recorded (the ``file://`` source URI) is read, and only
    when its content hashes to the recorded ``content_sha256``.
    """
    uri = row.source_uri or ""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return f"no original file is kept for documents from {parts.scheme or 'this source'}"
    if not row.content_sha256:
        return "the document has not been ingested yet; its file is served once it is"
    path = Path(unquote(parts.path))
    if not path.is_absolute() or not path.is_file():
        return f"its file {path} no longer exists (it was moved or deleted since it was ingested)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"its file {path} cannot be read ({exc.strerror or type(exc).__name__})"
    if hashlib.sha256(data).hexdigest() != row.content_sha256:
        return (
            f"its file {path} changed since it was ingested; the next folder sync indexes "
            "the new version"
        )
    return data


class Registry:
    """Typed access to the registry tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create_schema(self) -> None:
        """Bring the database to the current schema (every table; see :mod:`core.migrate`)."""
        upgrade_schema(self.engine)

    def session(self) -> Session:
        return self._session()

    def get(self, doc_id: str) -> DocumentRow | None:
        with self.session() as s:
            return s.get(DocumentRow, doc_id)

    def upsert(self, doc_id: str, **fields: Any) -> DocumentRow:
        """Create or update a document row with ``fields`` (``updated_at`` is set).

        Two writers creating the same row at once: the loser of the insert retries as
        an update (workers on several machines share the registry).
        """
        for attempt in retrying(
            attempts=3,
            retry_on=lambda exc: isinstance(exc, IntegrityError),
            event="registry.retry",
            doc_id=doc_id,
        ):
            with attempt, self.session() as s, s.begin():
                row = s.get(DocumentRow, doc_id)
                if row is None:
                    row = DocumentRow(doc_id=doc_id)
                    s.add(row)
                for key, value in fields.items():
                    setattr(row, key, value)
                row.updated_at = _now()
            return row
        raise AssertionError("unreachable: the last attempt returns or raises")

    def commit_indexed(
        self, doc_id: str, *, owned: Iterable[str], duplicates: dict[str, str], **fields: Any
    ) -> None:
        """Mark ``doc_id`` indexed with ``fields`` and its de-duplication records, atomically.

        A ``docmeta`` field (``DocMeta.as_payload``) also fills ``issuer``, ``doc_type``,
        ``period`` and ``period_end``.
        """
        if "docmeta" in fields:
            fields |= metadata_columns(fields["docmeta"])
        with self.session() as s, s.begin():
            row = s.get(DocumentRow, doc_id)
            if row is None:
                row = DocumentRow(doc_id=doc_id)
                s.add(row)
            for key, value in fields.items():
                setattr(row, key, value)
            row.state = DocState.indexed
            row.updated_at = row.indexed_at = _now()
            s.execute(delete(ChunkOwnerRow).where(ChunkOwnerRow.doc_id == doc_id))
            s.execute(delete(DuplicateRow).where(DuplicateRow.doc_id == doc_id))
            tenant = row.tenant
            s.add_all(ChunkOwnerRow(tenant=tenant, dedup_key=k, doc_id=doc_id) for k in set(owned))
            s.add_all(
                DuplicateRow(doc_id=doc_id, dedup_key=k, owner_doc_id=o)
                for k, o in duplicates.items()
            )

    def documents(
        self,
        *,
        tenant: str | None = None,
        states: Sequence[DocState] | None = None,
        uri_prefix: str | None = None,
        file_types: Sequence[str] | None = None,
        text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DocumentRow]:
        """Documents in source URI order, narrowed by each argument given.

        Args:
            tenant: of this tenant only.
            states: in one of these states.
            uri_prefix: whose source URI starts with this.
            file_types: of one of these file types (``pdf``, ``docx``, ...).
            text: whose title, file name or issuer contains this, ignoring case.
            limit: at most this many rows, after skipping ``offset``.
        """
        stmt = select(DocumentRow).order_by(DocumentRow.source_uri)
        if tenant is not None:
            stmt = stmt.where(DocumentRow.tenant == tenant)
        if states:
            stmt = stmt.where(DocumentRow.state.in_(list(states)))
        if file_types:
            stmt = stmt.where(DocumentRow.file_type.in_([t.lower() for t in file_types]))
        if text:
            needle = text.lower()
            stmt = stmt.where(
                or_(
                    func.lower(DocumentRow.title).contains(needle, autoescape=True),
                    func.lower(DocumentRow.filename).contains(needle, autoescape=True),
                    func.lower(DocumentRow.issuer).contains(needle, autoescape=True),
                )
            )
        if uri_prefix is not None:
            stmt = stmt.where(DocumentRow.source_uri.startswith(uri_prefix, autoescape=True))
        stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.session() as s:
            return list(s.scalars(stmt))

    def access_lists(self, tenant: str, batch: int = 1000) -> Iterator[tuple[str, list[str]]]:
        """``(doc_id, acl)`` of every document of ``tenant`` (only those two columns)."""
        stmt = (
            select(DocumentRow.doc_id, DocumentRow.acl)
            .where(DocumentRow.tenant == tenant)
            .order_by(DocumentRow.doc_id)
        )
        last = ""
        while True:
            with self.session() as s:
                rows = list(s.execute(stmt.where(DocumentRow.doc_id > last).limit(batch)))
            for doc_id, acl in rows:
                yield doc_id, list(acl or [])
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def remove(self, doc_id: str) -> None:
        """Forget a document and its de-duplication records (near-duplicate signatures too)."""
        with self.session() as s, s.begin():
            s.execute(delete(DocumentRow).where(DocumentRow.doc_id == doc_id))
            s.execute(delete(ChunkOwnerRow).where(ChunkOwnerRow.doc_id == doc_id))
            s.execute(delete(DuplicateRow).where(DuplicateRow.doc_id == doc_id))
            delete_signatures(s, doc_id)

    # --- de-duplication across documents -------------------------------------------------

    def owners(self, tenant: str, keys: Iterable[str]) -> dict[str, str]:
        """``dedup_key -> doc_id`` for the keys some document already stores."""
        wanted = list(set(keys))
        found: dict[str, str] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 500):
                stmt = select(ChunkOwnerRow).where(
                    ChunkOwnerRow.tenant == tenant,
                    ChunkOwnerRow.dedup_key.in_(wanted[start : start + 500]),
                )
                found |= {row.dedup_key: row.doc_id for row in s.scalars(stmt)}
        return found

    def dependents(self, owner_doc_id: str) -> list[str]:
        """Documents that dropped chunks because ``owner_doc_id`` held the same text."""
        stmt = select(DuplicateRow.doc_id).where(DuplicateRow.owner_doc_id == owner_doc_id)
        with self.session() as s:
            return sorted(set(s.scalars(stmt)))

    def release(self, doc_id: str) -> None:
        """Give up ownership of ``doc_id``'s chunk texts (before it is re-ingested or deleted)."""
        with self.session() as s, s.begin():
            s.execute(delete(ChunkOwnerRow).where(ChunkOwnerRow.doc_id == doc_id))
