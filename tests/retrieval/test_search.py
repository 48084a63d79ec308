"""Searcher on both backends: modes, fusion, diversity, neighbours, rerank, argument checks.

Dense vectors come from a hashed bag of words (``HashEmbedder``), sparse vectors
from the real BM25 encoder, so rankings are small and predictable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from search_testkit import BACKENDS, HashEmbedder, loaded_index, payload
from structlog.testing import capture_logs

from core import ConfigError, InvalidInputError, Principal, SearchSettings
from retrieval.index import Hit, VectorIndex
from retrieval.search import Searcher
from retrieval.search_filters import SearchFilters
from retrieval.types import RetrievedChunk

ANN = Principal(user="ann", groups=("finance",), tenant="acme")

REPORT = [  # one document, six chunks in order
    "Opening remarks about the quarter.",
    "Revenue grew on strong cloud demand.",
    "Tungsten ledger entries were reconciled.",
    "Operating expenses rose with headcount.",
    "Cash flow from operations improved.",
    "Closing remarks and outlook.",
]
CORPUS: list[dict[str, Any]] = [
    *(payload("report", i, t) for i, t in enumerate(REPORT)),
    payload("memo", 0, "Tungsten supply memo for the finance group.", acl=["group:finance"]),
    payload("memo", 1, "Tungsten prices and ledger risk.", acl=["group:finance"]),
    payload("secret", 0, "Tungsten ledger of the board.", acl=["group:board"]),
    payload("globex", 0, "Tungsten ledger at Globex.", tenant="globex"),
    payload("notes", 0, "Cloud demand notes.", file_type="md"),
    payload("notes", 1, "More cloud demand notes and tungsten.", file_type="md"),
    payload("faq", 0, "Cloud revenue questions.", file_type="txt"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorIndex]:
    """The corpus on one backend, shared by the module's tests (they only read it)."""
    root = tmp_path_factory.mktemp(request.param)
    with loaded_index(request.param, root, CORPUS, HashEmbedder()) as idx:
        yield idx


def searcher(index: VectorIndex, **settings: Any) -> Searcher:
    return Searcher(index, HashEmbedder(), SearchSettings(**settings))


def ids(chunks: Sequence[RetrievedChunk]) -> list[str]:
    return [f"{c.doc_id}/{c.chunk_index}" for c in chunks]


def ranking(chunks: Sequence[RetrievedChunk]) -> list[frozenset[str]]:
    """Ids grouped by equal score, best first: engines may order exact ties either way."""
    groups: list[tuple[float, set[str]]] = []
    for c in chunks:
        if groups and c.score == pytest.approx(groups[-1][0], rel=1e-6):
            groups[-1][1].add(ids([c])[0])
        else:
            groups.append((c.score, {ids([c])[0]}))
    return [frozenset(g) for _, g in groups]


# --- modes and fusion -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_every_mode_finds_the_obvious_chunk_and_only_readable_ones(
    index: VectorIndex, mode: Any
) -> None:
    result = searcher(index).search("tungsten ledger", ANN, mode=mode, limit=20)
    found = ids(result.chunks)
    assert found[0] in {"report/2", "memo/1"}
    assert "secret/0" not in found  # ACL
    assert "globex/0" not in found  # tenant
    assert result.mode == mode
    assert result.fusion == (SearchSettings().fusion if mode == "hybrid" else None)
    assert set(result.timings) == {"embed_ms", "index_ms", "rerank_ms", "expand_ms", "total_ms"}
    assert result.timings["total_ms"] >= result.timings["index_ms"] > 0


def test_lexical_mode_returns_only_chunks_sharing_a_term(index: VectorIndex) -> None:
    found = ids(searcher(index).search("tungsten", ANN, mode="lexical", limit=20).chunks)
    assert sorted(found) == ["memo/0", "memo/1", "notes/1", "report/2"]


