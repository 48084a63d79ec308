"""The filters a caller may put on a search: a small typed language over chunk payloads.

A :class:`SearchFilters` can only narrow a search. Search combines it with the
access filter of the principal (``all_of(access_filter(principal), filters)``),
so asking for another tenant's documents, or for documents outside one's ACL,
finds nothing: there is no field here that could widen access, and no tenant
field at all (the tenant is the principal's).

Every field is optional; set fields must all hold; a list means "any of". Empty
lists are refused rather than read as "nothing" or "anything".

Source filters work on ``source_uri`` (its keyword index serves both):

- ``source_uris``: exact URIs, e.g. ``file:///srv/docs/q3.pdf``.
- ``source_prefix``: the URI starts with this string, compared case-sensitively
  and character by character, the same on the embedded engine and on a Qdrant
  server (both evaluate ``MatchPrefix`` on keyword values). End a folder with
  ``/``: ``file:///srv/docs/legal`` also matches ``file:///srv/docs/legal-old/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from retrieval.index.filters import (
    Condition,
    DatetimeRange,
    Filter,
    MatchAny,
    MatchPrefix,
    MatchValue,
)

#: Payload keys the filters read (written by ``ingest.pipeline``).
SOURCE_KEY = "source_uri"
DOC_KEY = "doc_id"
FILE_TYPE_KEY = "file_type"
INGESTED_KEY = "ingested_at"
METADATA_KEY = "metadata"

#: Bounds that keep a filter a filter, not a way to ship a whole id list to the engine.
MAX_VALUES = 1000
MAX_METADATA_KEYS = 16

NonEmpty = Annotated[StrictStr, Field(min_length=1, max_length=2048)]
ValueList = Annotated[list[NonEmpty], Field(min_length=1, max_length=MAX_VALUES)]
MetadataScalar = StrictStr | StrictInt
MetadataValue = MetadataScalar | Annotated[list[MetadataScalar], Field(min_length=1)]
MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")]


class SearchFilters(BaseModel):
    """What a caller may restrict a search to; see the module docstring for the rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_uris: ValueList | None = Field(None, description="Exact source URIs (any of).")
    source_prefix: NonEmpty | None = Field(
        None, description="Source URI starts with this (case-sensitive; end folders with '/')."
    )
    doc_ids: ValueList | None = Field(None, description="Document ids (any of).")
    file_types: ValueList | None = Field(
        None, description="File types as ingest records them: pdf, docx, md... (any of)."
    )
    ingested_from: datetime | None = Field(
        None, description="Ingested at or after this instant (naive means UTC)."
    )
    ingested_before: datetime | None = Field(
        None, description="Ingested strictly before this instant (naive means UTC)."
    )
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        None,
        max_length=MAX_METADATA_KEYS,
        description="User metadata: key equals value (a list: any of); str or int values.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        start, end = _utc(self.ingested_from), _utc(self.ingested_before)
        if start is not None and end is not None and start >= end:
            raise ValueError("ingested_from must be earlier than ingested_before")
        for key, value in (self.metadata or {}).items():
            if isinstance(value, list) and len({type(v) for v in value}) > 1:
                raise ValueError(f"metadata.{key}: do not mix strings and integers")
        return self

    def is_empty(self) -> bool:
        """True when no field is set (the filter restricts nothing)."""
        return not self.model_dump(exclude_none=True)

    def to_filter(self) -> Filter | None:
        """The index filter these fields mean; None when nothing is set."""
        conds: list[Condition] = []
        if self.source_uris is not None:
            conds.append(MatchAny(SOURCE_KEY, self.source_uris))
        if self.source_prefix is not None:
            conds.append(MatchPrefix(SOURCE_KEY, self.source_prefix))
        if self.doc_ids is not None:
            conds.append(MatchAny(DOC_KEY, self.doc_ids))
        if self.file_types is not None:
            types = sorted({t.lower().lstrip(".") for t in self.file_types})
            conds.append(MatchAny(FILE_TYPE_KEY, types))
        if self.ingested_from is not None or self.ingested_before is not None:
            conds.append(
                DatetimeRange(INGESTED_KEY, gte=self.ingested_from, lt=self.ingested_before)
            )
        for key, value in sorted((self.metadata or {}).items()):
            path = f"{METADATA_KEY}.{key}"
            if isinstance(value, list):
                conds.append(MatchAny(path, value))  # type: ignore[arg-type]  # one type, checked
            else:
                conds.append(MatchValue(path, value))
        return Filter(must=conds) if conds else None


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
