"""Answers with citations: retrieve for the caller, pack the context, generate, check the cites.

Retrieval goes through the searcher, which applies the caller's ACL and tenant
filter itself; this module never sees a chunk the caller may not read. When
nothing is found, nothing fits, or nothing is relevant enough (no passage's dense
similarity reaches ``llm.min_relevance``), the LLM is not called and the answer is
the fixed :data:`~retrieval.llm.prompts.NO_ANSWER` sentence.

Streaming yields events an API turns into server-sent events, the sources first,
as soon as retrieval ends and before the model reads them::

    {"type": "sources", "context": [Citation.to_dict(), ...], "generate": true, ...}
    {"type": "token", "text": "Net sales were"}
    ...
    {"type": "done", **AnswerResult.to_dict()}

Rewriting, retrieval and packing run when :meth:`Answerer.answer` is called, so
their errors surface before the first event; generation runs as events are read.
A model that fails or runs past ``llm.timeout_s`` before its first token raises
(the error says what took long); once tokens have been streamed, the answer ends
cleanly instead: ``done`` with what was said, ``truncated`` and a ``note``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, overload

from core import (
    BackendUnavailableError,
    ConfigError,
    LLMTimeoutError,
    Principal,
    Settings,
    get_logger,
)
from retrieval.arithmetic import StreamedCalculations
from retrieval.context import Citation, Order, PackedContext, pack_context
from retrieval.conversation import (
    ConversationStore,
    InMemoryConversationStore,
    QueryRewriter,
    Turn,
    rewriter_for,
)
from retrieval.figures import CheckedAnswer, FigureCheck, check_answer
from retrieval.llm.base import LLM
from retrieval.llm.prompts import (
    NO_ANSWER,
    StreamedExample,
    answer_messages,
    cited_numbers,
    drop_example,
    is_no_answer,
    loop_start,
    repeats_example,
)
from retrieval.rerank import rescore_for_answer
from retrieval.types import RetrievedChunk
from retrieval.windows import focus

log = get_logger(__name__)

AnswerEvent = dict[str, Any]
#: Why generation ended: the model stopped, reached ``llm.max_tokens``, ran out of time
#: (``llm.timeout_s``) or failed after its first token; ``none``: the model was not called.
FinishReason = Literal["stop", "length", "timeout", "error", "none"]


class SearchResultLike(Protocol):
    @property
    def chunks(self) -> Sequence[RetrievedChunk]: ...

    @property
    def timings(self) -> Mapping[str, float]: ...


class SearcherLike(Protocol):
    """What answering needs of :class:`retrieval.search.Searcher`."""

    def search(
        self, query: str, principal: Principal, *, filters: Any = None, limit: int | None = None
    ) -> SearchResultLike: ...


@dataclass
class AnswerResult:
    """An answer, the citations it uses, the context it was given, and what it cost.

    ``citations`` are the context citations the answer actually cites (valid
    ``[n]`` markers, in order of first use); ``context`` is every packed one.
    ``timings`` are milliseconds; ``tokens_per_s`` is the decode rate after the
    first token. ``figures`` checks each figure of the answer against the context
    (:mod:`retrieval.figures`); ``unsupported_numbers``, the figures found nowhere in
    it, is derived from them. ``truncated`` answers were cut off (see
    ``finish_reason``); ``note`` says so, or why the model was not called, in words.
    ``relevance`` is the best dense similarity of the retrieved passages (None: unknown).
    """

    answer_id: str
    question: str
    query: str
    answer: str
    citations: list[Citation]
    context: list[Citation]
    no_answer: bool
    unsupported_numbers: list[str] = field(default_factory=list)
    figures: list[FigureCheck] = field(default_factory=list)
    conversation_id: str | None = None
    timings: dict[str, float | None] = field(default_factory=dict)
    search_timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    context_tokens: int = 0
    tokens_per_s: float | None = None
    model: dict[str, Any] = field(default_factory=dict)
    finish_reason: FinishReason = "stop"
    note: str | None = None
    relevance: float | None = None
    #: The packed context exactly as the model read it (kept for feedback and fine-tuning
    #: exports; not part of :meth:`to_dict`, which API responses are built from).
    context_text: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer_id": self.answer_id,
            "question": self.question,
            "query": self.query,
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "context": [c.to_dict() for c in self.context],
            "no_answer": self.no_answer,
            "unsupported_numbers": list(self.unsupported_numbers),
            "figures": [f.to_dict() for f in self.figures],
            "conversation_id": self.conversation_id,
            "timings": dict(self.timings),
            "search_timings": dict(self.search_timings),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "context_tokens": self.context_tokens,
            "tokens_per_s": self.tokens_per_s,
            "model": dict(self.model),
            "finish_reason": self.finish_reason,
            "truncated": self.truncated,
            "note": self.note,
            "relevance": self.relevance,
        }

    @property
    def truncated(self) -> bool:
        """The answer was cut off before the model finished it."""
        return self.finish_reason in ("length", "timeout", "error")


class AnswerStream(Iterator[AnswerEvent]):
    """The events of a streamed answer; :attr:`result` is set once ``done`` was yielded.

    Closing it early stops the generation.
    """

    def __init__(self, events: Iterator[AnswerEvent], holder: list[AnswerResult]) -> None:
        self._events = events
        self._holder = holder

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> AnswerEvent:
        return next(self._events)

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    @property
    def result(self) -> AnswerResult | None:
        return self._holder[0] if self._holder else None


@dataclass
class _Prepared:
    """Everything decided before generation starts."""

    answer_id: str
    question: str
    query: str
    principal: Principal
    conversation_id: str | None
    packed: PackedContext
    search_timings: dict[str, float]
    timings: dict[str, float | None]
    started: float
    relevance: float | None = None
    #: Why the model will not be called although passages were found (None: it will be).
    skip_note: str | None = None


@dataclass
class _Generation:
    """What the model said while it streamed, and how it ended."""

    note: str | None  # said after the answer (why it was cut off, say)
    parts: list[str] = field(default_factory=list)
    first: float | None = None  # when the first token came (perf_counter)
    finish: FinishReason = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def unsupported_numbers(answer: str, context: str) -> list[str]:
    """Figures of ``answer`` that appear nowhere in ``context`` (in no units either).

    Kept for callers of the earlier string check; :func:`retrieval.figures.check_answer`
    says more of each figure (its source, row, period, and calculations).
    """
    return check_answer(answer, context).unsupported


def relevance(chunks: Sequence[RetrievedChunk]) -> float | None:
    """The best dense similarity of ``chunks`` to their query; None where search gave none."""
    known = [c.dense_score for c in chunks if c.dense_score is not None]
    return max(known) if known else None


def used_citations(text: str, context: Sequence[Citation]) -> list[Citation]:
    """The citations of ``context`` that ``text`` cites, in order of first use.

    Markers outside 1..len(context) (a model inventing ``[9]``) are dropped.
    """
    return [context[n - 1] for n in cited_numbers(text) if 1 <= n <= len(context)]


class Answerer:
    """Answers questions for a principal from what the searcher lets them see.

    Args:
        searcher: finds passages; it applies the principal's ACL and tenant itself.
        llm: writes the answer; its tokenizer measures the context budget.
        settings: ``llm.max_tokens`` bounds every reply.
        conversations: history per conversation id (default: in process memory).
        rewriter: makes follow-ups standalone (default: the LLM; a heuristic for
            the extractive backend).
        retrieve_limit: passages to retrieve (None: ``llm.context_candidates``).
        order: context order: ``rank``, or ``document`` (grouped, in reading order).

    ``settings.llm.min_relevance`` is the relevance floor: retrieved passages none of
    which is that similar to the question are not given to the model. The context is
    chosen from the retrieved passages (:meth:`select_context`): re-scored when
    ``llm.context_rescore`` is on, then packed into at most ``llm.context_tokens``.
    """

    def __init__(
        self,
        searcher: SearcherLike,
        llm: LLM,
        settings: Settings,
        *,
        conversations: ConversationStore | None = None,
        rewriter: QueryRewriter | None = None,
        retrieve_limit: int | None = None,
        order: Order = "rank",
    ) -> None:
        self.searcher = searcher
        self.llm = llm
        self.settings = settings
        self.conversations = (
            conversations if conversations is not None else InMemoryConversationStore()
        )
        self.rewriter = rewriter or rewriter_for(llm)
        self.retrieve_limit = (
            retrieve_limit if retrieve_limit is not None else settings.llm.context_candidates
        )
        self.order: Order = order
        self.max_tokens = min(settings.llm.max_tokens, llm.max_tokens)
        self.min_relevance = settings.llm.min_relevance
        self.context_tokens = settings.llm.context_tokens
        self.rescore = settings.llm.context_rescore
        self.windows = settings.llm.context_windows

    def context_budget(self, question: str) -> int:
        """Tokens for passages: ``llm.context_tokens``, or less when the window minus the
        prompt around the context and the reply leaves less."""
        overhead = self.llm.count_messages(answer_messages(question, ""))
        budget = self.llm.context_window - overhead - self.max_tokens
        if budget <= 0:
            raise ConfigError(
                f"llm.context_window={self.llm.context_window} leaves no room for context "
                f"after the prompt ({overhead} tokens) and llm.max_tokens={self.max_tokens}"
            )
        return budget if self.context_tokens is None else min(budget, self.context_tokens)

    def select_context(
        self,
        question: str,
        chunks: Sequence[RetrievedChunk],
        *,
        query: str | None = None,
        neighbours: bool = False,
    ) -> PackedContext:
        """The context the model reads for ``question``: ``chunks`` (retrieved, best first)
        re-scored when ``llm.context_rescore`` is on
        (:func:`retrieval.rerank.rescore_for_answer`), then packed into :meth:`context_budget`.

        ``query``: what was searched for (a follow-up's standalone rewrite), which the
        re-scoring reads; default ``question``. ``neighbours``: the chunks carry neighbour
        expansion (each hit's passage in document order), which re-scoring would pull
        apart, so they are packed as they come.
        """
        if self.rescore and not neighbours:
            chunks = rescore_for_answer(query or question, chunks)
        if self.windows and not neighbours:
            chunks = focus(query or question, chunks)
        budget = self.context_budget(question)
        return pack_context(chunks, budget, self.llm.count_tokens, order=self.order)

    @overload
    def answer(
        self,
        question: str,
        principal: Principal,
        *,
        filters: Any = None,
        conversation_id: str | None = None,
        stream: Literal[False] = False,
    ) -> AnswerResult: ...

    @overload
    def answer(
        self,
        question: str,
        principal: Principal,
        *,
        filters: Any = None,
        conversation_id: str | None = None,
        stream: Literal[True],
    ) -> AnswerStream: ...

    def answer(
        self,
        question: str,
        principal: Principal,
        *,
        filters: Any = None,
        conversation_id: str | None = None,
        stream: bool = False,
    ) -> AnswerResult | AnswerStream:
        """Answer ``question`` for ``principal`` with citations.

        Args:
            filters: metadata filters handed to the searcher (ACL is added there).
            conversation_id: continue (or start) this conversation: the question
                is rewritten against its history and the turn is recorded.
            stream: return an :class:`AnswerStream`: a ``sources`` event, ``token``
                events and a final ``done``.

        Raises:
            NotFoundError: the conversation belongs to someone else.
            BackendUnavailableError: the LLM is unreachable, or too slow to start
                answering (once it has, a failure cuts the answer off instead).
        """
        prepared = self._prepare(question, principal, filters, conversation_id)
        holder: list[AnswerResult] = []
        events = self._events(prepared, holder)
        if stream:
            return AnswerStream(events, holder)
        for _ in events:
            pass
        return holder[0]

    def _prepare(
        self, question: str, principal: Principal, filters: Any, conversation_id: str | None
    ) -> _Prepared:
        started = time.perf_counter()
        timings: dict[str, float | None] = {}
        query = question
        if conversation_id is not None:
            history = self.conversations.history(conversation_id, principal)
            t = time.perf_counter()
            query = self.rewriter.rewrite(question, history) if history else question
            timings["rewrite_ms"] = _ms(time.perf_counter() - t)
        t = time.perf_counter()
        result = self.searcher.search(query, principal, filters=filters, limit=self.retrieve_limit)
        timings["retrieve_ms"] = _ms(time.perf_counter() - t)
        best = relevance(result.chunks)
        floor = self.min_relevance
        skip_note = None
        if floor is not None and best is not None and best < floor:
            skip_note = (
                f"No passage is close enough to the question (best similarity {best:.2f}, "
                f"below llm.min_relevance={floor:g}), so the model was not asked."
            )
        t = time.perf_counter()
        chunks = [] if skip_note else result.chunks
        expanded = bool(getattr(result, "neighbour_ids", None))
        packed = self.select_context(question, chunks, query=query, neighbours=expanded)
        timings["pack_ms"] = _ms(time.perf_counter() - t)
        return _Prepared(
            answer_id=str(uuid.uuid4()),
            question=question,
            query=query,
            principal=principal,
            conversation_id=conversation_id,
            packed=packed,
            search_timings={k: float(v) for k, v in result.timings.items()},
            timings=timings,
            started=started,
            relevance=best,
            skip_note=skip_note,
        )

    def _sources(self, p: _Prepared) -> AnswerEvent:
        """The first event: what the model is about to read, before it reads it."""
        return {
            "type": "sources",
            "answer_id": p.answer_id,
            "question": p.question,
            "query": p.query,
            "context": [c.to_dict() for c in p.packed.citations],
            "context_tokens": p.packed.tokens,
            "generate": not p.packed.empty,
            "relevance": p.relevance,
            "note": p.skip_note,
            "timings": dict(p.timings),
        }

    def _events(self, p: _Prepared, holder: list[AnswerResult]) -> Iterator[AnswerEvent]:
        yield self._sources(p)
        gen = _Generation(note=p.skip_note)
        t0 = time.perf_counter()
        if p.packed.empty:
            # Nothing (relevant) to read: say so without spending a generation.
            gen.finish = "none"
            gen.parts.append(NO_ANSWER)
            yield {"type": "token", "text": NO_ANSWER}
        else:
            yield from self._generate(p, gen)
        end = time.perf_counter()
        # Calculations done, each figure checked against what the model read.
        said = "".join(gen.parts).strip()
        if repeats_example(said):  # nothing found: the model echoed the prompt's example
            said = NO_ANSWER
            gen.note = "The model wrote only the prompt's example sentence, not an answer."
            yield {"type": "token", "text": NO_ANSWER}  # the copy itself was never shown
        checked = check_answer(drop_example(said).strip(), p.packed.text, question=p.question)
        result = self._result(p, gen, checked, t0, end)
        self._record(p, result)
        log.info(
            "answer.done",
            answer_id=result.answer_id,
            chunks=len(p.packed.citations),
            cited=len(result.citations),
            no_answer=result.no_answer,
            finish_reason=gen.finish,
            **{k: v for k, v in result.timings.items() if v is not None},
        )
        holder.append(result)
        yield {"type": "done", **result.to_dict()}

    def _generate(self, p: _Prepared, gen: _Generation) -> Iterator[AnswerEvent]:
        """Stream the model's answer as token events (calculations computed, a copy of the
        prompt's example held back), recording in ``gen`` what it said and how it ended."""
        tokens = self.llm.stream(
            answer_messages(p.question, p.packed.text), max_tokens=self.max_tokens
        )
        calculations = StreamedCalculations()  # <<expressions>> go out computed
        example = StreamedExample()  # a copy of the prompt's example never shows
        said = ""
        try:
            for delta in tokens:
                if gen.first is None:
                    gen.first = time.perf_counter()
                said += delta
                if (cut := loop_start(said)) is not None:
                    # The model repeats itself and would until llm.max_tokens: stop it, and
                    # keep the answer up to the first copy (the page shows the final text).
                    gen.parts = [said[:cut]]
                    gen.note = "The model began repeating itself; the repeats were cut."
                    log.warning("answer.loop_cut", answer_id=p.answer_id, chars=len(said) - cut)
                    break
                gen.parts.append(delta)
                if shown := calculations.feed(example.feed(delta)):
                    yield {"type": "token", "text": shown}
        except BackendUnavailableError as exc:
            if gen.first is None:
                raise  # nothing was said: the error, saying what took long, is the answer
            # Keep what was said and end cleanly: an error now would take it back.
            gen.finish = "timeout" if isinstance(exc, LLMTimeoutError) else "error"
            gen.note = f"The answer was cut off: {exc}. What was written before is kept."
            log.warning("answer.cut_off", answer_id=p.answer_id, reason=gen.finish)
        finally:
            tokens.close()
        if rest := calculations.feed(example.flush(), final=True):
            yield {"type": "token", "text": rest}
        gen.prompt_tokens = tokens.usage.prompt_tokens
        gen.completion_tokens = tokens.usage.completion_tokens or self.llm.count_tokens(
            "".join(gen.parts)
        )
        if gen.finish == "stop" and tokens.usage.finish_reason == "length":
            gen.finish = "length"
            gen.note = f"The answer reached llm.max_tokens={self.max_tokens} and was cut off."

    def _result(
        self, p: _Prepared, gen: _Generation, checked: CheckedAnswer, t0: float, end: float
    ) -> AnswerResult:
        """The answer's result: its checked text, the citations it uses, timings, tokens."""
        text = checked.text
        decode_s = end - gen.first if gen.first is not None else 0.0
        completion_tokens = gen.completion_tokens
        return AnswerResult(
            answer_id=p.answer_id,
            question=p.question,
            query=p.query,
            answer=text,
            citations=used_citations(text, p.packed.citations),
            context=p.packed.citations,
            no_answer=is_no_answer(text),
            unsupported_numbers=checked.unsupported,
            figures=checked.figures,
            conversation_id=p.conversation_id,
            timings=p.timings
            | {
                "generate_ms": _ms(end - t0),
                "ttft_ms": _ms(gen.first - t0) if gen.first is not None else None,
                "total_ms": _ms(end - p.started),
            },
            search_timings=p.search_timings,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=completion_tokens,
            context_tokens=p.packed.tokens,
            tokens_per_s=(
                round((completion_tokens - 1) / decode_s, 2)
                if completion_tokens > 1 and decode_s > 0
                else None
            ),
            model=self.llm.describe(),
            finish_reason=gen.finish,
            note=gen.note,
            relevance=p.relevance,
            context_text=p.packed.text,
        )

    def _record(self, p: _Prepared, result: AnswerResult) -> None:
        if p.conversation_id is None:
            return
        self.conversations.append(
            p.conversation_id,
            p.principal,
            [
                Turn("user", p.question, query=p.query, answer_id=p.answer_id),
                Turn("assistant", result.answer, answer_id=p.answer_id),
            ],
        )
