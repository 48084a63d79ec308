"""Cited answers: JSON, or Server-Sent Events as tokens arrive.

With ``stream: true`` the response is ``text/event-stream``: the sources first, as
soon as retrieval ends (before the model has read them), then the answer's tokens::

    event: sources
    data: {"answer_id": "...", "context": [...], "generate": true, ...}

    event: token
    data: {"text": "Revenue"}

    event: done
    data: {"answer_id": "...", "answer": "...", "citations": [...], "truncated": false, ...}

Errors before the stream starts (bad input, retrieval failures) are ordinary JSON
error responses. When the model fails or runs out of time before its first token,
``event: error`` follows the sources, with the API's error shape as data. Once
tokens have been sent, no error takes them back: ``done`` ends the answer with what
was said, ``truncated: true`` and a ``note``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import Caller
from api.deps import CallerDep, ServicesDep
from api.errors import error_body, error_responses
from api.routes.search import BoxOut
from api.services import Services
from core import DeepwellError, get_logger
from retrieval import MAX_QUERY_CHARS, AnswerResult, AnswerStream, FigureStatus, SearchFilters

log = get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["answer"])

CONVERSATION_ID = r"^[A-Za-z0-9_.:-]{1,128}$"


class CitationOut(BaseModel):
    """One ``[n]`` of an answer: where the passage comes from."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    source_uri: str
    page_start: int | None
    page_end: int | None
    section: list[str]
    snippet: str
    score: float
    boxes: list[BoxOut] = Field(
        default_factory=list,
        description="Where the passage lies, one box per page: what a viewer highlights on "
        "the rendered page (formats with a page layout; answers stored before boxes have none).",
    )


class FigureOut(BaseModel):
    """One figure of the answer, checked against the passages the model was given."""

    text: str = Field(description="The figure as the answer states it.")
    start: int = Field(
        description="Where it starts in `answer` (an operand's: in its figure's `working`), "
        "in code points."
    )
    end: int
    value: float = Field(
        description="The amount it states: a bare `21,213` from a table in millions is "
        "21213000000; a percentage is its number."
    )
    status: FigureStatus = Field(
        description="`verified`: in a passage, to the precision stated, in a table row and "
        "period column matching the words around it; `wrong_period` / `wrong_label`: only in "
        "another period's column / another row (or a row of another measure than the question "
        "asks, for the answer's first figure); `unit_mismatch`: the same digits in other "
        "units; `not_found`: in no passage; `computed`: deepwell computed it from figures of "
        "the passages (see `working`); `unsupported_operand`: computed from a number in no "
        "passage, in other units, or in a row for something else; `uncomputable`: an "
        "expression deepwell could not compute."
    )
    source: int | None = Field(description="The passage `[n]` it was found in.")
    row: str | None = Field(
        description="The table row it was found in, after its heading: `Americas: Net sales`."
    )
    column: str | None = Field(description="The table column (often a period) it was found in.")
    working: str | None = Field(
        None, description="A computed figure's working: `(21,213 − 19,604) / 19,604 × 100 = 8.2%`."
    )
    operands: list[FigureOut] = Field(
        default_factory=list, description="A computed figure's operands, each checked."
    )


class AnswerOut(BaseModel):
    """An answer with the citations it uses and the context it was given."""

    answer_id: str = Field(description="Rate it with `POST /v1/feedback`.")
    question: str
    query: str = Field(description="The standalone query searched (follow-ups are rewritten).")
    answer: str
    citations: list[CitationOut] = Field(description="The context passages the answer cites.")
    context: list[CitationOut] = Field(description="Every passage the model was given.")
    no_answer: bool
    unsupported_numbers: list[str] = Field(
        description="Figures of the answer found nowhere in the context: a reason for doubt."
    )
    figures: list[FigureOut] = Field(
        description="Each figure of the answer checked against the passages; derived figures "
        "are computed by deepwell with the working shown. When the first (key) figure is not "
        "verified, the answer ends with a note saying so."
    )
    conversation_id: str | None
    timings: dict[str, float | None]
    search_timings: dict[str, float]
    prompt_tokens: int
    completion_tokens: int
    context_tokens: int
    tokens_per_s: float | None
    model: dict[str, Any]
    finish_reason: Literal["stop", "length", "timeout", "error", "none"] = Field(
        description="Why generation ended: the model stopped; it reached llm.max_tokens; "
        "llm.timeout_s ran out or the model failed after its first token; `none`: the model "
        "was not called (nothing relevant was found)."
    )
    truncated: bool = Field(
        description="The answer was cut off (`length`, `timeout`, `error`); what was said is kept."
    )
    note: str | None = Field(
        description="Why the answer was cut off, or why the model was not asked, in words."
    )
    relevance: float | None = Field(
        description="The best dense similarity of the retrieved passages to the question "
        "(compared with llm.min_relevance); null where the search mode gives none."
    )


