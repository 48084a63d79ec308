"""Helpers of the answer-side retrieval tests (context, LLM backends, answers, conversations).

Import the ``small_llm`` fixture into a test module to use it (a conftest here
would be shared with the search tests, which have their own).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from core import Chunk, Principal, Settings, get_spec, prepare
from retrieval.llm import LLM, Message, TokenStream, Usage, estimate_tokens
from retrieval.llm.local import LocalLLM
from retrieval.types import RetrievedChunk

SMALL_LLM = "smollm2-135m-instruct"


def make_chunk(
    n: int,
    text: str,
    *,
    score: float = 1.0,
    doc: str = "d1",
    table: bool = False,
    title: str = "Quarterly report",
    page: int | None = 3,
    section: tuple[str, ...] = ("Item 2", "Results"),
) -> RetrievedChunk:
    """A retrieved chunk with citation metadata; ``table`` marks it as a table element."""
    record = Chunk(
        doc_id=doc,
        chunk_index=n,
        text=text,
        title=title,
        source_uri=f"file:///docs/{doc}.pdf",
        section=list(section),
        page_start=page,
        page_end=page,
        element_types=["Table"] if table else ["NarrativeText"],
    )
    return RetrievedChunk(id=f"c{n}", score=score, record=record)


@pytest.fixture(scope="session")
def small_llm() -> Iterator[LocalLLM]:
    """SmolLM2-135M through llama.cpp, loaded once for the session (short replies)."""
    settings = Settings()
    model = prepare(get_spec(SMALL_LLM), settings.models.cache_dir)
    llm = LocalLLM(
        model, context_window=2048, max_tokens=24, temperature=0.0, timeout_s=60.0, threads=2
    )
    yield llm
    llm.close()


@dataclass
class FakeResult:
    chunks: list[RetrievedChunk]
    timings: dict[str, float] = field(default_factory=lambda: {"total_ms": 1.0})


class FakeSearcher:
    """Returns fixed chunks (best first); records what it was asked."""

    def __init__(self, chunks: Sequence[RetrievedChunk] = ()) -> None:
        self.chunks = list(chunks)
        self.calls: list[tuple[str, Principal, Any, int | None]] = []

    def search(
        self, query: str, principal: Principal, *, filters: Any = None, limit: int | None = None
    ) -> FakeResult:
        self.calls.append((query, principal, filters, limit))
        return FakeResult(self.chunks[: limit or len(self.chunks)])


class ScriptedLLM(LLM):
    """Replies with the next scripted text, word by word; records every prompt."""

    backend = "scripted"

    def __init__(self, replies: Sequence[str], *, context_window: int = 4096) -> None:
        super().__init__(
            context_window=context_window, max_tokens=128, temperature=0.0, timeout_s=5.0
        )
        self.replies = list(replies)
        self.prompts: list[list[Message]] = []

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        self.prompts.append(list(messages))
        reply = self.replies.pop(0)
        usage = Usage(prompt_tokens=self.count_messages(messages), finish_reason="stop")
        usage.completion_tokens = len(reply.split())

        def words() -> Iterator[str]:
            for i, word in enumerate(reply.split(" ")):
                yield word if i == 0 else " " + word

        return TokenStream(words(), usage)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend}
