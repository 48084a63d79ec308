"""Retrieval: index backends, embeddings, hybrid search, access control, context, answers.

The front door: other packages import these names from ``retrieval``, never its modules.
Each name is imported from its module on first use, so ``import retrieval`` loads no
index engine or model runtime. Every read of the index here carries the caller's
principal: :class:`Searcher`, :func:`read_chunk`, :func:`readable_chunks` build the
access filter themselves (:mod:`retrieval.acl`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import lazy_exports

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
_EXPORTS = {
    "Searcher": "retrieval.search",
    "SearchResult": "retrieval.search",
    "MAX_QUERY_CHARS": "retrieval.search",
    "MAX_NEIGHBOURS": "retrieval.search",
    "SearchFilters": "retrieval.search_filters",
    "RetrievedChunk": "retrieval.types",
    "can_read": "retrieval.acl",
    "read_chunk": "retrieval.passages",
    "readable_chunk_ids": "retrieval.passages",
    "readable_chunks": "retrieval.passages",
    "Answerer": "retrieval.answer",
    "AnswerResult": "retrieval.answer",
    "AnswerStream": "retrieval.answer",
    "Citation": "retrieval.context",
    "doc_name": "retrieval.context",
    "snippet": "retrieval.context",
    "uri_name": "retrieval.context",
    "FigureStatus": "retrieval.figures:Status",
    "ConversationStore": "retrieval.conversation",
    "InMemoryConversationStore": "retrieval.conversation",
    "Turn": "retrieval.conversation",
    "AnswerRow": "retrieval.records",
    "FeedbackPair": "retrieval.records",
    "FeedbackRow": "retrieval.records",
    "Records": "retrieval.records",
    "SqlConversationStore": "retrieval.records",
    "StoredTurn": "retrieval.records",
    "passage_ids": "retrieval.records",
    "DenseEmbedder": "retrieval.embedding",
    "Embedder": "retrieval.embedding",
    "make_embedder": "retrieval.embedding",
    "prepare_onnx": "retrieval.onnx_embedding",
    "Bm25Encoder": "retrieval.index",
    "EdgeIndex": "retrieval.index",
    "Filter": "retrieval.index",
    "IndexPoint": "retrieval.index",
    "MatchValue": "retrieval.index",
    "QdrantClientIndex": "retrieval.index",
    "SearchMode": "retrieval.index",
    "VectorIndex": "retrieval.index",
    "encode_documents": "retrieval.index",
    "open_index": "retrieval.index",
    "index_warnings": "retrieval.index",
    "copy_points": "retrieval.index.transfer",
    "sample_queries": "retrieval.index.transfer",
    "verify_copy": "retrieval.index.transfer",
    "LLM": "retrieval.llm",
    "NO_ANSWER": "retrieval.llm",
    "Message": "retrieval.llm",
    "TokenStream": "retrieval.llm",
    "Usage": "retrieval.llm",
    "get_llm": "retrieval.llm",
    "ExtractiveLLM": "retrieval.llm.extractive",
    "ANSWER_SYSTEM": "retrieval.llm.prompts",
    "answer_messages": "retrieval.llm.prompts",
    "is_no_answer": "retrieval.llm.prompts",
    "DERIVED": "retrieval.steering",
    "NAMED": "retrieval.steering",
    "STATED": "retrieval.steering",
    "dates_in": "retrieval.steering",
    "day_key": "retrieval.steering",
    "doc_type_of": "retrieval.steering",
    "end_date_keys": "retrieval.steering",
    "fiscal_year_mentions": "retrieval.steering",
    "month_key": "retrieval.steering",
    "name_keys": "retrieval.steering",
    "quarter_key": "retrieval.steering",
    "quarter_mentions": "retrieval.steering",
    "word_set": "retrieval.steering",
    "year_key": "retrieval.steering",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
