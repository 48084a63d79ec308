"""The contract every vector-index backend keeps, run against each of them.

Backends: the embedded engine, qdrant-client's local mode, and (with QDRANT_URL) a
live Qdrant server. ``test_backends_agree`` checks the two offline ones return the
same rankings and scores for the same data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core import IndexBackendError, InvalidInputError
from retrieval.index import (
    DatetimeRange,
    EdgeIndex,
    Filter,
    Fusion,
    HasId,
    Hit,
    IndexPoint,
    IsEmpty,
    MatchAny,
    MatchPrefix,
    MatchValue,
    QdrantClientIndex,
    Range,
    SearchMode,
    SparseVector,
    VectorIndex,
    encode_query,
)
from retrieval.index import client as client_module
from retrieval.index import edge as edge_module
from testkit.index_contract import (
    DIM,
    LEXICAL_QUERY,
    QUERY_DIRECTION,
    Backend,
    corpus,
    key_of,
    matches,
    pid,
)

Loaded = tuple[VectorIndex, list[IndexPoint]]

FILTERS: dict[str, Filter] = {
    "acl-any": Filter(must=[MatchAny("acl", ["group:finance"])]),
    "acl-public": Filter(must=[MatchValue("acl", "*")]),
    "tenant": Filter(must=[MatchValue("tenant", "acme")]),
    "range": Filter(must=[Range("page_start", gte=30, lt=80)]),
    "range-open": Filter(must=[Range("page_start", gt=90)]),
    "datetime": Filter(
        must=[
            DatetimeRange(
                "ingested_at",
                gte="2024-03-03T12:00:00Z",
                lt=datetime(2024, 3, 6, 12, tzinfo=UTC),
            )
        ]
    ),
    # 13:00+01:00 is 12:00Z: an instant comparison includes the 3rd, a string one would not.
    "datetime-offset": Filter(must=[DatetimeRange("ingested_at", lte="2024-03-03T13:00:00+01:00")]),
    "must-not": Filter(must_not=[MatchValue("tenant", "acme")]),
    "should": Filter(should=[MatchValue("doc_id", "doc-0"), MatchValue("doc_id", "doc-3")]),
    "nested": Filter(
        must=[
            MatchAny("acl", ["user:ann", "*"]),
            Filter(should=[MatchValue("tenant", "globex"), Range("chunk_index", lte=0)]),
        ]
    ),
    "int-any": Filter(must=[MatchAny("chunk_index", [0, 2])]),
    # "file:///docs/1" is a prefix of 1.pdf and of nothing else; 10.pdf does not exist.
    "prefix": Filter(must=[MatchPrefix("source_uri", "file:///docs/1")]),
    "list-contains": Filter(must=[MatchValue("section", "Part 3")]),
    "is-empty": Filter(must=[IsEmpty("section")]),
    "has-id": Filter(must=[HasId([pid(1), pid(4)])]),
}


# --- collection lifecycle ---------------------------------------------------------------


def test_ensure_collection_is_idempotent(backend: Backend) -> None:
    index = backend.open()
    assert index.describe()["exists"] is False
    index.ensure_collection(DIM)
    index.ensure_collection(DIM)
    assert index.count() == 0
    index.upsert(corpus()[:2])
    index.ensure_collection(DIM)
    assert index.count() == 2
    facts = index.describe()
    assert facts["exists"] is True
    assert facts["points"] == 2
    assert facts["backend"] == index.name


def test_ensure_collection_rejects_another_dimension(backend: Backend) -> None:
    index = backend.open()
    index.ensure_collection(DIM)
    index.upsert(corpus()[:1])
    with pytest.raises(IndexBackendError, match=str(DIM)):
        index.ensure_collection(DIM + 1)
    index.close()
    reopened = backend.open()
    with pytest.raises(IndexBackendError, match=str(DIM)):
        reopened.ensure_collection(DIM + 1)
    reopened.ensure_collection(DIM)
    assert reopened.count() == 1


def test_calls_before_the_collection_exists_fail_clearly(backend: Backend) -> None:
    index = backend.open()
    with pytest.raises(IndexBackendError):
        index.count()
    with pytest.raises(IndexBackendError):
        index.upsert(corpus()[:1])


def test_a_second_open_is_refused_while_in_use(backend: Backend) -> None:
    if backend.kind == "server":
        pytest.skip("a server serves any number of clients")
    first = backend.open()
    with pytest.raises(IndexBackendError, match="in use by another process"):
        backend.open()
    first.close()
    backend.open().close()  # the lock went with the first


def test_data_survives_close_and_reopen(backend: Backend) -> None:
    with backend.open() as index:
        index.ensure_collection(DIM)
        index.upsert(corpus())
    reopened = backend.open()
    assert reopened.count() == len(corpus())
    assert reopened.retrieve([pid(3)])[0].payload == corpus()[3].payload


# --- writes -----------------------------------------------------------------------------


def test_upsert_then_retrieve_round_trips_payload(index: VectorIndex) -> None:
    payload: dict[str, Any] = {
        "text": "Ünïcödé — naïve café, 東京, emoji 🚀, quotes \"'",
        "nested": {"a": {"b": [1, 2, {"c": "d"}]}, "empty": {}},
        "list": ["x", "y"],
        "empty_list": [],
        "int": 2**53,
        "negative": -7,
        "float": 0.1,
        "none": None,
        "flag": True,
    }
    point = IndexPoint(pid(100), QUERY_DIRECTION, encode_query("naïve café"), payload)
    index.upsert([point])
    hits = index.retrieve([pid(100)])
    assert [h.id for h in hits] == [pid(100)]
    assert hits[0].payload == payload


def test_retrieve_keeps_the_order_asked_and_skips_missing(loaded: Loaded) -> None:
    index, _ = loaded
    hits = index.retrieve([pid(5), pid(999), pid(2).upper(), pid(5)])
    assert [h.id for h in hits] == [pid(5), pid(2), pid(5)]
    with pytest.raises(InvalidInputError):
        index.retrieve(["not-a-uuid"])


def test_upsert_of_the_same_id_replaces_the_point(index: VectorIndex) -> None:
    first, second = corpus()[:2]
    index.upsert([first])
    index.upsert([IndexPoint(first.id, second.dense, second.sparse, {"version": 2})])
    assert index.count() == 1
    assert index.retrieve([first.id])[0].payload == {"version": 2}


def test_delete_by_id_and_by_filter(loaded: Loaded) -> None:
    index, points = loaded
    index.delete([pid(0), pid(999)])
    assert index.count() == len(points) - 1
    assert index.retrieve([pid(0)]) == []
    index.delete([])
    index.delete_where(Filter(must=[MatchValue("doc_id", "doc-1")]))
    left = {h.payload["doc_id"] for h in index.scroll()}
    assert "doc-1" not in left
    assert index.count() == len(points) - 1 - 3


def test_batches_larger_than_one_request(
    index: VectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches make the paging loops run many times on a small corpus.
    monkeypatch.setattr(edge_module, "BATCH", 5)
    monkeypatch.setattr(client_module, "BATCH", 5)
    points = corpus()
    index.upsert(points)
    assert index.count() == len(points)
    index.delete([p.id for p in points[:11]])
    assert index.count() == 1


# --- reads ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_count_with_filters(loaded: Loaded, name: str) -> None:
    index, points = loaded
    expected = sum(matches(FILTERS[name], p) for p in points)
    assert 0 < expected < len(points), "a filter that keeps all or nothing proves little"
    assert index.count(FILTERS[name]) == expected


def test_match_any_of_nothing_matches_nothing(loaded: Loaded) -> None:
    index, _ = loaded
    assert index.count(Filter(must=[MatchAny("acl", [])])) == 0
    assert index.count(Filter()) == len(corpus())


def test_scroll_returns_every_matching_point_across_pages(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, points = loaded
    monkeypatch.setattr(edge_module, "BATCH", 5)
    monkeypatch.setattr(client_module, "BATCH", 5)
    every = list(index.scroll())
    assert sorted(h.id for h in every) == sorted(p.id for p in points)
    assert [h.id for h in every] == sorted(h.id for h in every)  # id order
    flt = FILTERS["must-not"]
    assert {h.id for h in index.scroll(flt)} == {p.id for p in points if matches(flt, p)}
    assert len(list(index.scroll(limit=7))) == 7
    bare = list(index.scroll(limit=3, with_payload=False))
    assert all(h.payload == {} for h in bare)
    assert len(bare) == 3


# case: (mode, fusion, prefetch_limit, key of the expected top hit)
QUERY_CASES: dict[str, tuple[SearchMode, Fusion, int | None, str]] = {
    "dense": ("dense", "rrf", None, "dense_top"),
    "lexical": ("lexical", "rrf", None, "lex_top"),
    "hybrid-rrf": ("hybrid", "rrf", None, "both"),
    "hybrid-dbsf": ("hybrid", "dbsf", None, "both"),
    "hybrid-rrf-short-prefetch": ("hybrid", "rrf", 2, "both"),
}


@pytest.mark.parametrize("case", sorted(QUERY_CASES))
@pytest.mark.parametrize("exact", [False, True], ids=["ann", "exact"])
def test_query_finds_the_expected_top_hit(loaded: Loaded, case: str, exact: bool) -> None:
    index, _ = loaded
    mode, fusion, prefetch_limit, top = QUERY_CASES[case]
    hits = index.query(
        dense=QUERY_DIRECTION,
        sparse=encode_query(LEXICAL_QUERY),
        flt=None,
        limit=3,
        mode=mode,
        fusion=fusion,
        prefetch_limit=prefetch_limit,
        exact=exact,
    )
    assert key_of(hits[0].payload) == top
    assert len(hits) == (2 if mode == "lexical" else 3)  # only two texts share query words
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filters_restrict_every_mode(loaded: Loaded, mode: SearchMode, name: str) -> None:
    index, points = loaded
    flt = FILTERS[name]
    allowed = {p.id for p in points if matches(flt, p)}
    lexical = {p.id for p in points if key_of(p.payload) in ("lex_top", "both")}
    hits = index.query(
        dense=QUERY_DIRECTION,
        sparse=encode_query(LEXICAL_QUERY),
        flt=flt,
        limit=len(points),
        mode=mode,
    )
    found = {h.id for h in hits}
    # Dense and hybrid rank every point that has a dense vector; lexical only those sharing words.
    assert found == (allowed & lexical if mode == "lexical" else allowed)
    assert len(found) == len(hits)


def test_rrf_k_is_the_fusion_constant(loaded: Loaded) -> None:
    """The chunk "both" is second in the dense and the lexical ranking: RRF gives 2 / (k + 1)."""
    index, _ = loaded
    for k in (3, 60):
        hits = index.query(
            dense=QUERY_DIRECTION, sparse=encode_query(LEXICAL_QUERY), flt=None, limit=3, rrf_k=k
        )
        assert key_of(hits[0].payload) == "both"
        assert hits[0].score == pytest.approx(2 / (k + 1))


def test_query_arguments_are_checked(loaded: Loaded) -> None:
    index, _ = loaded
    with pytest.raises(InvalidInputError, match="rrf_k"):
        index.query(dense=QUERY_DIRECTION, sparse=encode_query("x"), flt=None, limit=3, rrf_k=0)
    with pytest.raises(InvalidInputError, match="sparse"):
        index.query(dense=QUERY_DIRECTION, sparse=None, flt=None, limit=3)
    with pytest.raises(InvalidInputError, match="dense"):
        index.query(dense=None, sparse=encode_query("x"), flt=None, limit=3, mode="dense")
    with pytest.raises(InvalidInputError, match="limit"):
        index.query(dense=QUERY_DIRECTION, sparse=None, flt=None, limit=0, mode="dense")


def test_a_query_of_stopwords_only(loaded: Loaded) -> None:
    index, _ = loaded
    empty = encode_query("the and of")
    assert empty == SparseVector([], [])
    assert index.query(dense=None, sparse=empty, flt=None, limit=5, mode="lexical") == []
    hybrid = index.query(dense=QUERY_DIRECTION, sparse=empty, flt=None, limit=5)
    dense = index.query(dense=QUERY_DIRECTION, sparse=None, flt=None, limit=5, mode="dense")
    assert [h.id for h in hybrid] == [h.id for h in dense]


# --- congruence -------------------------------------------------------------------------


def _ranking(hits: list[Hit]) -> list[frozenset[str]]:
    """Ids grouped by equal score, best first: engines may order exact ties either way."""
    groups: list[tuple[float, set[str]]] = []
    for hit in hits:
        if groups and hit.score == pytest.approx(groups[-1][0], rel=1e-6):
            groups[-1][1].add(hit.id)
        else:
            groups.append((hit.score, {hit.id}))
    return [frozenset(ids) for _, ids in groups]


def _both(tmp_path: Path) -> list[VectorIndex]:
    indexes: list[VectorIndex] = [
        EdgeIndex(tmp_path / "edge", "c"),
        QdrantClientIndex.connect("c", url=":memory:"),
    ]
    for index in indexes:
        index.ensure_collection(DIM)
        index.upsert(corpus())
    return indexes


@pytest.mark.parametrize(
    ("mode", "fusion", "rrf_k"),
    [
        ("dense", "rrf", 60),
        ("lexical", "rrf", 60),
        ("hybrid", "rrf", 60),
        ("hybrid", "rrf", 3),
        ("hybrid", "dbsf", 60),
    ],
)
@pytest.mark.parametrize("flt_name", [None, "nested", "must-not"])
def test_backends_agree(
    tmp_path: Path, mode: SearchMode, fusion: Fusion, rrf_k: int, flt_name: str | None
) -> None:
    edge, local = _both(tmp_path)
    try:
        runs = [
            index.query(
                dense=QUERY_DIRECTION,
                sparse=encode_query(f"{LEXICAL_QUERY} quarterly revenue"),
                flt=FILTERS[flt_name] if flt_name else None,
                limit=8,
                mode=mode,
                fusion=fusion,
                rrf_k=rrf_k,
            )
            for index in (edge, local)
        ]
        assert len(runs[0]) >= 3
        assert _ranking(runs[0]) == _ranking(runs[1])
        assert [h.score for h in runs[0]] == pytest.approx([h.score for h in runs[1]], rel=1e-4)
        payloads = [{h.id: h.payload for h in run} for run in runs]
        assert payloads[0] == payloads[1]
    finally:
        edge.close()
        local.close()
