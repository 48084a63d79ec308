"""Reading passages by id or by document, for the caller's eyes only.

A citation opened in full (:func:`read_chunk`), the stored answers' passages that
still exist (:func:`readable_chunk_ids`), and the whole corpus a principal may read
(:func:`readable_chunks`, which evaluation builds its question sets and reference
documents from). The same rule as search: the index read carries the principal's
access filter, built here and never accepted from a caller, and what comes back is
checked again with :func:`retrieval.acl.can_read`. A chunk the principal may not
read is reported exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from core import Principal
from retrieval.acl import access_filter, can_read
from retrieval.index import HasId, MatchAny, MatchValue, VectorIndex
from retrieval.index.filters import Filter, all_of
from retrieval.types import RetrievedChunk


def read_chunk(
    index: VectorIndex, principal: Principal, doc_id: str, chunk_id: str
) -> RetrievedChunk | None:
    """Chunk ``chunk_id`` of document ``doc_id`` if ``principal`` may read it, else None."""
    try:
        canonical = str(uuid.UUID(chunk_id))
    except ValueError:
        return None
    wanted = Filter(must=[HasId([canonical]), MatchValue("doc_id", doc_id)])
    flt = all_of(access_filter(principal), wanted)
    for hit in index.scroll(flt, limit=1):
        if can_read(principal, hit.payload) and hit.payload.get("doc_id") == doc_id:
            return RetrievedChunk.from_hit(hit)
    return None


def readable_chunk_ids(
    index: VectorIndex, principal: Principal, chunk_ids: Iterable[str], batch: int = 256
) -> set[str]:
    """The ids among ``chunk_ids`` that exist now and that ``principal`` may read.

    What exports of stored answers are checked against: a passage whose document was
    deleted, re-ingested with other text, or re-shared away from ``principal`` is gone.
    """
    wanted: list[str] = []
    for chunk_id in chunk_ids:
        try:
            wanted.append(str(uuid.UUID(chunk_id)))
        except (ValueError, TypeError, AttributeError):
            continue
    found: set[str] = set()
    unique = sorted(set(wanted))
    for start in range(0, len(unique), batch):
        part = unique[start : start + batch]
        flt = all_of(access_filter(principal), Filter(must=[HasId(part)]))
        found |= {
            hit.id for hit in index.scroll(flt, limit=len(part)) if can_read(principal, hit.payload)
        }
    return found


def readable_chunks(
    index: VectorIndex,
    principal: Principal,
    *,
    doc_ids: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[RetrievedChunk]:
    """Every chunk ``principal`` may read, in id order.

    Args:
        index: the index to read.
        principal: whose access rule applies (tenant and ACL, as in search).
        doc_ids: only chunks of these documents (None: of every document; empty: none).
        limit: at most this many chunks (None: all of them).

    Returns:
        The chunks, each with score 0 (nothing was ranked).
    """
    wanted = None
    if doc_ids is not None:
        ids = sorted(set(doc_ids))
        if not ids:
            return []
        wanted = Filter(must=[MatchAny("doc_id", ids)])
    if limit is not None and limit <= 0:
        return []
    flt = all_of(access_filter(principal), wanted)
    return [
        RetrievedChunk.from_hit(hit)
        for hit in index.scroll(flt, limit=limit)
        if can_read(principal, hit.payload)
    ]
