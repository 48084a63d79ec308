"""Domain types shared by every stage: who asks, what is stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PUBLIC = "*"
"""The ACL entry that makes a document visible to every principal of its tenant."""

Role = Literal["reader", "writer", "admin"]


class Principal(BaseModel):
    """The caller of a search, answer, or document operation.

    ``acl_tokens`` is what a document's ``acl`` list is matched against: the
    user id, the groups, and the public marker.
    """

    model_config = ConfigDict(frozen=True)

    user: str = Field(min_length=1)
    groups: tuple[str, ...] = ()
    tenant: str = "default"
    role: Role = "reader"

    @property
    def acl_tokens(self) -> list[str]:
        return [f"user:{self.user}", *(f"group:{g}" for g in self.groups), PUBLIC]


class Document(BaseModel):
    """A source document as the registry knows it."""

    doc_id: str
    source_uri: str
    title: str | None = None
    content_sha256: str
    version: int = 1
    acl: list[str]
    tenant: str
    mime_type: str | None = None
    size_bytes: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PageBox:
    """Where (part of) a chunk lies on a page: a rectangle in page fractions, y downwards.

    ``x0, y0`` is the top left corner, ``x1, y1`` the bottom right one; 0 is the page's
    left or top edge, 1 its right or bottom edge. A chunk has one box per page it spans:
    the union of its elements' boxes there.
    """

    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    def to_payload(self) -> dict[str, float | int]:
        """The stored form (coordinates rounded to 1/10,000 of the page)."""
        return {
            "page": self.page,
            "x0": round(self.x0, 4),
            "y0": round(self.y0, 4),
            "x1": round(self.x1, 4),
            "y1": round(self.y1, 4),
        }

    @classmethod
    def from_payload(cls, value: Any) -> PageBox | None:
        """A stored box; None when ``value`` is not one (never raises)."""
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(
                int(value["page"]),
                float(value["x0"]),
                float(value["y0"]),
                float(value["x1"]),
                float(value["y1"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable unit: text plus everything a citation and an access check need.

    The record the writer stores as an index point's payload and retrieval reads back:
    :meth:`to_payload` and :meth:`from_payload` are the only places where the payload's
    shape is written and read (DESIGN.md, data model). Payloads written before a field
    existed still read: a missing key takes the field's default.
    """

    doc_id: str
    chunk_index: int
    text: str
    doc_version: int = 1
    source_uri: str = ""
    #: The document's title, else its file name (what a citation shows).
    title: str = ""
    filename: str | None = None
    file_type: str | None = None
    #: Heading path, outermost first.
    section: list[str] = field(default_factory=list)
    page_start: int | None = None
    page_end: int | None = None
    element_types: list[str] = field(default_factory=list)
    #: Set when the chunk is (part of) one table.
    text_as_html: str | None = None
    #: Where the chunk's text lies, one box per page (formats with a layout: PDF, images).
    boxes: list[PageBox] = field(default_factory=list)
    content_sha256: str = ""
    acl: list[str] = field(default_factory=list)
    tenant: str = "default"
    ingested_at: str | None = None  # ISO 8601, UTC
    pipeline_signature: str = ""
    #: User metadata given at ingest.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The chunk this one nearly repeats (flagged by cleaning, kept).
    near_duplicate_of: str | None = None
    #: Issuer, type, period of the document (``ingest.docmeta``); one chunk per document
    #: also carries ``"head": 1`` in it, marking it for the catalog.
    docmeta: dict[str, Any] | None = None

    @property
    def is_table(self) -> bool:
        return self.text_as_html is not None or "Table" in self.element_types

    def to_payload(self) -> dict[str, Any]:
        """The index point's payload (JSON types only; optional keys only when set)."""
        payload: dict[str, Any] = {
            "doc_id": self.doc_id,
            "doc_version": self.doc_version,
            "chunk_index": self.chunk_index,
            "text": self.text,
            "source_uri": self.source_uri,
            "title": self.title,
            "filename": self.filename,
            "file_type": self.file_type,
            "section": list(self.section),
            "page_start": self.page_start,
            "page_end": self.page_end,
            "element_types": list(self.element_types),
            "boxes": [b.to_payload() for b in self.boxes],
            "content_sha256": self.content_sha256,
            "acl": list(self.acl),
            "tenant": self.tenant,
            "ingested_at": self.ingested_at,
            "pipeline_signature": self.pipeline_signature,
            "metadata": dict(self.metadata),
        }
        if self.text_as_html is not None:
            payload["text_as_html"] = self.text_as_html
        if self.near_duplicate_of is not None:
            payload["near_duplicate_of"] = self.near_duplicate_of
        if self.docmeta is not None:
            payload["docmeta"] = dict(self.docmeta)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Chunk:
        """The record stored as ``payload``; keys it lacks (older payloads) take defaults.

        Values are taken as :meth:`to_payload` wrote them (search reads every hit through
        here, so only what older payloads may lack or hold differently is converted).

        Raises:
            KeyError: the payload has no ``doc_id`` (it is no chunk).
        """
        p = payload
        get = p.get
        docmeta = get("docmeta")
        stored_boxes = get("boxes")
        boxes = [PageBox.from_payload(b) for b in stored_boxes] if stored_boxes else []
        acl = get("acl")
        return cls(
            doc_id=str(p["doc_id"]),
            chunk_index=int(get("chunk_index") or 0),
            text=str(get("text") or ""),
            doc_version=int(get("doc_version") or 1),
            source_uri=str(get("source_uri") or ""),
            title=str(get("title") or get("filename") or ""),
            filename=get("filename"),
            file_type=get("file_type"),
            section=list(get("section") or ()),
            page_start=get("page_start"),
            page_end=get("page_end"),
            element_types=list(get("element_types") or ()),
            text_as_html=get("text_as_html"),
            boxes=[b for b in boxes if b is not None],
            content_sha256=str(get("content_sha256") or ""),
            # a scalar stored for a list reads as a one-element list, as the ACL filter reads it
            acl=[acl] if isinstance(acl, str) else list(acl or ()),
            tenant=str(get("tenant") or "default"),
            ingested_at=get("ingested_at"),
            pipeline_signature=str(get("pipeline_signature") or ""),
            metadata=dict(get("metadata") or {}),
            near_duplicate_of=get("near_duplicate_of"),
            docmeta=dict(docmeta) if isinstance(docmeta, Mapping) else None,
        )
