"""What retrieval hands on: retrieved chunks (the citable unit), search requests and results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from core import Chunk, PageBox
from retrieval.index import Hit


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """One chunk found for a query: the stored record (:class:`core.Chunk`) and its scores.

    The record's fields read through (``chunk.text``, ``chunk.doc_id``, ...), so code that
    cites or packs a chunk needs no other shape.
    """

    id: str
    score: float
    record: Chunk
    #: Cosine similarity of the query and the chunk's dense vector, where the search had it
    #: (dense and weighted hybrid search); a relevance measure, unlike a fused rank score.
    dense_score: float | None = None

    @classmethod
    def from_hit(cls, hit: Hit, *, dense_score: float | None = None) -> RetrievedChunk:
        """Build from an index hit (its payload read by :meth:`core.Chunk.from_payload`)."""
        return cls(hit.id, hit.score, Chunk.from_payload(hit.payload), dense_score)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, flat: the id, the scores and the record's fields (boxes as dicts)."""
        return {"id": self.id, "score": self.score, **asdict(self.record)} | {
            "dense_score": self.dense_score
        }

    def with_text(self, text: str) -> RetrievedChunk:
        """The same chunk showing ``text`` instead (a cut or a window of its text)."""
        return replace(self, record=replace(self.record, text=text))

    # The record's fields, read through.

    @property
    def doc_id(self) -> str:
        return self.record.doc_id

    @property
    def doc_version(self) -> int:
        return self.record.doc_version

    @property
    def chunk_index(self) -> int:
        return self.record.chunk_index

    @property
    def text(self) -> str:
        return self.record.text

    @property
    def title(self) -> str:
        return self.record.title

    @property
    def source_uri(self) -> str:
        return self.record.source_uri

    @property
    def section(self) -> list[str]:
        return self.record.section

    @property
    def page_start(self) -> int | None:
        return self.record.page_start

    @property
    def page_end(self) -> int | None:
        return self.record.page_end

    @property
    def element_types(self) -> list[str]:
        return self.record.element_types

    @property
    def text_as_html(self) -> str | None:
        return self.record.text_as_html

    @property
    def file_type(self) -> str | None:
        return self.record.file_type

    @property
    def metadata(self) -> dict[str, Any]:
        return self.record.metadata

    @property
    def boxes(self) -> list[PageBox]:
        return self.record.boxes

    @property
    def is_table(self) -> bool:
        return self.record.is_table
