"""Retrieval: index backends, embeddings, hybrid search, access control, context, answers.

The front door: other packages import these names from ``retrieval``, never its modules.
Each name is imported from its module on first use, so ``import retrieval`` loads no
index engine or model runtime. Every read of the index here carries the caller's
principal: :class:`Searcher`, :func:`read_chunk`, :func:`readable_chunks` build the
access filter themselves (:mod:`retrieval.acl`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.acl import can_read
    from retrieval.answer import Answerer, AnswerResult, AnswerStream
    from retrieval.context import Citation, doc_name, snippet, uri_name
    from retrieval.conversation import ConversationStore, InMemoryConversationStore, Turn
    from retrieval.embedding import DenseEmbedder, Embedder, make_embedder
    from retrieval.figures import Status as FigureStatus
    from retrieval.index import (
        Bm25Encoder,
        EdgeIndex,
        Filter,
        IndexPoint,
        MatchValue,
        QdrantClientIndex,
        SearchMode,
        VectorIndex,
        encode_documents,
        index_warnings,
        open_index,
    )
    from retrieval.index.transfer import copy_points, sample_queries, verify_copy
    from retrieval.llm import LLM, NO_ANSWER, Message, TokenStream, Usage, get_llm
    from retrieval.llm.extractive import ExtractiveLLM
    from retrieval.llm.prompts import ANSWER_SYSTEM, answer_messages, is_no_answer
    from retrieval.onnx_embedding import prepare_onnx
    from retrieval.passages import read_chunk, readable_chunk_ids, readable_chunks
    from retrieval.records import (
        AnswerRow,
        FeedbackPair,
        FeedbackRow,
        Records,
        SqlConversationStore,
        StoredTurn,
        passage_ids,
    )
    from retrieval.search import MAX_NEIGHBOURS, MAX_QUERY_CHARS, Searcher, SearchResult
    from retrieval.search_filters import SearchFilters
    from retrieval.steering import (
        DERIVED,
        NAMED,
        STATED,
        dates_in,
        day_key,
        doc_type_of,
        end_date_keys,
        fiscal_year_mentions,
        month_key,
        name_keys,
        quarter_key,
        quarter_mentions,
        word_set,
        year_key,
    )
    from retrieval.types import RetrievedChunk

#: Where each public name lives. Imported on first use.
_EXPORTS: dict[str, tuple[str, str]] = {
    "Searcher": ("retrieval.search", "Searcher"),
    "SearchResult": ("retrieval.search", "SearchResult"),
    "MAX_QUERY_CHARS": ("retrieval.search", "MAX_QUERY_CHARS"),
    "MAX_NEIGHBOURS": ("retrieval.search", "MAX_NEIGHBOURS"),
    "SearchFilters": ("retrieval.search_filters", "SearchFilters"),
    "RetrievedChunk": ("retrieval.types", "RetrievedChunk"),
    "can_read": ("retrieval.acl", "can_read"),
    "read_chunk": ("retrieval.passages", "read_chunk"),
    "readable_chunk_ids": ("retrieval.passages", "readable_chunk_ids"),
    "readable_chunks": ("retrieval.passages", "readable_chunks"),
    "Answerer": ("retrieval.answer", "Answerer"),
    "AnswerResult": ("retrieval.answer", "AnswerResult"),
    "AnswerStream": ("retrieval.answer", "AnswerStream"),
    "Citation": ("retrieval.context", "Citation"),
    "doc_name": ("retrieval.context", "doc_name"),
    "snippet": ("retrieval.context", "snippet"),
    "uri_name": ("retrieval.context", "uri_name"),
    "FigureStatus": ("retrieval.figures", "Status"),
    "ConversationStore": ("retrieval.conversation", "ConversationStore"),
    "InMemoryConversationStore": ("retrieval.conversation", "InMemoryConversationStore"),
    "Turn": ("retrieval.conversation", "Turn"),
    "AnswerRow": ("retrieval.records", "AnswerRow"),
    "FeedbackPair": ("retrieval.records", "FeedbackPair"),
    "FeedbackRow": ("retrieval.records", "FeedbackRow"),
    "Records": ("retrieval.records", "Records"),
    "SqlConversationStore": ("retrieval.records", "SqlConversationStore"),
    "StoredTurn": ("retrieval.records", "StoredTurn"),
    "passage_ids": ("retrieval.records", "passage_ids"),
    "DenseEmbedder": ("retrieval.embedding", "DenseEmbedder"),
    "Embedder": ("retrieval.embedding", "Embedder"),
    "make_embedder": ("retrieval.embedding", "make_embedder"),
    "prepare_onnx": ("retrieval.onnx_embedding", "prepare_onnx"),
    "Bm25Encoder": ("retrieval.index", "Bm25Encoder"),
    "EdgeIndex": ("retrieval.index", "EdgeIndex"),
    "Filter": ("retrieval.index", "Filter"),
    "IndexPoint": ("retrieval.index", "IndexPoint"),
    "MatchValue": ("retrieval.index", "MatchValue"),
    "QdrantClientIndex": ("retrieval.index", "QdrantClientIndex"),
    "SearchMode": ("retrieval.index", "SearchMode"),
    "VectorIndex": ("retrieval.index", "VectorIndex"),
    "encode_documents": ("retrieval.index", "encode_documents"),
    "open_index": ("retrieval.index", "open_index"),
    "index_warnings": ("retrieval.index", "index_warnings"),
    "copy_points": ("retrieval.index.transfer", "copy_points"),
    "sample_queries": ("retrieval.index.transfer", "sample_queries"),
    "verify_copy": ("retrieval.index.transfer", "verify_copy"),
    "LLM": ("retrieval.llm", "LLM"),
    "NO_ANSWER": ("retrieval.llm", "NO_ANSWER"),
    "Message": ("retrieval.llm", "Message"),
    "TokenStream": ("retrieval.llm", "TokenStream"),
    "Usage": ("retrieval.llm", "Usage"),
    "get_llm": ("retrieval.llm", "get_llm"),
    "ExtractiveLLM": ("retrieval.llm.extractive", "ExtractiveLLM"),
    "ANSWER_SYSTEM": ("retrieval.llm.prompts", "ANSWER_SYSTEM"),
    "answer_messages": ("retrieval.llm.prompts", "answer_messages"),
    "is_no_answer": ("retrieval.llm.prompts", "is_no_answer"),
    "DERIVED": ("retrieval.steering", "DERIVED"),
    "NAMED": ("retrieval.steering", "NAMED"),
    "STATED": ("retrieval.steering", "STATED"),
    "dates_in": ("retrieval.steering", "dates_in"),
    "day_key": ("retrieval.steering", "day_key"),
    "doc_type_of": ("retrieval.steering", "doc_type_of"),
    "end_date_keys": ("retrieval.steering", "end_date_keys"),
    "fiscal_year_mentions": ("retrieval.steering", "fiscal_year_mentions"),
    "month_key": ("retrieval.steering", "month_key"),
    "name_keys": ("retrieval.steering", "name_keys"),
    "quarter_key": ("retrieval.steering", "quarter_key"),
    "quarter_mentions": ("retrieval.steering", "quarter_mentions"),
    "word_set": ("retrieval.steering", "word_set"),
    "year_key": ("retrieval.steering", "year_key"),
}

__all__ = [
    "ANSWER_SYSTEM",
    "DERIVED",
    "LLM",
    "MAX_NEIGHBOURS",
    "MAX_QUERY_CHARS",
    "NAMED",
    "NO_ANSWER",
    "STATED",
    "AnswerResult",
    "AnswerRow",
    "AnswerStream",
    "Answerer",
    "Bm25Encoder",
    "Citation",
    "ConversationStore",
    "DenseEmbedder",
    "EdgeIndex",
    "Embedder",
    "ExtractiveLLM",
    "FeedbackPair",
    "FeedbackRow",
    "FigureStatus",
    "Filter",
    "InMemoryConversationStore",
    "IndexPoint",
    "MatchValue",
    "Message",
    "QdrantClientIndex",
    "Records",
    "RetrievedChunk",
    "SearchFilters",
    "SearchMode",
    "SearchResult",
    "Searcher",
    "SqlConversationStore",
    "StoredTurn",
    "TokenStream",
    "Turn",
    "Usage",
    "VectorIndex",
    "answer_messages",
    "can_read",
    "copy_points",
    "dates_in",
    "day_key",
    "doc_name",
    "doc_type_of",
    "encode_documents",
    "end_date_keys",
    "fiscal_year_mentions",
    "get_llm",
    "index_warnings",
    "is_no_answer",
    "make_embedder",
    "month_key",
    "name_keys",
    "open_index",
    "passage_ids",
    "prepare_onnx",
    "quarter_key",
    "quarter_mentions",
    "read_chunk",
    "readable_chunk_ids",
    "readable_chunks",
    "sample_queries",
    "snippet",
    "uri_name",
    "verify_copy",
    "word_set",
    "year_key",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value  # resolved once
    return value