def test_a_query_of_stopwords_only(index: VectorIndex) -> None:
    s = searcher(index)
    assert s.search("the and of", ANN, mode="lexical").chunks == []
    hybrid = s.search("the and of", ANN, mode="hybrid")
    assert ids(hybrid.chunks) == ids(s.search("the and of", ANN, mode="dense").chunks)


@pytest.mark.parametrize("query", ["tungsten ledger", "cloud revenue demand", "cash remarks"])
def test_weighted_rrf_at_even_weights_is_the_engine_rrf(index: VectorIndex, query: str) -> None:
    engine = searcher(index).search(query, ANN, fusion="rrf", limit=20).chunks
    python = searcher(index, dense_weight=0.5).search(query, ANN, fusion="weighted_rrf", limit=20)
    assert len(engine) > 5
    assert ranking(python.chunks) == ranking(engine)
    assert [c.score for c in python.chunks] == pytest.approx([c.score for c in engine])
    assert python.fusion == "weighted_rrf"


def test_weighted_rrf_at_the_extremes_follows_one_ranking(index: VectorIndex) -> None:
    query = "tungsten ledger cloud"
    for weight, mode in ((1.0, "dense"), (0.0, "lexical")):
        s = searcher(index, dense_weight=weight, fusion="weighted_rrf")
        single = ranking(s.search(query, ANN, mode=mode, limit=20).chunks)  # type: ignore[arg-type]
        fused = ids(s.search(query, ANN, limit=20).chunks)
        # The same chunks in the same order, up to the order of exact ties in the one ranking.
        group_of = {i: n for n, group in enumerate(single) for i in group}
        assert sorted(fused) == sorted(group_of)
        assert [group_of[i] for i in fused] == sorted(group_of[i] for i in fused)


def test_dbsf_fusion(index: VectorIndex) -> None:
    result = searcher(index, fusion="dbsf").search("tungsten ledger", ANN, limit=5)
    assert result.fusion == "dbsf"
    assert ids(result.chunks)[0] in {"report/2", "memo/1"}


# --- filters, diversity, neighbours -----------------------------------------------------


def test_caller_filters_narrow_and_cannot_widen(index: VectorIndex) -> None:
    s = searcher(index)
    md = SearchFilters(file_types=["md"])
    assert {c.doc_id for c in s.search("cloud", ANN, filters=md, limit=20).chunks} == {"notes"}
    # Other tenants' and forbidden documents stay invisible when asked for by id.
    wide = SearchFilters(doc_ids=["globex", "secret"])
    for mode in ("hybrid", "dense", "lexical"):
        assert s.search("tungsten ledger", ANN, filters=wide, mode=mode).chunks == []


def test_max_per_document(index: VectorIndex) -> None:
    s = searcher(index)
    capped = s.search("cloud demand remarks", ANN, limit=4, max_per_document=1).chunks
    assert len(capped) == 4
    assert len({c.doc_id for c in capped}) == 4
    # The settings' cap applies by default; 0 lifts it for one call.
    s2 = searcher(index, max_per_document=1)
    assert len({c.doc_id for c in s2.search("cloud demand remarks", ANN, limit=4).chunks}) == 4
    free = s2.search("remarks", ANN, limit=3, max_per_document=0, mode="dense").chunks
    assert len(free) == 3


def test_neighbour_expansion_returns_passages_in_document_order(index: VectorIndex) -> None:
    s = searcher(index)
    result = s.search("tungsten ledger reconciled", ANN, mode="lexical", limit=1)
    assert ids(result.chunks) == ["report/2"]
    expanded = s.search(
        "tungsten ledger reconciled", ANN, mode="lexical", limit=1, expand_neighbors=2
    )
    assert ids(expanded.chunks) == ["report/0", "report/1", "report/2", "report/3", "report/4"]
    assert ids(expanded.hits) == ["report/2"]
    assert expanded.timings["expand_ms"] > 0
    assert all(c.score == 0.0 for c in expanded.chunks if c.id in expanded.neighbour_ids)


