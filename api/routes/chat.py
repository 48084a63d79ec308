"""OpenAI-compatible chat: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Point any OpenAI client at ``http://host:8000/v1`` with a deepwell API key as its
API key, and model ``deepwell``. The last user message is the question; earlier
user and assistant messages are the conversation it continues (follow-ups are
rewritten into standalone queries, as in ``/v1/answer``). System messages are
ignored: deepwell's answer prompt is fixed, so a caller cannot talk the model out
of its sources.

Extension fields (the OpenAI SDKs keep unknown fields; in Python read
``completion.model_extra["citations"]``):

- ``citations``: the passages the answer cites, as in ``/v1/answer``, on the
  completion and on the last chunk of a stream;
- ``answer_id``: rate the answer with ``POST /v1/feedback``;
- ``deepwell``: on a stream's first chunk (role ``assistant``, empty content, sent as
  soon as retrieval ends, before the model has read anything) ``{"sources": [...],
  "answer_id", "generate", "relevance", "note"}``: every passage the model is about to
  read, as in ``/v1/answer``'s ``sources`` event; on the completion and a stream's last
  chunk ``{"truncated", "finish_reason", "note"}``;
- request fields ``filters`` and ``limit``: narrow the search, as in ``/v1/answer``.

An answer cut off by ``llm.max_tokens``, by ``llm.timeout_s`` or by a model failure
after its first token ends normally with ``finish_reason: "length"`` and what was
written; a stream only carries an error (``data: {"error": ...}``) when the model
failed before its first token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import CallerDep, ServicesDep
from api.errors import error_responses
from api.routes.answer import CitationOut, FigureOut, error_data, guarded, record
from core import DeepwellError, InvalidInputError, NotFoundError
from retrieval import (
    MAX_QUERY_CHARS,
    Answerer,
    AnswerResult,
    InMemoryConversationStore,
    SearchFilters,
    Turn,
)

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL_ID = "deepwell"
_CONVERSATION = "chat"
MAX_MESSAGES = 200
MAX_MESSAGE_CHARS = 32_000


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "deepwell"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(None, max_length=MAX_MESSAGE_CHARS)

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.content is None:
            return ""
        return "".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None


class ChatRequest(BaseModel):
    """The OpenAI chat request; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description=f"`{MODEL_ID}` (see `GET /v1/models`).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    filters: SearchFilters | None = Field(None, description="deepwell extension: see /v1/search.")
    limit: int | None = Field(
        None, ge=1, le=100, description="deepwell extension: passages to retrieve."
    )


class ReplyMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ReplyMessage
    finish_reason: Literal["stop", "length"] = Field(
        "stop", description="`length`: cut off by the token or time limit (see `deepwell`)."
    )


class DeepwellEnd(BaseModel):
    """deepwell extension: how the answer ended."""

    truncated: bool
    finish_reason: str = Field(
        description="As in `/v1/answer`: stop, length, timeout, error, none."
    )
    note: str | None
    figures: list[FigureOut] = Field(
        default_factory=list,
        description="As in `/v1/answer`: each figure of the answer checked against the passages.",
    )


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut] = Field(description="deepwell extension: the cited passages.")
    answer_id: str = Field(description="deepwell extension: rate it with POST /v1/feedback.")
    deepwell: DeepwellEnd


@router.get(
    "/models",
    response_model=ModelList,
    summary="The one model deepwell serves",
    responses=error_responses(401, 429),
)
def models(caller: CallerDep) -> ModelList:
    return ModelList(data=[ModelCard(id=MODEL_ID, created=0)])


