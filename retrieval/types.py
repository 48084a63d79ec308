"""What retrieval hands on: retrieved chunks (the citable unit), search requests and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retrieval.index import Hit


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """One chunk found for a query, with everything a citation needs."""

    id: str
    score: float
    doc_id: str
    doc_version: int
    chunk_index: int
    text: str
    title: str
    source_uri: str
    section: list[str] = field(default_factory=list)
    page_start: int | None = None
    page_end: int | None = None
    element_types: list[str] = field(default_factory=list)
    text_as_html: str | None = None
    file_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Cosine similarity of the query and the chunk's dense vector, where the search had it
    #: (dense and weighted hybrid search); a relevance measure, unlike a fused rank score.
    dense_score: float | None = None

    @property
    def is_table(self) -> bool:
        return self.text_as_html is not None or "Table" in self.element_types

    @classmethod
    def from_hit(cls, hit: Hit, *, dense_score: float | None = None) -> RetrievedChunk:
        """Build from an index hit (the payload written by ``ingest.pipeline``)."""
        p = hit.payload
        return cls(
            id=hit.id,
            score=hit.score,
            doc_id=str(p["doc_id"]),
            doc_version=int(p.get("doc_version", 1)),
            chunk_index=int(p.get("chunk_index", 0)),
            text=str(p.get("text", "")),
            title=str(p.get("title") or p.get("filename") or ""),
            source_uri=str(p.get("source_uri", "")),
            section=list(p.get("section") or []),
            page_start=p.get("page_start"),
            page_end=p.get("page_end"),
            element_types=list(p.get("element_types") or []),
            text_as_html=p.get("text_as_html"),
            file_type=p.get("file_type"),
            metadata=dict(p.get("metadata") or {}),
            dense_score=dense_score,
        )
