"""No search path ever returns a chunk outside the caller's permissions, on either backend.

Hypothesis generates a small corpus (random tenants, ACLs drawn from a pool of users
and groups, ``"*"`` sometimes, and now and then a chunk whose ACL differs from its
document's), a random principal (any role: admin must not widen anything), and
random searches: every mode and fusion, reranking, neighbour expansion, per-document caps, and
caller filters that try to widen access (other tenants' doc ids, their source
prefixes). The corpus goes into a fresh embedded index and a fresh qdrant-client
local index. Every chunk of every result, and every hit the engine hands to the
searcher (seen by a spy, so the searcher's own Python re-check cannot hide a bad
engine filter), must be in the principal's tenant with an ACL sharing one of its
tokens, and must satisfy the caller's filter.

Completeness, so the property cannot pass by returning nothing: with a limit above
the corpus size, dense and hybrid search return exactly the readable chunks that
match the filter, and lexical search exactly those that also share a term.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_testkit import BACKENDS, HashEmbedder, open_backend, payload, points

from core import Principal, SearchSettings
from retrieval.acl import can_read
from retrieval.index import Filter, Hit, IndexPoint, VectorIndex, encode_query
from retrieval.search import Searcher
from retrieval.search_filters import SearchFilters
from retrieval.types import RetrievedChunk

USERS = ("ann", "bob", "cy")
GROUPS = ("fin", "legal", "ops")
TENANTS = ("t1", "t2", "t3")
ACL_POOL = (*(f"user:{u}" for u in USERS), *(f"group:{g}" for g in GROUPS), "*")
VOCAB = ("revenue", "ledger", "tungsten", "cloud", "margin", "cash", "risk", "board", "memo")
STOPWORDS = ("the", "of", "and")

acls = st.lists(st.sampled_from(ACL_POOL), unique=True, max_size=3)
words = st.lists(st.sampled_from(VOCAB + STOPWORDS), min_size=1, max_size=5).map(" ".join)


@st.composite
def documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Payloads of 1-6 documents of 1-4 chunks each."""
    payloads = []
    for d in range(draw(st.integers(1, 6))):
        tenant, acl = draw(st.sampled_from(TENANTS)), draw(acls)
        file_type, region = draw(st.sampled_from(("pdf", "md"))), draw(st.sampled_from("ab"))
        for i in range(draw(st.integers(1, 4))):
            # Now and then one chunk carries its own ACL: neighbours must be filtered per chunk.
            own = draw(st.one_of(st.none(), acls)) if draw(st.integers(0, 5)) == 0 else None
            payloads.append(
                payload(
                    f"d{d}",
                    i,
                    draw(words),
                    tenant=tenant,
                    acl=acl if own is None else own,
                    file_type=file_type,
                    metadata={"region": region},
                )
            )
    return payloads


principals = st.builds(
    Principal,
    user=st.sampled_from(USERS),
    groups=st.lists(st.sampled_from(GROUPS), unique=True, max_size=2).map(tuple),
    tenant=st.sampled_from(TENANTS),
    role=st.sampled_from(("reader", "writer", "admin")),
)

caller_filters = st.one_of(
    st.none(),
    st.builds(
        SearchFilters,
        # Ids of every tenant's documents, and the other tenants' folders: try to widen.
        doc_ids=st.one_of(
            st.none(), st.lists(st.sampled_from([f"d{i}" for i in range(7)]), min_size=1)
        ),
        source_prefix=st.one_of(
            st.none(), st.sampled_from([f"file:///docs/{t}/" for t in TENANTS])
        ),
        file_types=st.one_of(st.none(), st.just(["md"])),
        metadata=st.one_of(st.none(), st.just({"region": "a"})),
    ),
)


@dataclass(frozen=True)
class Request:
    query: str
    mode: Any
    fusion: Any
    limit: int
    neighbours: int
    cap: int | None
    rerank: bool
    filters: SearchFilters | None


requests = st.builds(
    Request,
    query=words,
    mode=st.sampled_from(("hybrid", "dense", "lexical")),
    fusion=st.sampled_from(("rrf", "dbsf", "weighted_rrf")),
    limit=st.integers(1, 30),
    neighbours=st.integers(0, 2),
    cap=st.sampled_from((None, 1, 2)),
    rerank=st.booleans(),
    filters=caller_filters,
)


