"""The embedded backend: Qdrant's engine in-process through qdrant-edge-py (0.9.0, pinned).

On-disk layout under ``path``: ``<collection>/`` is the edge shard (``wal/``,
``segments/``, ``edge_config.json``) and ``.<collection>.lock`` is our lock file.

One process at a time: the engine locks its write-ahead log, but only while the
WAL is enabled, and reports a clash as a bare ``Exception`` ("Can't init WAL:
Kind(WouldBlock)"). So this module takes its own exclusive ``flock`` before
opening the shard, which gives one clear error in every case (same process or
another one) and also covers creation races.

Durability: the WAL is on (the engine's default), so an update that returned
survives a crash of the process; ``close()`` flushes segments so the next open
need not replay the WAL.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, ClassVar

import qdrant_edge as qe

from core import DeepwellError, IndexBackendError, get_logger
from retrieval.index.base import (
    DENSE_VECTOR,
    KEYWORD_FIELDS,
    READ_ACTIONS,
    RRF_K,
    SPARSE_VECTOR,
    TENANT_FIELD,
    Fusion,
    Hit,
    IndexPoint,
    SearchMode,
    SearchTuning,
    SparseVector,
    VectorIndex,
    canonical_id,
    check_query,
    prefetch_size,
)
from retrieval.index.filters import Filter, to_edge

log = get_logger(__name__)

#: Points per engine update call and per scroll page.
BATCH = 512


class EdgeIndex(VectorIndex):
    """A collection stored in the directory ``path / collection``, owned by this process."""

    name: ClassVar[str] = "qdrant-edge"

    def __init__(self, path: Path, collection: str, tuning: SearchTuning | None = None) -> None:
        super().__init__(tuning)
        self.path = Path(path)
        self.collection = collection
        self.shard_dir = self.path / collection
        self._lock_path = self.path / f".{collection}.lock"
        self._lock_file: IO[str] | None = self._acquire_lock()
        self._shard: qe.EdgeShard | None = None
        self._dim: int | None = None
        self._state = threading.Lock()  # guards opening and closing the shard

    # --- lifecycle ---------------------------------------------------------------------

    def _in_use(self, holder: str = "") -> IndexBackendError:
        pid = f" (pid {holder})" if holder else ""
        return IndexBackendError(
            f"index at {self.shard_dir} is in use by another process{pid}: is a deepwell "
            "server running on this data directory? Stop it first (the embedded index has "
            "one owner; a process that has it open must reuse its EdgeIndex)."
        )

    def _acquire_lock(self) -> IO[str]:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = self._lock_path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise IndexBackendError(f"cannot use index directory {self.path}: {exc}") from exc
        try:
            # flock locks belong to the open file, so a second open in this process clashes too.
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise self._in_use(holder) from None
        except OSError as exc:  # e.g. a file system without locks
            fh.close()
            raise IndexBackendError(f"cannot lock {self._lock_path}: {exc}") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        return fh

    def _exists(self) -> bool:
        return self.shard_dir.is_dir() and any(self.shard_dir.iterdir())

    def _load(self, config: qe.EdgeConfig | None) -> qe.EdgeShard:
        try:
            return qe.EdgeShard.load(str(self.shard_dir), config)
        except Exception as exc:
            if "WouldBlock" in str(exc):  # someone opened it without our lock
                raise self._in_use() from exc
            if "incompatible" in str(exc):
                raise IndexBackendError(
                    f"collection {self.collection!r} at {self.shard_dir} was built with another "
                    f"vector configuration ({exc}); re-index into a new collection or path, or "
                    "configure the embedding model it was built with"
                ) from exc
            raise IndexBackendError(f"cannot open index at {self.shard_dir}: {exc}") from exc

    def _open(self) -> qe.EdgeShard:
        with self._state:
            if self._lock_file is None:
                raise IndexBackendError(f"index at {self.shard_dir} is closed")
            if self._shard is None:
                if not self._exists():
                    raise IndexBackendError(
                        f"no collection {self.collection!r} at {self.path}; "
                        "call ensure_collection(dim) first (ingestion does)"
                    )
                self._shard = self._load(None)
                log.info("index.opened", backend=self.name, path=str(self.shard_dir))
            return self._shard

    def ensure_collection(self, dim: int) -> None:
        """Create the shard and its payload indexes, or check an existing one has ``dim``.

        Call it once, before the index is shared between threads: the first call may
        reopen the shard to check its configuration.
        """
        config = qe.EdgeConfig(
            vectors={DENSE_VECTOR: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        with self._state:
            if self._lock_file is None:
                raise IndexBackendError(f"index at {self.shard_dir} is closed")
            if self._dim is not None and self._dim != dim:
                raise IndexBackendError(
                    f"collection {self.collection!r} at {self.shard_dir} has dense dimension "
                    f"{self._dim}, not {dim}; re-index into a new collection or path"
                )
            if self._dim is None:
                if self._shard is not None:  # opened without a config: reopen to check it
                    self._shard.close()
                    self._shard = None
                if self._exists():
                    self._shard = self._load(config)
                else:
                    with self._engine("create"):
                        self._shard = qe.EdgeShard.create(str(self.shard_dir), config)
                    log.info("index.created", backend=self.name, path=str(self.shard_dir), dim=dim)
                self._dim = dim
            shard = self._shard
        assert shard is not None
        with self._engine("create payload indexes"):
            # Creating an index that exists is a no-op in the engine, so this stays idempotent.
            for key in KEYWORD_FIELDS:
                keyword = qe.PayloadSchemaType.Keyword
                shard.update(qe.UpdateOperation.create_field_index(key, keyword))
            tenant = qe.KeywordIndexParams(is_tenant=True)
            shard.update(qe.UpdateOperation.create_field_index(TENANT_FIELD, tenant))

    def close(self) -> None:
        """Flush, close the shard and release the lock; idempotent."""
        with self._state:
            shard, self._shard = self._shard, None
            try:
                if shard is not None:
                    with self._engine("close"):
                        shard.flush()
                        shard.close()
                    log.info("index.closed", backend=self.name, path=str(self.shard_dir))
            finally:
                if self._lock_file is not None:  # released even when the flush failed
                    fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
                    self._lock_file.close()
                    self._lock_file = None

    @contextmanager
    def _engine(self, action: str) -> Iterator[None]:
        """Turn the engine's bare exceptions into :class:`IndexBackendError`.

        Reads hold the shared side of the swap lock (see :meth:`VectorIndex.replace`).
        """
        try:
            if action in READ_ACTIONS:
                with self._swap.read():
                    yield
            else:
                yield
        except DeepwellError:
            raise
        except Exception as exc:
            raise IndexBackendError(f"index at {self.shard_dir}: {action} failed: {exc}") from exc

    # --- writes ------------------------------------------------------------------------

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points; each batch is in the WAL when its call returns."""
        shard = self._open()
        for start in range(0, len(points), BATCH):
            batch = [_to_edge_point(p) for p in points[start : start + BATCH]]
            with self._engine("upsert"):
                shard.update(qe.UpdateOperation.upsert_points(batch))

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id; unknown ids are ignored."""
        shard = self._open()
        for start in range(0, len(ids), BATCH):
            point_ids: list[qe.PointId] = [canonical_id(i) for i in ids[start : start + BATCH]]
            with self._engine("delete"):
                shard.update(qe.UpdateOperation.delete_points(point_ids))

    def delete_where(self, flt: Filter) -> None:
        """Delete every point matching ``flt``."""
        shard = self._open()
        with self._engine("delete by filter"):
            shard.update(qe.UpdateOperation.delete_points_by_filter(to_edge(flt)))

    # --- reads -------------------------------------------------------------------------

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
        """Dense, lexical or fused hybrid search in one engine call (see :class:`VectorIndex`)."""
        check_query(dense, sparse, mode, limit, rrf_k)
        shard = self._open()
        edge_filter = to_edge(flt) if flt is not None else None
        params = self._search_params(exact)
        dense_query = qe.Query.Nearest(dense, using=DENSE_VECTOR) if dense is not None else None
        sparse_query = (
            qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE_VECTOR)
            if sparse is not None
            else None
        )
        if mode == "hybrid":
            size = prefetch_size(limit, prefetch_limit)
            # The filter goes on each prefetch (so candidates are drawn only from allowed
            # points) and on the fused stage as well.
            request = qe.QueryRequest(
                limit=limit,
                # The stub types Fusion.Rrf/Dbsf as nested classes, not as Fusion values.
                query=qe.Fusion.Rrf(k=rrf_k) if fusion == "rrf" else qe.Fusion.Dbsf(),  # type: ignore[arg-type]
                prefetches=[
                    qe.Prefetch(limit=size, query=q, params=params, filter=edge_filter)
                    for q in (dense_query, sparse_query)
                ],
                filter=edge_filter,
                with_payload=True,
            )
        else:
            request = qe.QueryRequest(
                limit=limit,
                query=dense_query if mode == "dense" else sparse_query,
                filter=edge_filter,
                params=params,
                with_payload=True,
            )
        with self._engine("query"):
            found = shard.query(request)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in found]

    def _search_params(self, exact: bool) -> qe.SearchParams | None:
        if exact:
            return qe.SearchParams(exact=True)
        t = self.tuning
        acorn = (
            qe.AcornSearchParams(enable=True, max_selectivity=t.acorn_max_selectivity)
            if t.acorn
            else None
        )
        if t.hnsw_ef is None and acorn is None:
            return None
        return qe.SearchParams(hnsw_ef=t.hnsw_ef, acorn=acorn)

    def scroll(
        self, flt: Filter | None = None, limit: int | None = None, with_payload: bool = True
    ) -> Iterator[Hit]:
        """Every point matching ``flt`` (at most ``limit``), in id order, a page at a time."""
        shard = self._open()
        edge_filter = to_edge(flt) if flt is not None else None
        offset: qe.PointId | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            page = BATCH if remaining is None else min(BATCH, remaining)
            request = qe.ScrollRequest(
                offset=offset,
                limit=page,
                filter=edge_filter,
                with_payload=with_payload,
                with_vector=False,
            )
            with self._engine("scroll"):
                records, offset = shard.scroll(request)
            for record in records:
                yield Hit(str(record.id), 0.0, record.payload or {})
            if remaining is not None:
                remaining -= len(records)
            if offset is None or not records:
                return

    def export(self, batch: int = BATCH) -> Iterator[IndexPoint]:
        """Every point with its vectors and payload, in id order, ``batch`` at a time."""
        shard = self._open()
        offset: qe.PointId | None = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=batch, with_payload=True, with_vector=True
            )
            with self._engine("scroll"):
                records, offset = shard.scroll(request)
            for record in records:
                vectors = record.vector if isinstance(record.vector, dict) else {}
                dense, sparse = vectors.get(DENSE_VECTOR), vectors.get(SPARSE_VECTOR)
                if not isinstance(dense, list) or not isinstance(sparse, qe.SparseVector):
                    raise IndexBackendError(f"point {record.id} lacks the dense or sparse vector")
                yield IndexPoint(
                    str(record.id),
                    [float(x) for x in dense],  # type: ignore[arg-type]
                    SparseVector(list(sparse.indices), [float(v) for v in sparse.values]),
                    record.payload or {},
                )
            if offset is None or not records:
                return

    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        """The points with these ids, in the order asked; missing ids are left out."""
        shard = self._open()
        wanted = [canonical_id(i) for i in ids]
        point_ids: list[qe.PointId] = list(dict.fromkeys(wanted))
        with self._engine("retrieve"):
            records = shard.retrieve(point_ids, with_payload=True, with_vector=False)
        by_id = {str(r.id): Hit(str(r.id), 0.0, r.payload or {}) for r in records}
        return [by_id[i] for i in wanted if i in by_id]

    def count(self, flt: Filter | None = None) -> int:
        """Exact number of points matching ``flt``."""
        shard = self._open()
        with self._engine("count"):
            return shard.count(
                qe.CountRequest(exact=True, filter=to_edge(flt) if flt is not None else None)
            )

    def optimize(self) -> None:
        """Run the engine's optimizers (HNSW build, segment merges) until none is planned."""
        shard = self._open()
        started = time.perf_counter()
        with self._engine("optimize"):
            changed = shard.optimize()
        log.info(
            "index.optimized",
            backend=self.name,
            changed=changed,
            seconds=round(time.perf_counter() - started, 2),
        )

    def describe(self) -> dict[str, Any]:
        """Backend, collection, path, and (when the collection exists) point and segment counts."""
        facts: dict[str, Any] = {
            "backend": self.name,
            "collection": self.collection,
            "path": str(self.shard_dir),
            "exists": self._exists(),
            "points": 0,
        }
        if facts["exists"]:
            shard = self._open()
            with self._engine("info"):
                info = shard.info()
            facts |= {
                "points": info.points_count,
                "indexed_vectors": info.indexed_vectors_count,
                "segments": info.segments_count,
                "payload_indexes": sorted(info.payload_schema),
            }
        return facts


def _to_edge_point(point: IndexPoint) -> qe.Point:
    vectors: dict[str, qe.NamedVector] = {
        DENSE_VECTOR: point.dense,
        SPARSE_VECTOR: qe.SparseVector(point.sparse.indices, point.sparse.values),
    }
    return qe.Point(point.id, vectors, point.payload)