def test_neighbours_obey_the_access_filter(tmp_path: Path) -> None:
    """A neighbouring chunk the caller may not read (another ACL) is not fetched."""
    docs = [
        payload("mixed", 0, "public intro", acl=["*"]),
        payload("mixed", 1, "restricted middle", acl=["group:board"]),
        payload("mixed", 2, "public tungsten hit", acl=["*"]),
        payload("mixed", 3, "restricted end", acl=["group:board"]),
        payload("mixed", 4, "public tail", acl=["*"]),
    ]
    for kind in BACKENDS:
        with loaded_index(kind, tmp_path / kind, docs, HashEmbedder()) as idx:
            out = searcher(idx).search("tungsten", ANN, mode="lexical", expand_neighbors=2)
            assert ids(out.chunks) == ["mixed/0", "mixed/2", "mixed/4"]


# --- rerank -----------------------------------------------------------------------------


class ReverseReranker:
    """Puts the last candidate first: visible in the result whatever the fused order was."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def rerank(self, query: str, chunks: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
        self.seen.append(ids(chunks))
        return [dataclasses.replace(c, score=float(i)) for i, c in enumerate(chunks)][::-1]


def test_reranker_reorders_all_candidates_before_the_cut(index: VectorIndex) -> None:
    readable = searcher(index).search("cloud", ANN, limit=50, mode="dense").chunks
    fake = ReverseReranker()
    s = Searcher(index, HashEmbedder(), SearchSettings(rerank_candidates=50), reranker=fake)
    s.search("cloud", ANN, limit=3, mode="dense")
    assert fake.seen == []  # off unless asked for
    reranked = s.search("cloud", ANN, limit=3, mode="dense", rerank=True)
    # Every readable candidate was scored, not only the first 3, and the cut came after.
    assert sorted(fake.seen[0]) == sorted(ids(readable))
    assert ids(reranked.chunks) == fake.seen[0][::-1][:3]
    assert reranked.timings["rerank_ms"] > 0


def test_rerank_without_a_reranker_is_a_config_error(index: VectorIndex, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reranker"):
        searcher(index).search("cloud", ANN, rerank=True)
    with pytest.raises(ConfigError, match="rerank_model_path"):
        Searcher(index, HashEmbedder(), SearchSettings(rerank=True))
    with pytest.raises(ConfigError, match="no such directory"):
        Searcher(index, HashEmbedder(), SearchSettings(rerank_model_path=tmp_path / "nope"))


# --- arguments and defence in depth -----------------------------------------------------


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("", {}),
        ("   \n\t", {}),
        ("x" * 2001, {}),
        ("q", {"limit": 0}),
        ("q", {"limit": 101}),
        ("q", {"mode": "fuzzy"}),
        ("q", {"fusion": "max"}),
        ("q", {"expand_neighbors": 6}),
        ("q", {"expand_neighbors": -1}),
        ("q", {"max_per_document": -1}),
    ],
)
def test_invalid_requests_are_refused(
    index: VectorIndex, query: str, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInputError):
        searcher(index).search(query, ANN, **options)


def test_hits_the_engine_should_not_have_returned_are_dropped_and_logged(
    index: VectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = index.query
    leaked = {"doc_id": "secret", "tenant": "acme", "acl": ["group:board"], "text": "x"}

    def leaky(**kwargs: Any) -> list[Hit]:
        return [Hit("00000000-0000-0000-0000-000000000001", 9.9, leaked), *real(**kwargs)]

    monkeypatch.setattr(index, "query", leaky)
    with capture_logs() as logs:
        found = searcher(index).search("tungsten", ANN, limit=20).chunks
    assert "secret" not in {c.doc_id for c in found}
    assert found
    assert [e["dropped"] for e in logs if e["event"] == "search.acl_violation"] == [1]