def _split(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The question (the last message, a user's) and the user/assistant turns before it."""
    last = messages[-1]
    if last.role != "user":
        raise InvalidInputError("messages: the last message must be the user's question")
    question = last.text().strip()
    if not question:
        raise InvalidInputError("messages: the last user message has no text")
    if len(question) > MAX_QUERY_CHARS:
        raise InvalidInputError(
            f"messages: the question is {len(question)} characters; the limit is {MAX_QUERY_CHARS}"
        )
    history = [
        Turn("user" if m.role == "user" else "assistant", m.text())
        for m in messages[:-1]
        if m.role in ("user", "assistant") and m.text().strip()
    ]
    return question, history


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _finish(result: AnswerResult) -> str:
    """OpenAI's finish reason for ``result``: a cut-off answer ended by ``length``."""
    return "length" if result.truncated else "stop"


def _end(result: AnswerResult) -> dict[str, Any]:
    return {
        "truncated": result.truncated,
        "finish_reason": result.finish_reason,
        "note": result.note,
        "figures": [f.to_dict() for f in result.figures],
    }


def _data(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, default=str)}\n\n".encode()


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="OpenAI-compatible chat completion with cited sources",
    description=__doc__,
    responses={
        200: {
            "description": "A chat completion, or `chat.completion.chunk` events ending in "
            "`data: [DONE]` when `stream` is true.",
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {
                                "type": "string",
                                "description": "A `chat.completion.chunk` as JSON (the "
                                "first, with an empty delta, carries `deepwell.sources`: the "
                                "passages the model is about to read), an error shape (only "
                                "before the first token), or `[DONE]`.",
                            }
                        },
                    }
                }
            },
        },
        **error_responses(401, 404, 413, 422, 429, 503, 504),
    },
)
async def chat_completions(body: ChatRequest, caller: CallerDep, services: ServicesDep) -> Response:
    if body.model != MODEL_ID:
        raise NotFoundError(
            f"model {body.model!r} does not exist; GET /v1/models lists {MODEL_ID!r}"
        )
    question, history = _split(body.messages)
    principal = caller.principal
    store = InMemoryConversationStore()
    if history:
        store.append(_CONVERSATION, principal, history)
    answerer = Answerer(
        services.searcher,
        services.llm,
        services.settings,
        conversations=store,
        retrieve_limit=body.limit,
    )
    created = int(time.time())
    conversation_id = _CONVERSATION if history else None
    if not body.stream:
        result = await run_in_threadpool(
            answerer.answer,
            question,
            principal,
            filters=body.filters,
            conversation_id=conversation_id,
        )
        await run_in_threadpool(record, services, caller, result)
        completion = {
            "id": f"chatcmpl-{result.answer_id}",
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.answer},
                    "finish_reason": _finish(result),
                }
            ],
            "usage": _usage(result.prompt_tokens, result.completion_tokens),
            "citations": [c.to_dict() for c in result.citations],
            "answer_id": result.answer_id,
            "deepwell": _end(result),
        }
        return JSONResponse(completion)

    stream = await run_in_threadpool(
        answerer.answer,
        question,
        principal,
        filters=body.filters,
        conversation_id=conversation_id,
        stream=True,
    )
    cid = f"chatcmpl-{int(time.time() * 1000)}"

    def render(event: dict[str, Any]) -> Iterator[bytes]:
        if event["type"] == "sources":
            # The first chunk: the role, no text yet, and what the model is about to read.
            head = _chunk(cid, created, {"role": "assistant", "content": ""}, None)
            head["deepwell"] = {
                "sources": event["context"],
                "answer_id": event["answer_id"],
                "generate": event["generate"],
                "relevance": event["relevance"],
                "note": event["note"],
            }
            yield _data(head)
            return
        if event["type"] == "token":
            yield _data(_chunk(cid, created, {"content": event["text"]}, None))
            return
        result = stream.result
        if result is None:
            return
        record(services, caller, result)
        last = _chunk(cid, created, {}, _finish(result))
        last["usage"] = _usage(result.prompt_tokens, result.completion_tokens)
        last["citations"] = [c.to_dict() for c in result.citations]
        last["answer_id"] = result.answer_id
        last["deepwell"] = _end(result)
        yield _data(last)
        yield b"data: [DONE]\n\n"

    def on_error(exc: DeepwellError | None) -> bytes:
        return _data(error_data(exc))

    return EventSourceResponse(
        guarded(stream, render, on_error),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
