"""Search hands on each chunk's dense similarity (a relevance measure fused scores are not)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from search_testkit import BACKENDS, HashEmbedder, loaded_index, payload

from core import Principal, SearchSettings
from retrieval.index import VectorIndex
from retrieval.search import Searcher

ANN = Principal(user="ann", tenant="acme")
TEXTS = [
    "Revenue grew on strong cloud demand.",
    "Tungsten ledger entries were reconciled.",
    "Cash flow from operations improved.",
    "Tungsten prices and ledger risk.",
]


@pytest.fixture(scope="module", params=BACKENDS)
def index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VectorIndex]:
    corpus = [payload("report", i, t) for i, t in enumerate(TEXTS)]
    with loaded_index(request.param, tmp_path_factory.mktemp("sim"), corpus, HashEmbedder()) as idx:
        yield idx


def cosine(a: str, b: str) -> float:
    embed = HashEmbedder()
    return float(np.dot(embed.vector(a), embed.vector(b)))


@pytest.mark.parametrize(
    "options", [{}, {"mode": "dense"}, {"mode": "hybrid", "fusion": "weighted_rrf"}]
)
def test_dense_and_weighted_search_give_each_chunk_its_cosine(
    index: VectorIndex, options: dict[str, Any]
) -> None:
    query = "tungsten ledger"
    result = Searcher(index, HashEmbedder(), SearchSettings()).search(query, ANN, **options)
    assert result.chunks
    for chunk in result.chunks:
        assert chunk.dense_score == pytest.approx(cosine(query, chunk.text), abs=1e-5)
    if options.get("mode") == "dense":
        assert [c.score for c in result.chunks] == [c.dense_score for c in result.chunks]
    else:  # fused scores are rank-based, not similarities
        assert result.chunks[0].score != pytest.approx(result.chunks[0].dense_score)


@pytest.mark.parametrize("options", [{"mode": "lexical"}, {"fusion": "rrf"}, {"fusion": "dbsf"}])
def test_searches_without_a_dense_ranking_of_their_own_leave_it_unknown(
    index: VectorIndex, options: dict[str, Any]
) -> None:
    result = Searcher(index, HashEmbedder(), SearchSettings()).search("tungsten", ANN, **options)
    assert result.chunks
    assert {c.dense_score for c in result.chunks} == {None}
