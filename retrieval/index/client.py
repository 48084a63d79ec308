"""The scaled backend: a Qdrant server or cluster through qdrant-client.

The same class drives qdrant-client's local mode (``path=`` or ``":memory:"``),
which speaks the same client API with a brute-force engine in Python; the
contract tests exercise it that way. Local mode ignores payload indexes and
search parameters (and warns about each), so they are not sent to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar

import httpx
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core import (
    BackendUnavailableError,
    DeepwellError,
    IndexBackendError,
    get_logger,
    retrying,
)
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
from retrieval.index.filters import Filter, to_qdrant

log = get_logger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

#: Points per upsert request (keeps requests well under the server's 32 MB default limit)
#: and per scroll page.
BATCH = 256
#: How long optimize() waits for the server to finish indexing.
OPTIMIZE_TIMEOUT_S = 600.0


class QdrantClientIndex(VectorIndex):
    """A collection on a Qdrant server (or in qdrant-client's local mode).

    The index owns ``client`` and closes it in :meth:`close`. ``shards``,
    ``replication_factor`` and ``write_consistency`` apply when the collection is
    created on a cluster. A request that meets a transient error (connection
    refused or reset, timeout, 429/502/503/504) is retried ``retries`` times, after
    ``retry_backoff_s`` doubled each time plus a random jitter of up to ``retry_backoff_s``
    (:func:`core.retry.retrying`); every call is idempotent (writes are
    upserts and deletes by id), so a retried write cannot duplicate anything.
    """

    name: ClassVar[str] = "qdrant"

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        *,
        shards: int = 1,
        replication_factor: int = 1,
        write_consistency: int = 1,
        retries: int = 3,
        retry_backoff_s: float = 0.5,
        tuning: SearchTuning | None = None,
    ) -> None:
        super().__init__(tuning)
        self.client = client
        self.collection = collection
        self.shards = shards
        self.replication_factor = replication_factor
        self.write_consistency = write_consistency
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        options = client.init_options
        where = ("url", "host", "path", "location")
        self.location: str = str(next((options[k] for k in where if options.get(k)), "?"))
        self.local = options.get("location") == ":memory:" or options.get("path") is not None

    @classmethod
    def connect(
        cls,
        collection: str,
        *,
        url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        path: Path | None = None,
        **options: Any,
    ) -> QdrantClientIndex:
        """Connect to the server at ``url`` (``":memory:"`` for a throwaway local index),
        or open local mode in ``path``. Exactly one of ``url`` and ``path`` is required.
        ``options`` go to the constructor (shards, replication, retries).
        """
        if (url is None) == (path is None):
            raise IndexBackendError("qdrant backend: give exactly one of url and path")
        try:
            if url == ":memory:":
                client = QdrantClient(location=":memory:")
            elif url is not None:
                client = QdrantClient(url=url, api_key=api_key, timeout=max(1, round(timeout_s)))
            else:
                client = QdrantClient(path=str(path))
        except RuntimeError as exc:
            if "already accessed" in str(exc):  # qdrant-client's own lock on local storage
                raise IndexBackendError(
                    f"index at {path} is in use by another process — is a deepwell server "
                    "running? Use the CLI through that server, or stop it first."
                ) from exc
            raise IndexBackendError(f"cannot open qdrant index at {path}: {exc}") from exc
        return cls(client, collection, **options)

    def _call(self, action: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one client call, mapping its failures to deepwell's errors.

        Reads hold the shared side of the swap lock (see :meth:`VectorIndex.replace`).
        """
        try:
            for attempt in retrying(
                attempts=self.retries + 1,
                retry_on=_retried,
                backoff_s=self.retry_backoff_s,
                event="index.retry",
                action=action,
            ):
                with attempt:
                    if action in READ_ACTIONS:
                        with self._swap.read():
                            return fn(*args, **kwargs)
                    return fn(*args, **kwargs)
        except DeepwellError:
            raise
        except Exception as exc:
            if _transient(exc):
                raise BackendUnavailableError(
                    f"qdrant at {self.location} unreachable during {action} "
                    f"(after {self.retries + 1} attempts): {exc}"
                ) from exc
            raise IndexBackendError(
                f"qdrant collection {self.collection!r} at {self.location}: {action} failed: {exc}"
            ) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    # --- lifecycle ---------------------------------------------------------------------

    def ensure_collection(self, dim: int) -> None:
        """Create the collection and payload indexes, or check an existing one has ``dim``."""
        if self._call("check collection", self.client.collection_exists, self.collection):
            self._check_existing(dim)
        else:
            try:
                self._call("create collection", self._create, dim)
            except IndexBackendError as exc:
                # Another process may have created it in between; then it must match.
                if not isinstance(exc.__cause__, UnexpectedResponse) or (
                    exc.__cause__.status_code != 409
                ):
                    raise
                self._check_existing(dim)
            else:
                log.info("index.created", backend=self.name, collection=self.collection, dim=dim)
        if self.local:
            return  # local mode has no payload indexes
        for key in KEYWORD_FIELDS:
            self._call("create payload index", self._field_index, key, tenant=False)
        self._call("create payload index", self._field_index, TENANT_FIELD, tenant=True)

    def _create(self, dim: int) -> bool:
        return self.client.create_collection(
            self.collection,
            vectors_config={DENSE_VECTOR: qm.VectorParams(size=dim, distance=qm.Distance.COSINE)},
            sparse_vectors_config={SPARSE_VECTOR: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
            shard_number=self.shards,
            replication_factor=self.replication_factor,
            write_consistency_factor=self.write_consistency,
        )

    def _field_index(self, key: str, *, tenant: bool) -> None:
        schema = qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=tenant or None)
        self.client.create_payload_index(self.collection, key, field_schema=schema, wait=True)

    def _check_existing(self, dim: int) -> None:
        info = self._call("describe collection", self.client.get_collection, self.collection)
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE_VECTOR) if isinstance(vectors, dict) else None
        sparse = info.config.params.sparse_vectors or {}
        if dense is None or SPARSE_VECTOR not in sparse:
            raise IndexBackendError(
                f"collection {self.collection!r} at {self.location} exists without the "
                f"{DENSE_VECTOR!r} and {SPARSE_VECTOR!r} vectors deepwell needs; use another name"
            )
        if dense.size != dim or dense.distance != qm.Distance.COSINE:
            raise IndexBackendError(
                f"collection {self.collection!r} at {self.location} has dense dimension "
                f"{dense.size} ({dense.distance.value}), not {dim} (Cosine); re-index into a "
                "new collection, or configure the embedding model it was built with"
            )

    def close(self) -> None:
        """Close the client (and release local mode's lock); idempotent."""
        self.client.close()

    # --- writes ------------------------------------------------------------------------

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points, waiting until the server has applied them."""
        for start in range(0, len(points), BATCH):
            batch = [_to_struct(p) for p in points[start : start + BATCH]]
            self._call("upsert", self.client.upsert, self.collection, batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id; unknown ids are ignored."""
        for start in range(0, len(ids), BATCH):
            selector = qm.PointIdsList(points=[canonical_id(i) for i in ids[start : start + BATCH]])
            self._call("delete", self.client.delete, self.collection, selector, wait=True)

    def delete_where(self, flt: Filter) -> None:
        """Delete every point matching ``flt``."""
        selector = qm.FilterSelector(filter=to_qdrant(flt))
        self._call("delete by filter", self.client.delete, self.collection, selector, wait=True)

    # --- reads -------------------------------------------------------------------------

    def _search_params(self, exact: bool) -> qm.SearchParams | None:
        if self.local:  # local mode searches exhaustively and takes no search params
            return None
        if exact:
            return qm.SearchParams(exact=True)
        t = self.tuning
        acorn = (
            qm.AcornSearchParams(enable=True, max_selectivity=t.acorn_max_selectivity)
            if t.acorn
            else None
        )
        if t.hnsw_ef is None and acorn is None:
            return None
        return qm.SearchParams(hnsw_ef=t.hnsw_ef, acorn=acorn)

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
        """Dense, lexical or fused hybrid search in one request (see :class:`VectorIndex`)."""
        check_query(dense, sparse, mode, limit, rrf_k)
        query_filter = to_qdrant(flt) if flt is not None else None
        params = self._search_params(exact)
        sparse_query = (
            qm.SparseVector(indices=sparse.indices, values=sparse.values)
            if sparse is not None
            else None
        )
        kwargs: dict[str, Any]
        if mode == "hybrid":
            size = prefetch_size(limit, prefetch_limit)
            fused: qm.Query = (
                qm.RrfQuery(rrf=qm.Rrf(k=rrf_k))
                if fusion == "rrf"
                else qm.FusionQuery(fusion=qm.Fusion.DBSF)
            )
            prefetch = [
                qm.Prefetch(query=q, using=name, limit=size, filter=query_filter, params=params)
                for q, name in ((dense, DENSE_VECTOR), (sparse_query, SPARSE_VECTOR))
            ]
            kwargs = {"query": fused, "prefetch": prefetch}
        elif mode == "dense":
            kwargs = {"query": dense, "using": DENSE_VECTOR, "search_params": params}
        else:
            kwargs = {"query": sparse_query, "using": SPARSE_VECTOR, "search_params": params}
        response = self._call(
            "query",
            self.client.query_points,
            self.collection,
            query_filter=query_filter,
            limit=limit,
            with_payload=True,
            **kwargs,
        )
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def scroll(
        self, flt: Filter | None = None, limit: int | None = None, with_payload: bool = True
    ) -> Iterator[Hit]:
        """Every point matching ``flt`` (at most ``limit``), in id order, a page at a time."""
        scroll_filter = to_qdrant(flt) if flt is not None else None
        offset: qm.ExtendedPointId | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            page = BATCH if remaining is None else min(BATCH, remaining)
            records, next_offset = self._call(
                "scroll",
                self.client.scroll,
                self.collection,
                scroll_filter=scroll_filter,
                limit=page,
                offset=offset,
                with_payload=with_payload,
                with_vectors=False,
            )
            for record in records:
                yield Hit(str(record.id), 0.0, record.payload or {})
            if remaining is not None:
                remaining -= len(records)
            if next_offset is None or not records:
                return
            offset = next_offset

    def export(self, batch: int = BATCH) -> Iterator[IndexPoint]:
        """Every point with its vectors and payload, in id order, ``batch`` at a time."""
        offset: qm.ExtendedPointId | None = None
        while True:
            records, offset = self._call(
                "scroll",
                self.client.scroll,
                self.collection,
                limit=batch,
                offset=offset,
                with_payload=True,
                with_vectors=True,
            )
            for record in records:
                vectors = record.vector if isinstance(record.vector, dict) else {}
                dense = vectors.get(DENSE_VECTOR)
                sparse = vectors.get(SPARSE_VECTOR)
                if not isinstance(dense, list) or not isinstance(sparse, qm.SparseVector):
                    raise IndexBackendError(f"point {record.id} lacks the dense or sparse vector")
                yield IndexPoint(
                    str(record.id),
                    [float(x) for x in dense],  # type: ignore[arg-type]
                    SparseVector(list(sparse.indices), list(sparse.values)),
                    record.payload or {},
                )
            if offset is None or not records:
                return

    def retrieve(self, ids: Sequence[str]) -> list[Hit]:
        """The points with these ids, in the order asked; missing ids are left out."""
        wanted = [canonical_id(i) for i in ids]
        unique: list[qm.ExtendedPointId] = list(dict.fromkeys(wanted))
        records = self._call(
            "retrieve", self.client.retrieve, self.collection, unique, with_payload=True
        )
        by_id = {str(r.id): Hit(str(r.id), 0.0, r.payload or {}) for r in records}
        return [by_id[i] for i in wanted if i in by_id]

    def count(self, flt: Filter | None = None) -> int:
        """Exact number of points matching ``flt``."""
        count_filter = to_qdrant(flt) if flt is not None else None
        result = self._call(
            "count", self.client.count, self.collection, count_filter=count_filter, exact=True
        )
        return result.count

    def optimize(self, timeout_s: float = OPTIMIZE_TIMEOUT_S) -> None:
        """Wait until the server has indexed everything (status green); no-op in local mode.

        A server builds HNSW in the background; a grey status (optimizations pending)
        is nudged into running with an empty optimizer update.
        """
        if self.local:
            return
        started = time.perf_counter()
        while True:
            info = self._call("describe", self.client.get_collection, self.collection)
            if info.status == qm.CollectionStatus.GREEN:
                break
            if info.status == qm.CollectionStatus.RED:
                raise IndexBackendError(f"collection {self.collection!r} is red: optimizer failed")
            if info.status == qm.CollectionStatus.GREY:
                self._call(
                    "trigger optimizers",
                    self.client.update_collection,
                    self.collection,
                    optimizers_config=qm.OptimizersConfigDiff(),
                )
            if time.perf_counter() - started > timeout_s:
                log.warning("index.optimize_timeout", collection=self.collection, s=timeout_s)
                return
            time.sleep(0.5)
        log.info(
            "index.optimized",
            backend=self.name,
            collection=self.collection,
            seconds=round(time.perf_counter() - started, 2),
        )

    def describe(self) -> dict[str, Any]:
        """Backend, collection, location, and (when the collection exists) its point count."""
        facts: dict[str, Any] = {
            "backend": self.name,
            "collection": self.collection,
            "location": self.location,
            "local_mode": self.local,
            "exists": False,
            "points": 0,
        }
        if self._call("check collection", self.client.collection_exists, self.collection):
            info = self._call("describe", self.client.get_collection, self.collection)
            facts |= {
                "exists": True,
                "points": info.points_count or 0,
                "indexed_vectors": info.indexed_vectors_count or 0,
                "status": info.status.value,
                "payload_indexes": sorted(info.payload_schema),
            }
        return facts


#: HTTP statuses worth retrying: rate limited, or a proxy/node briefly unavailable.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


def _retried(exc: BaseException) -> bool:
    """Whether a failed call is tried again: a transient failure, never a domain error."""
    return not isinstance(exc, DeepwellError) and _transient(exc)


def _transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure a retry may cure (the server unreachable or overloaded)."""
    if isinstance(exc, ResponseHandlingException | httpx.TransportError):
        return True
    return isinstance(exc, UnexpectedResponse) and exc.status_code in TRANSIENT_STATUSES


def _to_struct(point: IndexPoint) -> qm.PointStruct:
    sparse = qm.SparseVector(indices=point.sparse.indices, values=point.sparse.values)
    vectors: dict[str, qm.Vector] = {DENSE_VECTOR: point.dense, SPARSE_VECTOR: sparse}
    return qm.PointStruct(id=point.id, vector=vectors, payload=point.payload)
