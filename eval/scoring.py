"""Answer metrics through ragas, with local models only.

Always computed (no LLM): ROUGE-L (``RougeScore``), semantic similarity to the
reference (``SemanticSimilarity`` over deepwell's own MiniLM embedder, wrapped as
langchain embeddings — never a hosted default), ``StringPresence`` where the
reference is a short string, ``NonLLMContextRecall`` and
``NonLLMContextPrecisionWithReference`` where the item has reference passages and
the system retrieved contexts, plus figure match / figure recall of
:mod:`eval.metrics`.

LLM-judged (faithfulness, answer relevancy, factual correctness) only when
``eval.judge.backend`` is not ``none``: the judge is a deepwell LLM backend
(local GGUF or OpenAI-compatible endpoint) handed to ragas explicitly, because
ragas falls back to a hosted model when given none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core import Settings, get_logger
from eval.datasets import EvalItem
from eval.metrics import figure_match, figure_recall

if TYPE_CHECKING:
    from retrieval import LLM, Embedder

log = get_logger(__name__)

#: A reference of at most this many words is checked for verbatim presence in the answer.
SHORT_REFERENCE_WORDS = 8

ANSWER_METRICS = (
    "figure_match",
    "figure_recall",
    "rouge_l",
    "semantic_similarity",
    "string_presence",
    "context_recall",
    "context_precision",
)
JUDGE_METRICS = ("faithfulness", "answer_relevancy", "factual_correctness")


def clean_reference(reference: str) -> str:
    """The reference answer without its ``SOURCE(S):`` trailer (SEC format)."""
    return reference.split("SOURCE(S)", maxsplit=1)[0].replace("(SOURCE:", "(").strip()


def _embeddings(embedder: Embedder) -> Any:
    """deepwell's embedder as ragas embeddings (through langchain's interface)."""
    from langchain_core.embeddings import Embeddings
    from ragas.embeddings import LangchainEmbeddingsWrapper

    class _Local(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in embedder.embed_documents(texts)]

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text)

    return LangchainEmbeddingsWrapper(_Local())


def _judge_llm(llm: LLM) -> Any:
    """A deepwell LLM backend as a ragas LLM (through langchain's interface)."""
    from langchain_core.language_models.llms import LLM as BaseLangchainLLM  # noqa: N811
    from ragas.llms import LangchainLLMWrapper

    from retrieval import Message

    class _Judge(BaseLangchainLLM):
        @property
        def _llm_type(self) -> str:
            return "deepwell"

        def _call(
            self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **_: Any
        ) -> str:
            return llm.complete([Message("user", prompt)]).text

    return LangchainLLMWrapper(_Judge())


def judge_from_settings(settings: Settings) -> LLM | None:
    """The judge LLM ``eval.judge`` configures, or None (LLM-judged metrics off)."""
    judge = settings.eval.judge
    if judge.backend == "none":
        return None
    from retrieval import get_llm

    llm = {"backend": judge.backend, "model": judge.model, "max_tokens": 512}
    if judge.backend == "openai":
        llm |= {"base_url": judge.base_url, "api_key": judge.api_key}
    judged = Settings.model_validate(settings.model_dump() | {"llm": llm})
    return get_llm(judged)


class AnswerScorer:
    """Scores one answer against its item; ragas metric objects are built once."""

    def __init__(self, embedder: Embedder | None, judge: LLM | None = None) -> None:
        from ragas.metrics import (
            NonLLMContextPrecisionWithReference,
            NonLLMContextRecall,
            RougeScore,
            SemanticSimilarity,
            StringPresence,
        )

        self._rouge = RougeScore(rouge_type="rougeL")
        self._presence = StringPresence()
        self._ctx_recall = NonLLMContextRecall()
        self._ctx_precision = NonLLMContextPrecisionWithReference()
        self._semantic = (
            SemanticSimilarity(embeddings=_embeddings(embedder)) if embedder is not None else None
        )
        self._judged: list[tuple[str, Any]] = []
        if judge is not None:
            from ragas.metrics import FactualCorrectness, Faithfulness, ResponseRelevancy

            ragas_llm = _judge_llm(judge)
            emb = _embeddings(embedder) if embedder is not None else None
            self._judged = [
                ("faithfulness", Faithfulness(llm=ragas_llm)),
                ("answer_relevancy", ResponseRelevancy(llm=ragas_llm, embeddings=emb)),
                ("factual_correctness", FactualCorrectness(llm=ragas_llm)),
            ]

    @property
    def metric_names(self) -> list[str]:
        return list(ANSWER_METRICS) + [name for name, _ in self._judged]

    def score(self, item: EvalItem, answer: str, contexts: Sequence[str]) -> dict[str, float]:
        """The metrics that apply to this answer (a metric that does not apply is absent)."""
        from ragas import SingleTurnSample

        reference = clean_reference(item.reference)
        out: dict[str, float] = {"figure_match": float(figure_match(answer, item.reference))}
        recall = figure_recall(answer, item.reference)
        if recall is not None:
            out["figure_recall"] = recall
        else:
            del out["figure_match"]  # a reference without figures says nothing here
        sample = SingleTurnSample(
            user_input=item.question,
            response=answer or " ",
            reference=reference,
            retrieved_contexts=list(contexts),
            reference_contexts=list(item.passages),
        )
        out["rouge_l"] = float(self._rouge.single_turn_score(sample))
        if self._semantic is not None:
            out["semantic_similarity"] = float(self._semantic.single_turn_score(sample))
        if len(reference.split()) <= SHORT_REFERENCE_WORDS:
            out["string_presence"] = float(self._presence.single_turn_score(sample))
        if item.passages and contexts:
            out["context_recall"] = float(self._ctx_recall.single_turn_score(sample))
            out["context_precision"] = float(self._ctx_precision.single_turn_score(sample))
        for name, metric in self._judged:
            if name == "faithfulness" and not contexts:
                continue  # nothing to be faithful to (closed-book)
            try:
                out[name] = float(metric.single_turn_score(sample))
            except Exception as exc:  # a judge that returns unparsable output skips one score
                log.warning("eval.judge_failed", metric=name, error=type(exc).__name__)
        return out
