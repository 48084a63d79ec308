"""Search: the passages the caller may read that best match a query."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, SearcherDep
from api.errors import error_responses
from retrieval import MAX_NEIGHBOURS, MAX_QUERY_CHARS, SearchFilters

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


class SearchHit(BaseModel):
    rank: int
    chunk_id: str
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
    neighbour: bool = Field(description="Added around a hit by neighbour expansion, not ranked.")


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
        SearchHit(
            rank=i,
            chunk_id=c.id,
            doc_id=c.doc_id,
            doc_version=c.doc_version,
            chunk_index=c.chunk_index,
            score=c.score,
            text=c.text,
            title=c.title,
            source_uri=c.source_uri,
            section=list(c.section),
            page_start=c.page_start,
            page_end=c.page_end,
            file_type=c.file_type,
            metadata=c.metadata,
            neighbour=c.id in result.neighbour_ids,
        )
        for i, c in enumerate(result.chunks, start=1)
    ]
    return SearchResponse(
        query=result.query,
        mode=result.mode,
        fusion=result.fusion,
        results=hits,
        timings=result.timings,
    )
