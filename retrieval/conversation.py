"""Multi-turn conversations: history per conversation id, and follow-ups made standalone.

Retrieval sees one query, so a follow-up such as "and in the previous quarter?"
is rewritten into a standalone question before search: by the LLM where there
is one, by a keyword heuristic for the extractive backend. The rewrite runs before
the user sees anything, so it is kept cheap: a question that stands alone (no word
referring back, enough topic words of its own: :func:`needs_context`) is searched
as it is, without asking the model; otherwise the model reads only the last two
exchanges and writes a bounded number of tokens, and if it is busy or failing the
heuristic rewrite is used instead.

History sits behind :class:`ConversationStore`; :class:`InMemoryConversationStore`
is the embedded default, and a database-backed store only has to implement the
same three methods. A conversation belongs to the principal (tenant and user)
that started it; anyone else gets :class:`core.errors.NotFoundError`.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from core import BackendUnavailableError, InvalidInputError, NotFoundError, Principal, get_logger
from retrieval.llm.base import LLM
from retrieval.llm.extractive import STOPWORDS
from retrieval.llm.prompts import rewrite_messages

log = get_logger(__name__)

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9&'.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_LABEL = re.compile(r"^(standalone question|rewritten question|question)\s*:\s*", re.I)
_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
#: Words that make a question lean on the one before it.
_REFERRING = frozenset(
    {
        "it",
        "its",
        "they",
        "their",
        "them",
        "theirs",
        "that",
        "this",
        "those",
        "these",
        "there",
        "same",
        "also",
        "then",
        "previous",
        "prior",
        "last",
        "earlier",
        "former",
        "latter",
    }
)
#: Question scaffolding that carries no topic.
_SCAFFOLD = STOPWORDS | frozenset(
    {
        "tell",
        "please",
        "describe",
        "explain",
        "give",
        "show",
        "list",
        "compare",
        "compared",
        "change",
        "changed",
        "many",
        "much",
        "quarter",
        "year",
        "period",
        "value",
        "amount",
    }
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation. User turns keep the standalone query that was searched."""

    role: Literal["user", "assistant"]
    content: str
    query: str | None = None
    answer_id: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ConversationStore(ABC):
    """Where conversation history lives."""

    @abstractmethod
    def history(self, conversation_id: str, principal: Principal) -> list[Turn]:
        """The turns so far, oldest first; empty for a conversation not started yet.

        Raises:
            NotFoundError: the conversation belongs to another principal.
        """

    @abstractmethod
    def append(self, conversation_id: str, principal: Principal, turns: Sequence[Turn]) -> None:
        """Add turns, starting the conversation (owned by ``principal``) if it is new."""

    @abstractmethod
    def delete(self, conversation_id: str, principal: Principal) -> None:
        """Forget a conversation (NotFoundError if it is not the principal's)."""


def check_conversation_id(conversation_id: str) -> str:
    if not _ID.fullmatch(conversation_id):
        raise InvalidInputError("conversation_id: 1-128 characters of letters, digits and _ . : -")
    return conversation_id


def _owner(principal: Principal) -> tuple[str, str]:
    return principal.tenant, principal.user


class InMemoryConversationStore(ConversationStore):
    """History in process memory: the last ``max_turns`` turns of the ``max_conversations``
    most recently used conversations (older ones are forgotten)."""

    def __init__(self, *, max_turns: int = 40, max_conversations: int = 10_000) -> None:
        self.max_turns = max_turns
        self.max_conversations = max_conversations
        self._data: OrderedDict[str, tuple[tuple[str, str], list[Turn]]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, conversation_id: str, principal: Principal) -> list[Turn] | None:
        entry = self._data.get(check_conversation_id(conversation_id))
        if entry is None:
            return None
        if entry[0] != _owner(principal):
            # Same answer as for a missing one: ids of others' conversations stay secret.
            raise NotFoundError(f"no conversation {conversation_id!r}")
        self._data.move_to_end(conversation_id)
        return entry[1]

    def history(self, conversation_id: str, principal: Principal) -> list[Turn]:
        with self._lock:
            return list(self._get(conversation_id, principal) or [])

    def append(self, conversation_id: str, principal: Principal, turns: Sequence[Turn]) -> None:
        with self._lock:
            existing = self._get(conversation_id, principal)
            if existing is None:
                existing = []
                self._data[conversation_id] = (_owner(principal), existing)
                while len(self._data) > self.max_conversations:
                    self._data.popitem(last=False)
            existing.extend(turns)
            del existing[: -self.max_turns]

    def delete(self, conversation_id: str, principal: Principal) -> None:
        with self._lock:
            if self._get(conversation_id, principal) is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            del self._data[conversation_id]


