"""Near-duplicate signatures in the registry database, where every worker sees them.

Cleaning flags (or drops) a chunk whose MinHash signature is close to one of a chunk
already kept (:func:`ingest.cleaning.clean_chunks`). Which chunks were kept must be the
same for every process that ingests: Celery workers on several machines, the API's own
worker, a restarted server. So the signatures live in the database the registry already
shares (SQLite in the embedded default, PostgreSQL when scaled), in three tables:

- ``near_signatures``: one row per kept chunk: its key ``<doc_id>#<chunk_index>``, tenant,
  scope (a hash of the access list: chunks are near duplicates only among documents with
  the same readers) and signature (``num_perm`` little-endian 64-bit values).
- ``near_bands``: its LSH bands, each hashed with the tenant and scope into one 64-bit
  key, so a chunk's candidates are a primary-key lookup away instead of a comparison
  with every chunk.
- ``near_scopes``: one row per tenant and scope, locked (an ``UPDATE``) while one
  document is cleaned. Two workers cleaning near duplicates of each other at the same time
  take turns, and the second finds the first's signatures. In SQLite the ``UPDATE`` takes
  the database's write lock; in PostgreSQL it locks that row only.

A document's signatures are replaced when it is cleaned again (a new version is not a
near duplicate of the old), and removed with the document or when its ingestion fails
after cleaning (:meth:`SignatureStore.forget`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core import Base
from ingest.minhash import NearDuplicateIndex, band_keys, most_similar

_SIGNATURE_DTYPE = np.dtype("<u8")


class NearSignatureRow(Base):
    """The MinHash signature of a kept chunk."""

    __tablename__ = "near_signatures"

    chunk_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(64))
    doc_id: Mapped[str] = mapped_column(String(36), index=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class NearBandRow(Base):
    """One LSH band of a kept chunk's signature, hashed with its tenant and scope."""

    __tablename__ = "near_bands"

    band: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chunk_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(36), index=True)


class NearScopeRow(Base):
    """The lock of one tenant and scope's signatures (and how often they were changed)."""

    __tablename__ = "near_scopes"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    changes: Mapped[int] = mapped_column(Integer, default=0)


# The lookups of one chunk, built once. Each is a lookup of the primary key by its leading
# column, the only index it can use, so no query plan (PostgreSQL caches one per prepared
# statement, made when the tables were small) can turn it into a scan of the scope.
_CANDIDATE_KEYS = select(NearBandRow.chunk_key).where(
    NearBandRow.band.in_(bindparam("bands", expanding=True))
)
_SIGNATURES = select(NearSignatureRow.chunk_key, NearSignatureRow.signature).where(
    NearSignatureRow.chunk_key.in_(bindparam("keys", expanding=True)),
    NearSignatureRow.tenant == bindparam("tenant"),
    NearSignatureRow.scope == bindparam("scope"),
)


def band_hash(tenant: str, scope: str, band: int, data: bytes) -> int:
    """A band of a signature of ``tenant`` and ``scope`` as a signed 64-bit integer (a
    collision only adds a candidate, which the full signature then rules out)."""
    digest = hashlib.blake2b(
        b"\x1f".join((tenant.encode(), scope.encode(), band.to_bytes(2, "little"), data)),
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "little", signed=True)


def delete_signatures(session: Session, doc_id: str) -> None:
    """Remove every signature of ``doc_id`` (any scope) within ``session``'s transaction."""
    session.execute(delete(NearBandRow).where(NearBandRow.doc_id == doc_id))
    session.execute(delete(NearSignatureRow).where(NearSignatureRow.doc_id == doc_id))


