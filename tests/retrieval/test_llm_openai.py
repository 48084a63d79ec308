"""The ``openai`` backend against a small OpenAI-compatible server on 127.0.0.1.

The server below speaks ``POST /v1/chat/completions`` (JSON and SSE streaming,
with the final usage chunk OpenAI sends for ``stream_options.include_usage``).
The model name picks its behaviour: ``slow`` answers late, ``no-usage`` sends
no usage, ``missing`` is a 404, ``broken`` a 500.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from core import BackendUnavailableError, ConfigError, Settings
from retrieval.llm import Message, get_llm
from retrieval.llm.openai_compat import OpenAICompatLLM
from testkit import AppThread, free_port

REPLY = ["Net", " sales", " were", " $82,959", " million", " [1]."]
CHAT = [Message("system", "Be brief."), Message("user", "What were net sales?")]


def fake_openai_app(requests: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        body["authorization"] = request.headers.get("authorization")
        requests.append(body)
        model = body["model"]
        if model == "missing":
            return JSONResponse({"error": {"message": "no such model"}}, status_code=404)
        if model == "broken":
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        if model == "slow":
            await asyncio.sleep(1.5)
        usage = {"prompt_tokens": 21, "completion_tokens": len(REPLY), "total_tokens": 27}
        base = {"id": "c1", "created": 0, "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(REPLY)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return JSONResponse(
                base | {"object": "chat.completion", "choices": [choice], "usage": usage}
            )

        async def events() -> AsyncIterator[str]:
            for i, piece in enumerate(REPLY):
                last = i == len(REPLY) - 1
                choice = {
                    "index": 0,
                    "delta": {"role": "assistant", "content": piece}
                    if i == 0
                    else {"content": piece},
                    "finish_reason": "stop" if last else None,
                }
                chunk = base | {"object": "chat.completion.chunk", "choices": [choice]}
                yield f"data: {json.dumps(chunk)}\n\n"
            wants_usage = (body.get("stream_options") or {}).get("include_usage")
            if wants_usage and model != "no-usage":
                chunk = base | {"object": "chat.completion.chunk", "choices": [], "usage": usage}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The fake endpoint's base URL, and the request bodies it received."""
    requests: list[dict[str, Any]] = []
    running = AppThread(fake_openai_app(requests), timeout_graceful_shutdown=1)
    running.start(timeout=10)
    yield f"{running.url}/v1", requests
    running.stop(timeout=5)


def make_llm(base_url: str, model: str = "tiny", timeout_s: float = 5.0) -> OpenAICompatLLM:
    settings = Settings(
        llm={
            "backend": "openai",
            "base_url": base_url,
            "model": model,
            "api_key": "sk-test",
            "max_tokens": 64,
            "timeout_s": timeout_s,
        }
    )
    llm = get_llm(settings)
    assert isinstance(llm, OpenAICompatLLM)
    return llm


def test_complete_returns_text_and_the_servers_usage(server: tuple[str, list[Any]]) -> None:
    url, requests = server
    reply = make_llm(url).complete(CHAT, max_tokens=16)
    assert reply.text == "".join(REPLY)
    assert (reply.prompt_tokens, reply.completion_tokens) == (21, len(REPLY))
    assert reply.finish_reason == "stop"
    sent = requests[-1]
    assert sent["model"] == "tiny"
    assert sent["max_tokens"] == 16
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What were net sales?"},
    ]
    assert sent["authorization"] == "Bearer sk-test"
    assert "stream_options" not in sent


def test_stream_yields_the_servers_deltas_then_usage(server: tuple[str, list[Any]]) -> None:
    url, requests = server
    stream = make_llm(url).stream(CHAT)
    assert list(stream) == REPLY
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (21, len(REPLY))
    assert stream.usage.finish_reason == "stop"
    assert requests[-1]["stream"] is True
    assert requests[-1]["stream_options"] == {"include_usage": True}
    assert requests[-1]["max_tokens"] == 64


def test_stream_without_usage_falls_back_to_estimates(server: tuple[str, list[Any]]) -> None:
    url, _ = server
    llm = make_llm(url, model="no-usage")
    stream = llm.stream(CHAT)
    text = "".join(stream)
    assert stream.usage.completion_tokens == llm.count_tokens(text) > 0
    assert stream.usage.prompt_tokens == llm.count_messages(CHAT)


@pytest.mark.parametrize("streaming", [False, True])
def test_a_slow_endpoint_times_out_as_a_domain_error(
    server: tuple[str, list[Any]], streaming: bool
) -> None:
    url, _ = server
    llm = make_llm(url, model="slow", timeout_s=0.5)
    call = (lambda: list(llm.stream(CHAT))) if streaming else (lambda: llm.complete(CHAT))
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="timeout_s"):
        call()
    assert time.monotonic() - started < 1.4  # no retries, no waiting out the server


@pytest.mark.parametrize(
    ("model", "error"), [("missing", ConfigError), ("broken", BackendUnavailableError)]
)
def test_http_errors_map_to_domain_errors(
    server: tuple[str, list[Any]], model: str, error: type[Exception]
) -> None:
    url, _ = server
    with pytest.raises(error):
        make_llm(url, model=model).complete(CHAT)
    with pytest.raises(error):
        list(make_llm(url, model=model).stream(CHAT))


def test_an_unreachable_endpoint_is_unavailable() -> None:
    llm = make_llm(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2)
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        llm.complete(CHAT)


def test_describe_names_the_endpoint_and_never_the_key(server: tuple[str, list[Any]]) -> None:
    url, _ = server
    info = make_llm(url).describe()
    assert info == {
        "backend": "openai",
        "model": "tiny",
        "base_url": url,
        "context_window": 4096,
    }
    assert "sk-test" not in json.dumps(info)
