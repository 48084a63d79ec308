"""Domain types shared by every stage: who asks, what is stored."""

from __future__ import annotations

from datetime import datetime
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


class Chunk(BaseModel):
    """One retrievable unit: text plus everything a citation and an access check need.

    The field names are the payload of every index point (DESIGN.md, data model).
    """

    doc_id: str
    doc_version: int
    chunk_index: int
    text: str
    source_uri: str
    title: str | None = None
    section: list[str] = Field(default_factory=list, description="Heading path.")
    page_start: int | None = None
    page_end: int | None = None
    element_types: list[str] = Field(default_factory=list)
    text_as_html: str | None = None
    content_sha256: str
    acl: list[str]
    tenant: str
    ingested_at: datetime
    pipeline_signature: str
    metadata: dict[str, Any] = Field(default_factory=dict)
