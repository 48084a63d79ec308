"""Neighbour expansion: the chunks around each hit, so an answer sees a passage whole.

Pure functions: which chunk ranges to fetch (:func:`neighbour_spans`, :func:`spans_filter`)
and how to lay the fetched chunks out (:func:`expand`). Search fetches the spans
through the index with the caller's access filter added, so a neighbour the caller
may not read is never fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core import InvalidInputError
from retrieval.index.filters import Filter, MatchValue, Range
from retrieval.types import RetrievedChunk

#: Payload keys that place a chunk in its document (written by ``ingest.pipeline``).
DOC_KEY = "doc_id"
VERSION_KEY = "doc_version"
INDEX_KEY = "chunk_index"


@dataclass(frozen=True, slots=True)
class Span:
    """Chunks ``start``..``end`` (inclusive) of one document version; ``rank`` of its best hit."""

    doc_id: str
    doc_version: int
    start: int
    end: int
    rank: int

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def neighbour_spans(hits: Sequence[RetrievedChunk], n: int) -> list[Span]:
    """Windows of ``n`` chunks either side of each hit, merged, best-ranked first.

    Windows of the same document version that overlap or touch become one span,
    ranked by its best hit (hits are given best first). ``n`` = 0 gives each hit
    alone.
    """
    if n < 0:
        raise InvalidInputError(f"neighbour count must not be negative, got {n}")
    windows: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for rank, hit in enumerate(hits):
        start = max(0, hit.chunk_index - n)
        windows.setdefault((hit.doc_id, hit.doc_version), []).append(
            (start, hit.chunk_index + n, rank)
        )
    spans: list[Span] = []
    for (doc_id, version), found in windows.items():
        found.sort()
        start, end, rank = found[0]
        for w_start, w_end, w_rank in found[1:]:
            if w_start <= end + 1:  # overlaps or touches: one passage
                end, rank = max(end, w_end), min(rank, w_rank)
            else:
                spans.append(Span(doc_id, version, start, end, rank))
                start, end, rank = w_start, w_end, w_rank
        spans.append(Span(doc_id, version, start, end, rank))
    return sorted(spans, key=lambda s: s.rank)


def spans_filter(spans: Sequence[Span]) -> Filter:
    """An index filter selecting the chunks of ``spans`` (nothing when there are none)."""
    return Filter(
        should=[
            Filter(
                must=[
                    MatchValue(DOC_KEY, s.doc_id),
                    MatchValue(VERSION_KEY, s.doc_version),
                    Range(INDEX_KEY, gte=s.start, lte=s.end),
                ]
            )
            for s in spans
        ]
        # should=[] would match everything; a filter on an impossible chunk matches nothing.
        or [Range(INDEX_KEY, lt=0)]
    )


def expand(
    hits: Sequence[RetrievedChunk], fetched: Sequence[RetrievedChunk], spans: Sequence[Span]
) -> list[RetrievedChunk]:
    """Hits with their fetched neighbours: span by span, each span in document order.

    Hits keep their own score; fetched neighbours keep theirs (0.0 from a scroll:
    they were not ranked). A chunk is listed once; a chunk in no span is dropped.
    Missing neighbours (document start or end, or not readable by the caller) are
    simply absent.
    """
    by_key = {(c.doc_id, c.doc_version, c.chunk_index): c for c in fetched}
    by_key |= {(c.doc_id, c.doc_version, c.chunk_index): c for c in hits}
    out: list[RetrievedChunk] = []
    seen: set[str] = set()
    for span in spans:
        for index in range(span.start, span.end + 1):
            chunk = by_key.get((span.doc_id, span.doc_version, index))
            if chunk is not None and chunk.id not in seen:
                seen.add(chunk.id)
                out.append(chunk)
    return out
