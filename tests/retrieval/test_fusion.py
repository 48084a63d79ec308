"""Weighted RRF and the per-document cap: pure functions, checked against Qdrant's own RRF."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from qdrant_client.http import models as qm
from qdrant_client.hybrid.fusion import reciprocal_rank_fusion

from core import Chunk, InvalidInputError
from retrieval.fusion import diversify, rrf_weights, weighted_rrf
from retrieval.types import RetrievedChunk


@pytest.mark.parametrize(
    ("rankings", "weights", "k", "expected"),
    [
        # Plain RRF: b is second in both lists and beats a (first and absent).
        ([["a", "b"], ["c", "b"]], [1, 1], 60, ["b", "a", "c"]),
        # Equal scores keep first-seen order.
        ([["a"], ["c"]], [1, 1], 60, ["a", "c"]),
        # Weight 0 ignores a list entirely.
        ([["a", "b"], ["c", "b"]], [1, 0], 60, ["a", "b"]),
        # A heavy second list puts both its hits first.
        ([["a", "b"], ["c", "d"]], [0.2, 1.8], 60, ["c", "d", "a", "b"]),
        # Small k: first ranks dominate.
        ([["a", "b", "c"], ["d", "c"]], [1, 1], 1, ["a", "d", "c", "b"]),
        ([], [], 60, []),
    ],
)
def test_weighted_rrf_orders(
    rankings: list[list[str]], weights: list[float], k: int, expected: list[str]
) -> None:
    assert [key for key, _ in weighted_rrf(rankings, weights, k=k)] == expected


def test_unit_weights_give_the_engine_rrf_score() -> None:
    fused = dict(weighted_rrf([["a", "b"], ["b"]], [1, 1], k=60))
    assert fused == pytest.approx({"a": 1 / 60, "b": 1 / 61 + 1 / 60})


@given(
    rankings=st.lists(
        st.lists(st.integers(0, 30), unique=True, max_size=15), min_size=1, max_size=3
    ),
    k=st.integers(1, 100),
)
def test_unit_weights_match_qdrant_reference_rrf(rankings: list[list[int]], k: int) -> None:
    """qdrant-client's pure RRF (the one its local mode runs) gives the same scores."""
    responses = [
        [qm.ScoredPoint(id=i, version=0, score=0.0) for i in ranking] for ranking in rankings
    ]
    reference = reciprocal_rank_fusion(responses, limit=100, ranking_constant_k=k)
    ours = dict(weighted_rrf(rankings, [1.0] * len(rankings), k=k))
    assert ours == pytest.approx({int(p.id): p.score for p in reference}, rel=1e-9)


@given(
    rankings=st.lists(
        st.lists(st.integers(0, 30), unique=True, max_size=15), min_size=2, max_size=2
    ),
    w=st.floats(0.1, 10.0),
)
def test_a_weight_multiplies_its_rankings_contribution(rankings: list[list[int]], w: float) -> None:
    first_only = dict(weighted_rrf(rankings, [1.0, 0.0]))
    second_only = dict(weighted_rrf(rankings, [0.0, 1.0]))
    both = dict(weighted_rrf(rankings, [w, 1.0]))
    expected = {
        key: w * first_only.get(key, 0.0) + second_only.get(key, 0.0)
        for key in first_only | second_only
    }
    assert both == pytest.approx(expected)


@pytest.mark.parametrize(
    ("rankings", "weights", "k"),
    [([["a"]], [1, 1], 60), ([["a"]], [-1], 60), ([["a"]], [1], 0)],
)
def test_weighted_rrf_refuses_bad_arguments(
    rankings: list[list[str]], weights: list[float], k: int
) -> None:
    with pytest.raises(InvalidInputError):
        weighted_rrf(rankings, weights, k=k)


@pytest.mark.parametrize(
    ("dense_weight", "expected"), [(0.5, (1.0, 1.0)), (1.0, (2.0, 0.0)), (0.25, (0.5, 1.5))]
)
def test_rrf_weights(dense_weight: float, expected: tuple[float, float]) -> None:
    assert rrf_weights(dense_weight) == expected


def test_rrf_weights_refuse_out_of_range() -> None:
    with pytest.raises(InvalidInputError):
        rrf_weights(1.5)


def chunk(doc: str, i: int) -> RetrievedChunk:
    record = Chunk(doc_id=doc, chunk_index=i, text="t", title="T", source_uri="u")
    return RetrievedChunk(id=f"{doc}-{i}", score=1.0, record=record)


RANKED = [chunk("a", 1), chunk("a", 2), chunk("b", 1), chunk("a", 3), chunk("c", 1), chunk("b", 2)]


@pytest.mark.parametrize(
    ("cap", "limit", "expected"),
    [
        (None, 3, ["a-1", "a-2", "b-1"]),
        (1, 10, ["a-1", "b-1", "c-1"]),
        (2, 4, ["a-1", "a-2", "b-1", "c-1"]),
        (2, 10, ["a-1", "a-2", "b-1", "c-1", "b-2"]),
        (5, 2, ["a-1", "a-2"]),
    ],
)
def test_diversify_caps_per_document_and_keeps_order(
    cap: int | None, limit: int, expected: list[str]
) -> None:
    assert [c.id for c in diversify(RANKED, cap, limit)] == expected


@pytest.mark.parametrize(("cap", "limit"), [(0, 5), (1, 0)])
def test_diversify_refuses_bad_arguments(cap: int, limit: int) -> None:
    with pytest.raises(InvalidInputError):
        diversify(RANKED, cap, limit)