class QueryRewriter(Protocol):
    """Turns a follow-up into a question that stands on its own."""

    def rewrite(self, question: str, history: Sequence[Turn]) -> str: ...


def _last_query(history: Sequence[Turn]) -> str | None:
    for turn in reversed(history):
        if turn.role == "user":
            return turn.query or turn.content
    return None


def key_terms(text: str, limit: int = 8) -> list[str]:
    """Topic words of ``text`` in order (names, products, figures), scaffolding removed."""
    out: list[str] = []
    for word in _WORD.findall(text):
        low = word.lower()
        if low not in _SCAFFOLD and len(low) > 1 and low not in (w.lower() for w in out):
            out.append(word)
    return out[:limit]


def needs_context(question: str) -> bool:
    """Whether a question likely refers back: a referring word, or too few topic words."""
    words = {w.lower() for w in _WORD.findall(question)}
    return bool(words & _REFERRING) or len(key_terms(question)) < 3


class HeuristicRewriter:
    """Prepends the previous question's topic words to a follow-up that leans on it."""

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        previous = _last_query(history)
        if previous is None or not needs_context(question):
            return question
        present = {w.lower() for w in _WORD.findall(question)}
        carried = [t for t in key_terms(previous) if t.lower() not in present]
        return f"{' '.join(carried)} {question}" if carried else question


class LLMRewriter:
    """Asks the LLM for a standalone question, only when the question leans on the ones
    before it; falls back to the heuristic on an unusable reply or an unavailable model.

    Args:
        max_turns: history turns the model reads (the last ones).
        max_tokens: the most tokens of the rewritten question (a question about as long as
            the follow-up plus what it refers to; never more than this).
        answer_chars: characters of each earlier answer the model reads.
    """

    def __init__(
        self, llm: LLM, *, max_turns: int = 4, max_tokens: int = 64, answer_chars: int = 300
    ) -> None:
        self.llm = llm
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.answer_chars = answer_chars
        self._fallback = HeuristicRewriter()

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        if _last_query(history) is None or not needs_context(question):
            return question
        pairs = [
            (
                t.role,
                _CITATION.sub(
                    "", t.content if t.role == "user" else t.content[: self.answer_chars]
                ),
            )
            for t in history[-self.max_turns :]
        ]
        limit = min(self.max_tokens, self.llm.count_tokens(question) + 32)
        try:
            reply = self.llm.complete(rewrite_messages(question, pairs), max_tokens=limit)
        except BackendUnavailableError as exc:
            # Searching with the heuristic rewrite beats failing the question here.
            log.warning("conversation.rewrite_failed", error=str(exc))
            return self._fallback.rewrite(question, history)
        rewritten = _clean(reply.text)
        if not rewritten or len(rewritten) > 4 * len(question) + 300:
            log.warning("conversation.rewrite_unusable", chars=len(reply.text))
            return self._fallback.rewrite(question, history)
        return rewritten


def _clean(text: str) -> str:
    for raw in text.strip().splitlines():
        line = _LABEL.sub("", raw.strip().strip("\"'`").strip())
        if line:
            return line.strip("\"'` ")
    return ""


def rewriter_for(llm: LLM) -> QueryRewriter:
    """The LLM rewrite for generative backends, the heuristic for the extractive one."""
    return HeuristicRewriter() if llm.backend == "extractive" else LLMRewriter(llm)
