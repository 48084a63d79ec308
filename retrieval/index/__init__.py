"""The vector index: one interface, an embedded and a server backend, chosen by settings.

Ingestion writes through it and search reads through it; nothing else talks to
Qdrant. Typical use::

    index = open_index(settings)
    index.ensure_collection(dim=384)
    index.upsert(points)
    hits = index.query(dense=qv, sparse=encode_query(text), flt=acl, limit=10)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import Settings, choose_backend
from retrieval.index.base import (
    Fusion,
    Hit,
    IndexPoint,
    SearchMode,
    SearchTuning,
    SparseVector,
    VectorIndex,
)
from retrieval.index.client import QdrantClientIndex
from retrieval.index.edge import EdgeIndex
from retrieval.index.filters import (
    Condition,
    DatetimeRange,
    Filter,
    HasId,
    IsEmpty,
    MatchAny,
    MatchPrefix,
    MatchValue,
    Range,
    all_of,
)
from retrieval.index.sparse import Bm25Encoder, encode_documents, encode_query

__all__ = [
    "INDEX_BACKENDS",
    "Bm25Encoder",
    "Condition",
    "DatetimeRange",
    "EdgeIndex",
    "Filter",
    "Fusion",
    "HasId",
    "Hit",
    "IndexPoint",
    "IsEmpty",
    "MatchAny",
    "MatchPrefix",
    "MatchValue",
    "QdrantClientIndex",
    "Range",
    "SearchMode",
    "SearchTuning",
    "SparseVector",
    "VectorIndex",
    "all_of",
    "encode_documents",
    "encode_query",
    "index_warnings",
    "open_index",
]


def _edge(settings: Settings) -> VectorIndex:
    cfg = settings.index
    return EdgeIndex(settings.index_path, cfg.collection, _tuning(settings))


def _qdrant(settings: Settings) -> VectorIndex:
    cfg = settings.index
    options: dict[str, Any] = {
        "tuning": _tuning(settings),
        "shards": cfg.shard_number,
        "replication_factor": cfg.replication_factor,
        "write_consistency": cfg.write_consistency_factor,
        "retries": cfg.retries,
        "retry_backoff_s": cfg.retry_backoff_s,
    }
    if cfg.url is not None:
        api_key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
        return QdrantClientIndex.connect(
            cfg.collection, url=cfg.url, api_key=api_key, timeout_s=cfg.timeout_s, **options
        )
    return QdrantClientIndex.connect(cfg.collection, path=cfg.local_path, **options)


def _tuning(settings: Settings) -> SearchTuning:
    cfg = settings.index
    return SearchTuning(cfg.hnsw_ef, cfg.acorn, cfg.acorn_max_selectivity)


#: The index backends by ``index.backend`` name.
INDEX_BACKENDS: dict[str, Callable[[Settings], VectorIndex]] = {"edge": _edge, "qdrant": _qdrant}


def open_index(settings: Settings) -> VectorIndex:
    """The index ``index.backend`` names: embedded (``edge``) or a Qdrant server (``qdrant``).

    Opening the embedded index takes its lock; close the index (or use it as a
    context manager) to release it.

    :raises core.errors.ConfigError: no index backend of that name (the valid ones listed).
    :raises core.errors.IndexBackendError: the index is in use or cannot be opened.
    """
    return choose_backend("index.backend", settings.index.backend, INDEX_BACKENDS)(settings)


def index_warnings(settings: Settings, facts: dict[str, Any]) -> list[str]:
    """Warnings about the index described by ``facts`` (``VectorIndex.describe()``): an
    embedded index (``edge``, or ``qdrant`` in local mode) above
    ``index.embedded_warn_points`` should move to a Qdrant server."""
    limit = settings.index.embedded_warn_points
    embedded = settings.index.backend == "edge" or settings.index.url is None  # local mode
    points = int(facts.get("points") or 0)
    if limit is None or not embedded or points <= limit:
        return []
    return [
        f"the embedded index holds {points} points, above index.embedded_warn_points = "
        f"{limit}: one process owns it and its memory; move it to a Qdrant server with "
        "`deepwell index migrate --to server --url http://QDRANT:6333` (stop the server "
        "first), then set index.backend = 'qdrant' and index.url"
    ]