class ReverseReranker:
    """Reorders candidates (last first): reranking may reorder, never add."""

    def rerank(self, query: str, chunks: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
        return list(chunks)[::-1]


def passes(filters: SearchFilters | None, p: dict[str, Any]) -> bool:
    """What the caller's filter means, independently of the filter language."""
    if filters is None:
        return True
    return (
        (filters.doc_ids is None or p["doc_id"] in filters.doc_ids)
        and (filters.source_prefix is None or p["source_uri"].startswith(filters.source_prefix))
        and (filters.file_types is None or p["file_type"] in filters.file_types)
        and all(p["metadata"].get(k) == v for k, v in (filters.metadata or {}).items())
    )


@contextmanager
def spied(index: VectorIndex, seen: list[Hit]) -> Iterator[VectorIndex]:
    """Record every hit the engine returns to the searcher (query and scroll)."""
    query, scroll = index.query, index.scroll

    def spy_query(**kwargs: Any) -> list[Hit]:
        hits = query(**kwargs)
        seen.extend(hits)
        return hits

    def spy_scroll(*args: Any, **kwargs: Any) -> Iterator[Hit]:
        for hit in scroll(*args, **kwargs):
            seen.append(hit)
            yield hit

    index.query = spy_query  # type: ignore[method-assign]
    index.scroll = spy_scroll  # type: ignore[method-assign]
    try:
        yield index
    finally:
        del index.query, index.scroll  # back to the class's methods


def check(searcher: Searcher, who: Principal, req: Request, corpus: dict[str, IndexPoint]) -> None:
    seen: list[Hit] = []
    with spied(searcher.index, seen):
        result = searcher.search(
            req.query,
            who,
            filters=req.filters,
            limit=req.limit,
            mode=req.mode,
            fusion=req.fusion,
            expand_neighbors=req.neighbours,
            max_per_document=req.cap or 0,
            rerank=req.rerank,
        )
    for hit in seen:
        assert can_read(who, hit.payload), (who, hit.payload)
        assert passes(req.filters, hit.payload), (req.filters, hit.payload)
    for chunk in result.chunks:
        p = corpus[chunk.id].payload
        assert p["tenant"] == who.tenant
        assert set(p["acl"]) & set(who.acl_tokens)
        assert passes(req.filters, p)
    hits = result.hits
    assert len(hits) <= req.limit
    if req.cap is not None:
        per_doc = [c.doc_id for c in hits]
        assert all(per_doc.count(d) <= req.cap for d in per_doc)
    if req.limit >= len(corpus) and req.cap is None:
        wanted = {
            pid
            for pid, pt in corpus.items()
            if can_read(who, pt.payload) and passes(req.filters, pt.payload)
        }
        if req.mode == "lexical":
            terms = set(encode_query(req.query).indices)
            wanted = {pid for pid in wanted if terms & set(corpus[pid].sparse.indices)}
        assert {c.id for c in hits} == wanted


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VectorIndex]]:
    """One index per backend for all examples (emptied before each): creating an
    embedded index per example costs more disk I/O than the whole test otherwise."""
    root = tmp_path_factory.mktemp("acl-property")
    opened = [open_backend(kind, root) for kind in BACKENDS]
    yield opened
    for index in opened:
        index.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=documents(), who=principals, reqs=st.lists(requests, min_size=1, max_size=4))
def test_no_search_path_returns_what_the_principal_may_not_read(
    indexes: list[VectorIndex], docs: list[dict[str, Any]], who: Principal, reqs: list[Request]
) -> None:
    embedder = HashEmbedder()
    pts = points(docs, embedder)
    corpus = {p.id: p for p in pts}
    for index in indexes:
        index.delete_where(Filter())  # an empty filter matches every point
        assert index.count() == 0
        index.upsert(pts)
        searcher = Searcher(index, embedder, SearchSettings(), reranker=ReverseReranker())
        for req in reqs:
            check(searcher, who, req, corpus)


def test_a_readable_matching_document_is_found() -> None:
    """The simple case, spelled out: visible and matching means found, in every mode."""
    docs = [
        payload("mine", 0, "tungsten ledger", tenant="t1", acl=["group:fin"]),
        payload("theirs", 0, "tungsten ledger", tenant="t1", acl=["group:ops"]),
        payload("other", 0, "tungsten ledger", tenant="t2", acl=["*"]),
    ]
    who = Principal(user="ann", groups=("fin",), tenant="t1")
    embedder = HashEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in BACKENDS:
            index = open_backend(kind, Path(tmp))
            try:
                index.upsert(points(docs, embedder))
                searcher = Searcher(index, embedder)
                for mode in ("hybrid", "dense", "lexical"):
                    found = searcher.search("tungsten", who, mode=mode).chunks
                    assert [c.doc_id for c in found] == ["mine"], (kind, mode)
            finally:
                index.close()