class SourcesOut(BaseModel):
    """The first event of a streamed answer: the passages the model is about to read."""

    answer_id: str
    question: str
    query: str
    context: list[CitationOut] = Field(description="Every passage the model will read, [n] order.")
    context_tokens: int
    generate: bool = Field(
        description="Whether the model will be asked; false: the no-answer sentence follows."
    )
    relevance: float | None
    note: str | None = Field(description="Why the model will not be asked, when it will not.")
    timings: dict[str, float | None] = Field(description="Milliseconds so far (retrieval...).")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    conversation_id: str | None = Field(
        None,
        pattern=CONVERSATION_ID,
        description="Continue (or start) this conversation; a client-chosen id, private to "
        "the caller.",
    )
    filters: SearchFilters | None = None
    limit: int | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    stream: bool = Field(False, description="Answer as Server-Sent Events.")


_SSE_DOC = (
    "With `stream: true`: first `event: sources` (data: the passages the model is about to "
    'read, sent as soon as retrieval ends), then `event: token` (data `{"text": ...}`) per '
    "token, then `event: done` (data: the answer object). `event: error` (data: the error "
    "shape) can only come before the first token; after it, a failure or the time limit ends "
    "the answer with `done`, `truncated: true` and a `note`, keeping what was said."
)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema for use inside an OpenAPI document; the models it refers to
    (here CitationOut) must be among the document's components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


#: One event of the answer stream, as OpenAPI describes Server-Sent Events.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["sources", "token", "done", "error"]},
        "data": {
            "type": "string",
            "description": "JSON: a SourcesOut object (sources, always first), "
            '`{"text": ...}` (token), the answer object (done), or the error shape (error, '
            "only before the first token).",
            "contentMediaType": "application/json",
            "contentSchema": {
                "oneOf": [
                    inline_schema(SourcesOut),
                    {
                        "title": "Token",
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string"}},
                    },
                    {"$ref": "#/components/schemas/AnswerOut"},
                    {"$ref": "#/components/schemas/ErrorResponse"},
                ]
            },
        },
    },
}


def sse(event: str, data: Any) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, default=str))


def record(services: Services, caller: Caller, result: AnswerResult) -> None:
    """Keep the answer for feedback and exports (a failure is logged, not raised)."""
    try:
        services.records.record_answer(result, caller.principal, caller.key_id)
    except Exception as exc:
        log.error("answer.record_failed", answer_id=result.answer_id, error=repr(exc))


def guarded(
    stream: AnswerStream,
    render: Callable[[dict[str, Any]], Iterator[bytes]],
    on_error: Callable[[DeepwellError | None], bytes],
) -> Iterator[bytes]:
    """Render the events of ``stream``; a failure mid-stream becomes one error event."""
    try:
        for event in stream:
            yield from render(event)
    except DeepwellError as exc:
        log.warning("answer.stream_failed", code=exc.code, error=str(exc))
        yield on_error(exc)
    except Exception as exc:
        log.error("answer.stream_crashed", error=repr(exc))
        yield on_error(None)
    finally:
        stream.close()


def error_data(exc: DeepwellError | None) -> dict[str, dict[str, str]]:
    if exc is None:
        return error_body("internal_error", "internal error; the server log has the details")
    return error_body(exc.code, str(exc))


@router.post(
    "/answer",
    response_model=AnswerOut,
    summary="A cited answer from the documents the caller may read",
    description=_SSE_DOC,
    responses={
        200: {
            "description": "The answer (JSON), or its event stream when `stream` is true.",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **error_responses(401, 404, 413, 422, 429, 503, 504),
    },
)
async def answer(body: AnswerRequest, caller: CallerDep, services: ServicesDep) -> Response:
    answerer = services.answerer(body.limit)
    principal = caller.principal
    if not body.stream:
        result = await run_in_threadpool(
            answerer.answer,
            body.question,
            principal,
            filters=body.filters,
            conversation_id=body.conversation_id,
        )
        await run_in_threadpool(record, services, caller, result)
        return JSONResponse(result.to_dict())

    # Retrieval and packing run now, so their errors are plain JSON responses.
    stream = await run_in_threadpool(
        answerer.answer,
        body.question,
        principal,
        filters=body.filters,
        conversation_id=body.conversation_id,
        stream=True,
    )

    def render(event: dict[str, Any]) -> Iterator[bytes]:
        if event["type"] == "sources":
            yield sse("sources", {k: v for k, v in event.items() if k != "type"})
        elif event["type"] == "token":
            yield sse("token", {"text": event["text"]})
        elif event["type"] == "done":
            if stream.result is not None:
                record(services, caller, stream.result)
            yield sse("done", {k: v for k, v in event.items() if k != "type"})

    def on_error(exc: DeepwellError | None) -> bytes:
        return sse("error", error_data(exc))

    return EventSourceResponse(
        guarded(stream, render, on_error),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
