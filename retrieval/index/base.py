"""The vector-index interface every backend implements, and the types it speaks.

A point is one chunk: a UUID, a dense vector named ``dense`` (cosine), a sparse
lexical vector named ``sparse`` (Qdrant's IDF modifier turns its term weights
into BM25 scores at query time) and the chunk's payload (DESIGN.md, data model).
Backends differ in where the engine runs, never in what these calls mean; the
contract tests in ``tests/retrieval/index/`` hold them to that.
"""

from __future__ import annotations

import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from core import IndexBackendError, InvalidInputError
from retrieval.index.filters import Filter

SearchMode = Literal["hybrid", "dense", "lexical"]
Fusion = Literal["rrf", "dbsf"]

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "sparse"

#: Payload fields with a keyword index; ``tenant`` gets one too, marked ``is_tenant``.
KEYWORD_FIELDS = ("acl", "doc_id", "source_uri")
TENANT_FIELD = "tenant"

#: The RRF constant k (score = sum of 1 / (k + rank), rank from 0), the same on every
#: backend. 60 is the value of the original RRF paper; Qdrant's own default is 2,
#: which lets the first rank of either list dominate.
RRF_K = 60

#: Engine calls that read; they share the swap lock so that replace() is atomic to them.
READ_ACTIONS = frozenset({"query", "scroll", "retrieve", "count"})

#: Candidates each prefetch hands to fusion, unless the caller says otherwise.
MIN_PREFETCH = 50
PREFETCH_FACTOR = 4


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Non-zero term weights: ``indices[i]`` carries ``values[i]``."""

    indices: list[int]
    values: list[float]

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise InvalidInputError(
                f"sparse vector has {len(self.indices)} indices but {len(self.values)} values"
            )


@dataclass(frozen=True, slots=True)
class IndexPoint:
    """One point to write. ``id`` is a UUID string, computed deterministically by the caller."""

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """A point read back. ``score`` is 0.0 where nothing was scored (scroll, retrieve)."""

    id: str
    score: float
    payload: dict[str, Any]


def canonical_id(point_id: str) -> str:
    """The canonical (lowercase, hyphenated) form of a UUID string, as engines return it."""
    try:
        return str(uuid.UUID(point_id))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInputError(f"point id {point_id!r} is not a UUID") from None


def check_query(
    dense: list[float] | None,
    sparse: SparseVector | None,
    mode: SearchMode,
    limit: int,
    rrf_k: int = RRF_K,
) -> None:
    """Raise :class:`InvalidInputError` when ``mode`` lacks the vector(s) it needs."""
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}")
    if rrf_k < 1:
        raise InvalidInputError(f"rrf_k must be at least 1, got {rrf_k}")
    if mode not in ("hybrid", "dense", "lexical"):
        raise InvalidInputError(f"unknown search mode {mode!r}")
    if mode in ("hybrid", "dense") and dense is None:
        raise InvalidInputError(f"search mode {mode!r} needs a dense query vector")
    if mode in ("hybrid", "lexical") and sparse is None:
        raise InvalidInputError(f"search mode {mode!r} needs a sparse query vector")


def prefetch_size(limit: int, prefetch_limit: int | None) -> int:
    """How many candidates each hybrid prefetch returns: never fewer than ``limit``."""
    if prefetch_limit is None:
        return max(MIN_PREFETCH, PREFETCH_FACTOR * limit)
    return max(prefetch_limit, limit)


class ReadWriteLock:
    """Many readers or one writer. A waiting writer holds back new readers, so it is not starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True, slots=True)
class SearchTuning:
    """How approximate (HNSW) searches trade speed for recall; ``exact`` queries ignore it.

    ``acorn``: Qdrant's ACORN filtered search, which keeps recall when the filter (a
    caller's ACL) leaves only a small share of the points; used by the engine when the
    filter keeps at most ``acorn_max_selectivity`` of them (None: the engine's default).
    """

    hnsw_ef: int | None = None
    acorn: bool = True
    acorn_max_selectivity: float | None = None


