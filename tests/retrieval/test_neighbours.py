"""Neighbour expansion: which spans to fetch, and how hits and neighbours are laid out."""

from __future__ import annotations

import pytest

from core import Chunk, InvalidInputError
from retrieval.index import Filter, MatchValue, Range
from retrieval.neighbours import Span, expand, neighbour_spans, spans_filter
from retrieval.types import RetrievedChunk


def chunk(doc: str, i: int, *, version: int = 1, score: float = 0.0) -> RetrievedChunk:
    record = Chunk(
        doc_id=doc,
        doc_version=version,
        chunk_index=i,
        text=f"{doc} chunk {i}",
        title=doc,
        source_uri=f"file:///{doc}",
    )
    return RetrievedChunk(id=f"{doc}/{version}/{i}", score=score, record=record)


@pytest.mark.parametrize(
    ("hits", "n", "expected"),
    [
        ([("a", 5)], 0, [Span("a", 1, 5, 5, 0)]),
        ([("a", 5)], 2, [Span("a", 1, 3, 7, 0)]),
        ([("a", 1)], 3, [Span("a", 1, 0, 4, 0)]),  # clipped at the document start
        # Overlapping windows of one document merge, ranked by the better hit.
        ([("b", 9), ("a", 5), ("a", 7)], 1, [Span("b", 1, 8, 10, 0), Span("a", 1, 4, 8, 1)]),
        # Touching windows merge too; distant ones stay apart.
        ([("a", 10), ("a", 5), ("a", 30)], 2, [Span("a", 1, 3, 12, 0), Span("a", 1, 28, 32, 2)]),
        # The worse-ranked hit opens the document's first span: the span takes the better rank.
        ([("c", 0), ("a", 7), ("a", 6)], 1, [Span("c", 1, 0, 1, 0), Span("a", 1, 5, 8, 1)]),
    ],
)
def test_neighbour_spans(hits: list[tuple[str, int]], n: int, expected: list[Span]) -> None:
    assert neighbour_spans([chunk(d, i) for d, i in hits], n) == expected


def test_versions_of_a_document_never_merge() -> None:
    spans = neighbour_spans([chunk("a", 3, version=1), chunk("a", 3, version=2)], 1)
    assert spans == [Span("a", 1, 2, 4, 0), Span("a", 2, 2, 4, 1)]


def test_negative_neighbour_count_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        neighbour_spans([chunk("a", 1)], -1)


def test_spans_filter() -> None:
    assert spans_filter([Span("a", 2, 3, 5, 0)]) == Filter(
        should=[
            Filter(
                must=[
                    MatchValue("doc_id", "a"),
                    MatchValue("doc_version", 2),
                    Range("chunk_index", gte=3, lte=5),
                ]
            )
        ]
    )
    assert spans_filter([]) == Filter(should=[Range("chunk_index", lt=0)])


def test_expand_lays_out_spans_in_rank_order_and_document_order() -> None:
    hits = [chunk("b", 9, score=0.9), chunk("a", 5, score=0.8), chunk("a", 7, score=0.7)]
    spans = neighbour_spans(hits, 1)
    # Fetched in id order, some missing (b/10 does not exist, a/6 is not readable).
    fetched = [chunk("a", 8), chunk("a", 4), chunk("b", 8), chunk("a", 5), chunk("b", 9)]
    out = expand(hits, fetched, spans)
    assert [c.id for c in out] == ["b/1/8", "b/1/9", "a/1/4", "a/1/5", "a/1/7", "a/1/8"]
    # Hits keep their ranked score even when the fetch returned them unscored.
    assert {c.id: c.score for c in out if c.score} == {"b/1/9": 0.9, "a/1/5": 0.8, "a/1/7": 0.7}


def test_expand_drops_chunks_outside_every_span() -> None:
    hits = [chunk("a", 5)]
    out = expand(hits, [chunk("a", 9), chunk("z", 5)], neighbour_spans(hits, 1))
    assert [c.id for c in out] == ["a/1/5"]
