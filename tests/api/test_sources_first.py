"""The answer path over real HTTP: sources before the first token on every streaming route,
no model call when nothing relevant is found, and cut-off answers kept, never errors.

The app runs under uvicorn in this process (the test client buffers whole responses, so it
could not tell "sent first" from "sent at the end"); its LLM is replaced by a stand-in that
does not write a word until the client says it has the sources, or 30 s have passed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from api.app import create_app
from core import LLMTimeoutError
from retrieval import NO_ANSWER, ExtractiveLLM, Message, TokenStream, Usage
from testkit import AppThread
from tests.api.apikit import Client, settings_for

QUESTION = "How much does hot storage cost?"
OFF_TOPIC = "How long should I knead bread dough by hand?"
DOC = (
    "# Storage service\n\nThe storage service keeps customer files in three regions: "
    "Dublin, Oslo and Tokyo.\n\n## Pricing\n\nHot storage costs 2 cents per gigabyte and month; "
    "cold storage costs 4 tenths of a cent.\n"
)
GATE_S = 30.0


class GatedLLM(ExtractiveLLM):
    """The extractive answer, written only once :attr:`gate` opens; counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.calls = 0
        self.opened: list[bool] = []  # per call: whether the gate opened before time ran out
        self.fail_after: int | None = None  # raise a timeout after this many words

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        self.calls += 1
        inner = super().stream(messages, max_tokens=max_tokens)
        usage = Usage(prompt_tokens=inner.usage.prompt_tokens, finish_reason="stop")
        usage.completion_tokens = inner.usage.completion_tokens

        def deltas() -> Iterator[str]:
            self.opened.append(self.gate.wait(timeout=GATE_S))
            for n, word in enumerate(inner):
                if self.fail_after is not None and n == self.fail_after:
                    raise LLMTimeoutError("local model did not finish within llm.timeout_s=9s")
                yield word

        return TokenStream(deltas(), usage)


class Live:
    """The app under uvicorn in a thread, with the gated LLM and a writer's key."""

    def __init__(self, root: Path) -> None:
        self.app = create_app(settings_for(root / "data"))
        self.running = AppThread(self.app)
        self.url = self.running.url

    def __enter__(self) -> Live:
        self.running.start()
        services = self.app.state.services
        self.llm = GatedLLM()
        services.llm = self.llm
        _, key = services.keys.create(user="w", role="writer")
        self.client = Client(httpx.Client(base_url=self.url, timeout=120), key)
        self.client.upload("storage.md", DOC)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.http.close()
        self.running.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with Live(tmp_path_factory.mktemp("sources-first")) as running:
        yield running


@pytest.fixture
def llm(live: Live) -> Iterator[GatedLLM]:
    live.llm.gate.clear()
    live.llm.opened.clear()
    live.llm.calls = 0
    live.llm.fail_after = None
    yield live.llm
    live.llm.gate.set()  # never leave a stream waiting


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """``(event, data)`` of a server-sent event stream, as each event arrives."""
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            text = "\n".join(data)
            yield event, text if text == "[DONE]" else json.loads(text)
            event, data = "message", []


def answer_events(live: Live, llm: GatedLLM, question: str) -> list[tuple[str, Any]]:
    """The events of a streamed ``/v1/answer``; the gate opens once ``sources`` arrived."""
    body = {"question": question, "stream": True}
    events = []
    with live.client.http.stream("POST", "/v1/answer", json=body, headers=live.client.headers) as r:
        assert r.status_code == 200
        for event, data in sse_events(r):
            events.append((event, data))
            if event == "sources":
                llm.gate.set()
    return events


def test_answer_stream_sends_the_sources_before_the_model_writes(live: Live, llm: GatedLLM) -> None:
    events = answer_events(live, llm, QUESTION)
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources"
    assert kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    assert llm.opened == [True]  # the client had the sources while the model waited
    sources, done = events[0][1], events[-1][1]
    assert sources["generate"] is True
    assert sources["context"]
    assert "Hot storage costs 2 cents" in sources["context"][0]["snippet"]
    assert sources["answer_id"] == done["answer_id"]
    assert [c["chunk_id"] for c in sources["context"]] == [c["chunk_id"] for c in done["context"]]
    assert sources["relevance"] == done["relevance"]
    assert {"retrieve_ms", "pack_ms"} <= set(sources["timings"])
    assert done["truncated"] is False
    assert done["finish_reason"] == "stop"


def test_chat_stream_sends_the_sources_in_its_first_chunk(live: Live, llm: GatedLLM) -> None:
    client = OpenAI(base_url=f"{live.url}/v1", api_key=live.client.key, max_retries=0)
    chunks = []
    for chunk in client.chat.completions.create(
        model="deepwell", messages=[{"role": "user", "content": QUESTION}], stream=True
    ):
        chunks.append(chunk)
        if len(chunks) == 1:
            llm.gate.set()
    assert llm.opened == [True]
    first, last = chunks[0], chunks[-1]
    assert first.choices[0].delta.role == "assistant"
    assert not first.choices[0].delta.content
    sources = (first.model_extra or {})["deepwell"]["sources"]
    assert "Hot storage costs 2 cents" in sources[0]["snippet"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "2 cents" in text
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["deepwell"]["truncated"] is False


def test_nothing_relevant_means_no_answer_without_a_model_call(live: Live, llm: GatedLLM) -> None:
    llm.gate.set()
    r = live.client.post("/v1/answer", json={"question": OFF_TOPIC})
    assert r.status_code == 200
    result = r.json()
    assert result["answer"] == NO_ANSWER
    assert result["no_answer"] is True
    assert result["finish_reason"] == "none"
    assert result["context"] == []
    assert result["relevance"] is not None
    assert result["relevance"] < 0.3
    assert "llm.min_relevance" in result["note"]
    events = answer_events(live, llm, OFF_TOPIC)
    assert [k for k, _ in events] == ["sources", "token", "done"]
    assert events[0][1]["generate"] is False
    assert events[0][1]["context"] == []
    assert llm.calls == 0
    # The same path with a question the document answers does ask the model.
    live.client.post("/v1/answer", json={"question": QUESTION})
    assert llm.calls == 1


def test_an_answer_cut_off_by_the_time_limit_keeps_what_was_said(live: Live, llm: GatedLLM) -> None:
    llm.gate.set()
    llm.fail_after = 3
    events = answer_events(live, llm, QUESTION)
    kinds = [k for k, _ in events]
    assert "error" not in kinds
    assert kinds == ["sources", "token", "token", "token", "done"]
    done = events[-1][1]
    said = "".join(d["text"] for k, d in events if k == "token")
    assert done["answer"] == said.strip()
    assert done["truncated"] is True
    assert done["finish_reason"] == "timeout"
    assert "llm.timeout_s=9s" in done["note"]

    r = live.client.post(
        "/v1/chat/completions",
        json={"model": "deepwell", "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert r.status_code == 200
    completion = r.json()
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["deepwell"]["truncated"] is True
    assert completion["choices"][0]["message"]["content"] == said.strip()