class StoredSignatures:
    """The :class:`~ingest.minhash.SignatureIndex` of one document's cleaning: the stored
    signatures of its tenant and scope, plus the ones added while it is cleaned (written
    when :meth:`SignatureStore.document` ends)."""

    def __init__(
        self, session: Session, tenant: str, scope: str, doc_id: str, *, num_perm: int, rows: int
    ) -> None:
        self.session, self.tenant, self.scope, self.doc_id = session, tenant, scope, doc_id
        self.rows = rows
        self._added = NearDuplicateIndex(num_perm, rows)
        self._pending: list[tuple[str, npt.NDArray[np.uint64]]] = []

    @property
    def num_perm(self) -> int:
        return self._added.num_perm

    def query(self, sig: npt.NDArray[np.uint64], threshold: float) -> str | None:
        """The key of the most similar signature at or above ``threshold``, stored or added."""
        conn = self.session.connection()
        keys = sorted(set(conn.scalars(_CANDIDATE_KEYS, {"bands": self._bands(sig)})))
        candidates = self._added.candidates(sig)
        if keys:
            found = conn.execute(
                _SIGNATURES, {"keys": keys, "tenant": self.tenant, "scope": self.scope}
            )
            for key, data in found:
                candidates[key] = np.frombuffer(data, dtype=_SIGNATURE_DTYPE).astype(np.uint64)
        return most_similar(sig, candidates, threshold)

    def _bands(self, sig: npt.NDArray[np.uint64]) -> list[int]:
        return [
            band_hash(self.tenant, self.scope, band, data)
            for band, data in band_keys(sig, self.rows)
        ]

    def add(self, key: str, sig: npt.NDArray[np.uint64]) -> None:
        """Keep ``sig`` under ``key`` (stored when the document's cleaning ends)."""
        self._added.add(key, sig)
        self._pending.append((key, sig))

    def write(self) -> None:
        """Insert the signatures added, and their bands, in the open transaction."""
        if not self._pending:
            return
        ident = {"tenant": self.tenant, "scope": self.scope, "doc_id": self.doc_id}
        signatures: list[dict[str, Any]] = []
        bands: list[dict[str, Any]] = []
        for key, sig in self._pending:
            data = sig.astype(_SIGNATURE_DTYPE).tobytes()
            signatures.append(ident | {"chunk_key": key, "signature": data})
            bands.extend(
                {"band": h, "chunk_key": key, "doc_id": self.doc_id} for h in set(self._bands(sig))
            )
        self.session.execute(insert(NearSignatureRow), signatures)
        self.session.execute(insert(NearBandRow), bands)
        self._pending.clear()


class SignatureStore:
    """The near-duplicate signatures of every kept chunk, in the registry database."""

    def __init__(self, engine: Engine, num_perm: int = 128, rows: int = 8) -> None:
        if num_perm % rows:
            raise ValueError("num_perm must be a multiple of rows")
        self.num_perm, self.rows = num_perm, rows
        self._session = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def document(self, tenant: str, scope: str, doc_id: str) -> Iterator[StoredSignatures]:
        """Clean one document against the stored signatures of ``tenant`` and ``scope``.

        Within the block the scope is locked (other workers wait at this call), the
        document's earlier signatures are gone, and what is added to the index is written
        when the block ends; an exception writes nothing and keeps the old ones.
        """
        self._ensure_scope(tenant, scope)
        with self._session() as s, s.begin():
            s.execute(  # the lock, held until commit: first statement of the transaction
                update(NearScopeRow)
                .where(NearScopeRow.tenant == tenant, NearScopeRow.scope == scope)
                .values(changes=NearScopeRow.changes + 1)
            )
            delete_signatures(s, doc_id)
            index = StoredSignatures(
                s, tenant, scope, doc_id, num_perm=self.num_perm, rows=self.rows
            )
            yield index
            index.write()

    def forget(self, doc_id: str) -> None:
        """Remove every signature of ``doc_id`` (its ingestion failed, or it was deleted)."""
        with self._session() as s, s.begin():
            delete_signatures(s, doc_id)

    def count(self, tenant: str | None = None) -> int:
        """How many signatures are stored (of ``tenant``, or in all)."""
        stmt = select(func.count()).select_from(NearSignatureRow)
        if tenant is not None:
            stmt = stmt.where(NearSignatureRow.tenant == tenant)
        with self._session() as s:
            return int(s.scalar(stmt) or 0)

    def _ensure_scope(self, tenant: str, scope: str) -> None:
        """The scope's lock row exists (two workers creating it at once: one insert wins)."""
        with self._session() as s:
            if s.get(NearScopeRow, (tenant, scope)) is not None:
                return
        try:
            with self._session() as s, s.begin():
                s.add(NearScopeRow(tenant=tenant, scope=scope, changes=0))
        except IntegrityError:
            pass  # another worker created it first
