"""Search: the passages the caller may read that best match a query."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, SearcherDep
from api.errors import error_responses
from retrieval import MAX_NEIGHBOURS, MAX_QUERY_CHARS, RetrievedChunk, SearchFilters

router = APIRouter(prefix="/v1", tags=["search"])


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    limit: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Ranked results (default search.top_k, at most search.max_limit).",
    )
    mode: Literal["hybrid", "dense", "lexical"] | None = Field(
        None, description="Default: search.mode."
    )
    filters: SearchFilters | None = Field(
        None, description="Narrowing filters; they can never widen what the caller may read."
    )
    expand_neighbors: int | None = Field(
        None, ge=0, le=MAX_NEIGHBOURS, description="Adjacent chunks added around each hit."
    )


class BoxOut(BaseModel):
    """Where (part of) a passage lies on a page: page fractions, y downwards."""

    model_config = ConfigDict(from_attributes=True)

    page: int = Field(description="1-based page number.")
    x0: float = Field(description="Left edge (0: the page's left edge, 1: its right edge).")
    y0: float = Field(description="Top edge (0: the page's top, 1: its bottom).")
    x1: float = Field(description="Right edge.")
    y1: float = Field(description="Bottom edge.")


class PassageOut(BaseModel):
    """A retrieved passage as the API shows it, read from the chunk record's attributes."""

    model_config = ConfigDict(from_attributes=True)

    chunk_id: str = Field(validation_alias=AliasChoices("chunk_id", "id"))
    doc_id: str
    doc_version: int
    chunk_index: int
    score: float
    text: str
    title: str
    source_uri: str
    section: list[str]
    page_start: int | None
    page_end: int | None
    file_type: str | None
    metadata: dict[str, Any]
    boxes: list[BoxOut] = Field(
        default_factory=list,
        description="Where the passage lies, one box per page (formats with a page layout).",
    )


class SearchHit(PassageOut):
    rank: int
    neighbour: bool = Field(description="Added around a hit by neighbour expansion, not ranked.")

    @classmethod
    def of(cls, chunk: RetrievedChunk, *, rank: int, neighbour: bool) -> SearchHit:
        """The hit at ``rank`` of a search."""
        passage = PassageOut.model_validate(chunk, from_attributes=True)
        return cls(rank=rank, neighbour=neighbour, **dict(passage))


class SearchResponse(BaseModel):
    query: str
    mode: Literal["hybrid", "dense", "lexical"]
    fusion: str | None
    results: list[SearchHit]
    timings: dict[str, float] = Field(description="Milliseconds per stage and `total_ms`.")


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Find the passages the caller may read",
    responses=error_responses(401, 413, 422, 429, 503),
)
async def search(body: SearchRequest, caller: CallerDep, searcher: SearcherDep) -> SearchResponse:
    result = await run_in_threadpool(
        searcher.search,
        body.query,
        caller.principal,
        filters=body.filters,
        limit=body.limit,
        mode=body.mode,
        expand_neighbors=body.expand_neighbors,
    )
    hits = [
        SearchHit.of(c, rank=i, neighbour=c.id in result.neighbour_ids)
        for i, c in enumerate(result.chunks, start=1)
    ]
    return SearchResponse(
        query=result.query,
        mode=result.mode,
        fusion=result.fusion,
        results=hits,
        timings=result.timings,
    )
