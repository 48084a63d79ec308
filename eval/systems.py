"""Systems under test: configurations of the same parts, not separate code paths.

=================  ==========  =========  ==========================================
system             retrieves   answers    with
=================  ==========  =========  ==========================================
``closed-book``    no          yes        the base model (``eval.model``), no context
``rag``            yes         yes        :class:`retrieval.answer.Answerer`, base model
``finetuned``      no          yes        the base model + the LoRA adapter
``finetuned+rag``  yes         yes        the Answerer with the fine-tuned model
``dense``          yes         no         :class:`retrieval.search.Searcher`, dense only
``lexical``        yes         no         lexical (BM25) only
``hybrid``         yes         no         hybrid (``search.fusion``)
=================  ==========  =========  ==========================================

Every retrieving system searches as the evaluation principal (``eval.user``,
``eval.groups``, ``eval.tenant``): the ACL filter applies on every path, as in
the API. The closed-book and fine-tuned systems read the same chat prompt
(:func:`eval.finetune.closed_book_messages`), so their difference is the adapter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core import ConfigError, Principal, Settings, configured_embedding, get_logger
from eval.datasets import EvalItem, file_name
from eval.finetune import CLOSED_BOOK_SYSTEM, FinetuneResult, finetune
from retrieval import (
    LLM,
    Embedder,
    Message,
    Searcher,
    SearchMode,
    SearchResult,
    VectorIndex,
    get_llm,
    is_no_answer,
    make_embedder,
    open_index,
    readable_chunks,
)

log = get_logger(__name__)


@dataclass(frozen=True)
class SystemSpec:
    name: str
    retrieves: bool
    answers: bool
    finetuned: bool = False
    mode: SearchMode | None = None
    description: str = ""


SYSTEMS: dict[str, SystemSpec] = {
    s.name: s
    for s in (
        SystemSpec("closed-book", False, True, description="base model, no retrieval"),
        SystemSpec("rag", True, True, description="retrieval + base model (Answerer)"),
        SystemSpec("finetuned", False, True, True, description="LoRA-finetuned, no retrieval"),
        SystemSpec("finetuned+rag", True, True, True, description="retrieval + LoRA model"),
        SystemSpec("dense", True, False, mode="dense", description="dense retrieval only"),
        SystemSpec("lexical", True, False, mode="lexical", description="BM25 retrieval only"),
        SystemSpec("hybrid", True, False, mode="hybrid", description="hybrid retrieval only"),
    )
}


def parse_systems(names: Sequence[str]) -> list[SystemSpec]:
    """The specs of ``names`` (comma-separated lists allowed); ConfigError for unknown ones."""
    wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in SYSTEMS]
    if unknown:
        raise ConfigError(f"unknown system(s) {unknown}; known: {', '.join(SYSTEMS)}")
    if not wanted:
        raise ConfigError("no system to evaluate")
    return [SYSTEMS[n] for n in dict.fromkeys(wanted)]


@dataclass
class SystemOutput:
    """What one system did with one question."""

    answer: str | None
    ranked_docs: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    no_answer: bool = False
    error: str | None = None


def eval_llm_settings(settings: Settings) -> Settings:
    """The settings the base model answers with: ``eval.model``, short greedy answers."""
    llm = settings.llm.model_dump()
    llm |= {"max_tokens": settings.eval.max_tokens, "temperature": 0.0}
    if settings.llm.backend == "local":
        llm |= {
            "model": settings.eval.model,
            "model_path": None,
            "context_window": settings.eval.context_window,
            "threads": settings.eval.threads or settings.llm.threads,
        }
    return settings.model_copy(update={"llm": type(settings.llm).model_validate(llm)})


class _Recording:
    """A searcher that keeps its last result; ``limit`` 0 retrieves nothing (a degraded run)."""

    def __init__(self, searcher: Searcher, limit: int, mode: SearchMode | None = None) -> None:
        self.searcher = searcher
        self.limit = limit
        self.mode = mode
        self.last: SearchResult | None = None

    def search(self, query: str, principal: Principal, **kwargs: Any) -> SearchResult:
        if self.limit == 0:
            self.last = SearchResult(query, self.mode or "hybrid", None, [], {})
            return self.last
        kwargs["limit"] = self.limit
        self.last = self.searcher.search(query, principal, mode=self.mode, **kwargs)
        return self.last


class EvalContext:
    """The shared parts of an evaluation run: index, embedder, searcher, models (lazily).

    Use as a context manager: the embedded index is locked while it is open.
    """

    def __init__(self, settings: Settings, *, force_finetune: bool = False) -> None:
        self.settings = settings
        ev = settings.eval
        self.principal = Principal(user=ev.user, groups=tuple(ev.groups), tenant=ev.tenant)
        self.embedder: Embedder = make_embedder(settings, configured_embedding(settings))
        self.index: VectorIndex = open_index(settings)
        self.searcher = Searcher.from_settings(settings, self.index, self.embedder)
        self.force_finetune = force_finetune
        self._base: LLM | None = None
        self._tuned: LLM | None = None
        self.finetune_result: FinetuneResult | None = None
        self.stage_seconds: dict[str, float] = {}

    def __enter__(self) -> EvalContext:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for llm in (self._base, self._tuned):
            if llm is not None:
                llm.close()
        self._base = self._tuned = None
        self.index.close()

    def corpus_docs(self) -> list[str]:
        """File names of every document the principal may read (reference sets expand over it)."""
        names = {file_name(c.source_uri) for c in readable_chunks(self.index, self.principal)}
        return sorted(n for n in names if n)

    def base_llm(self) -> LLM:
        if self._base is None:
            started = time.perf_counter()
            self._base = get_llm(eval_llm_settings(self.settings))
            self._base.warm_up()
            self.stage_seconds["load base model"] = time.perf_counter() - started
        return self._base

    def tuned_llm(self) -> LLM:
        if self._tuned is None:
            if self.settings.llm.backend != "local":
                raise ConfigError(
                    "the fine-tuned systems need llm.backend 'local' (a GGUF base model)"
                )
            from eval.hf_llm import HFLoRALLM

            started = time.perf_counter()
            tuned = finetune(
                self.settings,
                self.index,
                self.principal,
                force=self.force_finetune,
                keep_model=True,
            )
            self.stage_seconds["finetune"] = time.perf_counter() - started
            started = time.perf_counter()
            self._tuned = HFLoRALLM(self.settings, tuned.path, tuned.trained)
            tuned.trained = None
            self.finetune_result = tuned
            self._tuned.warm_up()
            self.stage_seconds["load fine-tuned model"] = time.perf_counter() - started
        return self._tuned

    def prepare(self, spec: SystemSpec) -> None:
        """Load what ``spec`` needs now, so its first question's latency is not a load time."""
        if spec.answers:
            self.tuned_llm() if spec.finetuned else self.base_llm()

    def run(self, spec: SystemSpec, item: EvalItem) -> SystemOutput:
        """Put ``item`` to ``spec``; errors become the output's ``error`` (the run goes on)."""
        started = time.perf_counter()
        try:
            out = self._run(spec, item)
        except Exception as exc:  # one failing question must not sink the night's run
            log.warning("eval.system_failed", system=spec.name, qid=item.qid, error=str(exc))
            out = SystemOutput(answer="" if spec.answers else None, error=str(exc))
        out.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return out

    def _run(self, spec: SystemSpec, item: EvalItem) -> SystemOutput:
        limit = self.settings.eval.retrieve_limit
        if not spec.answers:
            searcher = _Recording(self.searcher, limit, spec.mode)
            result = searcher.search(item.question, self.principal)
            return SystemOutput(
                answer=None,
                ranked_docs=[file_name(c.source_uri) for c in result.hits],
                contexts=[c.text for c in result.hits],
            )
        llm = self.tuned_llm() if spec.finetuned else self.base_llm()
        if not spec.retrieves:
            messages = [Message("system", CLOSED_BOOK_SYSTEM), Message("user", item.question)]
            done = llm.complete(messages)
            text = done.text.strip()
            return SystemOutput(
                answer=text,
                prompt_tokens=done.prompt_tokens,
                completion_tokens=done.completion_tokens,
                no_answer=is_no_answer(text),
            )
        from retrieval import Answerer

        recording = _Recording(self.searcher, limit)
        answerer = Answerer(recording, llm, eval_llm_settings(self.settings))
        r = answerer.answer(item.question, self.principal)
        texts = {c.id: c.text for c in (recording.last.chunks if recording.last else [])}
        hits = recording.last.hits if recording.last else []
        return SystemOutput(
            answer=r.answer,
            ranked_docs=[file_name(c.source_uri) for c in hits],
            contexts=[texts.get(c.chunk_id, c.snippet) for c in r.context],
            citations=[c.to_dict() for c in r.citations],
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            no_answer=r.no_answer,
        )