class VectorIndex(ABC):
    """A collection of points with dense, sparse and hybrid search over filtered payloads.

    Every method raises :class:`core.errors.IndexBackendError` when the engine fails
    (:class:`core.errors.BackendUnavailableError` when a server cannot be reached) and
    :class:`core.errors.InvalidInputError` for arguments no backend could accept.
    """

    name: ClassVar[str]

    def __init__(self, tuning: SearchTuning | None = None) -> None:
        # Reads (query, scroll pages, retrieve, count) share it; replace() takes it alone.
        self._swap = ReadWriteLock()
        self.tuning = tuning or SearchTuning()

    def replace(self, points: Sequence[IndexPoint], stale_ids: Sequence[str]) -> None:
        """Write ``points`` and delete ``stale_ids`` (minus the ids rewritten) as one step.

        Reads through this object never see a state in between: not both versions of
        a document, and not neither. This is how a new version of a document replaces
        the old one. Across processes (a Qdrant server with several API replicas) the
        new points are written before the stale ones are deleted, so a reader there may
        briefly see both, never neither.
        """
        keep = {canonical_id(p.id) for p in points}
        doomed = [i for i in (canonical_id(s) for s in stale_ids) if i not in keep]
        with self._swap.write():
            self.upsert(points)
            if doomed:
                self.delete(doomed)

    @abstractmethod
    def ensure_collection(self, dim: int) -> None:
        """Create the collection and its payload indexes if missing; idempotent.

        Raises :class:`IndexBackendError` when the collection exists with another
        dense dimension (or distance): re-index, or point the settings elsewhere.
        """

    @abstractmethod
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points by id; durable when it returns."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id; unknown ids are ignored."""

    @abstractmethod
    def delete_where(self, flt: Filter) -> None:
        """Delete every point matching ``flt``."""

    @abstractmethod
    def query(
        self,
        *,
        dense: list[float] | None,
        sparse: SparseVector | None,
        flt: Filter | None,
        limit: int,
        mode: SearchMode = "hybrid",
        fusion: Fusion = "rrf",
        prefetch_limit: int | None = None,
        exact: bool = False,
        rrf_k: int = RRF_K,
    ) -> list[Hit]:
        """Best ``limit`` points matching ``flt``, best first.

        ``hybrid`` runs one engine query: a dense and a sparse prefetch of
        ``prefetch_limit`` candidates each, fused by ``fusion`` (RRF with
        k=``rrf_k``, by default :data:`RRF_K`; or distribution-based score fusion). ``dense`` and
        ``lexical`` search one vector. ``exact`` bypasses HNSW (for recall checks).
        """

    @abstractmethod
    def scroll(
        self, flt: Filter | None = None, limit: int | None = None, with_payload: bool = True
    ) -> Iterator[Hit]:
        """Every point matching ``flt`` (at most ``limit``), fetched page by page, in id order.

        Lazy: nothing is read, and no error raised, until the first item is taken.
        """

    def export(self, batch: int = 256) -> Iterator[IndexPoint]:
        """Every point with its vectors and payload, in id order (to copy an index).

        Lazy, like :meth:`scroll`. Vectors come back as stored (cosine: normalized).
        """
        raise IndexBackendError(f"the {self.name} backend cannot export its points")

    @abstractmethod
    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        """The points with these ids, in the order asked; missing ids are left out."""

    @abstractmethod
    def count(self, flt: Filter | None = None) -> int:
        """Exact number of points matching ``flt`` (all points when None)."""

    @abstractmethod
    def optimize(self) -> None:
        """Bring the index to its searchable best after a bulk load (build HNSW, merge segments).

        Blocks until done; a no-op where the engine has nothing to do.
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Facts for health checks: backend, collection, location, point count."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the index (and its lock); idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
