"""What the service remembers about answers: the answers themselves, feedback, conversations.

Every answer the API gives is recorded (who asked, the question, the passages the
model read, the answer, the model), so that feedback can be checked against the
answer's owner and exported for fine-tuning after restarts. Conversations are
kept here too (:class:`SqlConversationStore`), so follow-ups survive a restart.
Same database as the registry: SQLite by default, PostgreSQL when configured.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core import Base, NotFoundError, Principal, upgrade_schema
from retrieval.answer import AnswerResult
from retrieval.conversation import ConversationStore, Turn, check_conversation_id

Rating = Literal["up", "down"]


def _now() -> datetime:
    return datetime.now(UTC)


class AnswerRow(Base):
    __tablename__ = "answers"

    answer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    user: Mapped[str] = mapped_column(String(256), index=True)
    key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    question: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    context: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    context_text: Mapped[str] = mapped_column(Text, default="")
    no_answer: Mapped[bool] = mapped_column(default=False)
    #: stop, length, timeout, error or none (no model call); None: stored before 0007.
    finish_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    model: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    conversation_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FeedbackRow(Base):
    """One rating per answer (a second one replaces the first)."""

    __tablename__ = "feedback"

    feedback_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    answer_id: Mapped[str] = mapped_column(
        ForeignKey("answers.answer_id", ondelete="CASCADE"), unique=True
    )
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    user: Mapped[str] = mapped_column(String(256), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    correction: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class TurnRow(Base):
    """One turn of a conversation. Conversations are keyed by (tenant, user, id): a
    client-chosen id never collides with, or reveals, someone else's conversation."""

    __tablename__ = "conversation_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(256))
    conversation_id: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text, default=None)
    answer_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    __table_args__ = (Index("ix_turns_owner", "tenant", "user", "conversation_id", "id"),)


TABLES = [AnswerRow, FeedbackRow, TurnRow]


def passage_ids(*stored: list[dict[str, Any]] | None) -> set[str]:
    """The chunk ids in an answer's stored ``context`` and ``citations`` lists: the passages
    it was built on, which exports and read-backs check the reader may still read."""
    return {
        str(item["chunk_id"])
        for items in stored
        for item in items or []
        if isinstance(item, dict) and item.get("chunk_id")
    }


#: Finish reasons of an answer that did not end on its own.
CUT_OFF = frozenset({"length", "timeout", "error"})


@dataclass(frozen=True, slots=True)
class FeedbackPair:
    """A feedback row with the answer it rates (what exports are built from)."""

    feedback: FeedbackRow
    answer: AnswerRow

    @property
    def cut_off(self) -> bool:
        """Whether the rated answer was cut off (time limit, error, reply limit): its text
        is not a whole answer, whatever its rating."""
        return self.answer.finish_reason in CUT_OFF


class Records:
    """Answers and feedback in the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create_schema(self) -> None:
        """Bring the database to the current schema (every table; see :mod:`core.migrate`)."""
        upgrade_schema(self.engine)

    def record_answer(
        self, result: AnswerResult, principal: Principal, key_id: str | None
    ) -> AnswerRow:
        row = AnswerRow(
            answer_id=result.answer_id,
            tenant=principal.tenant,
            user=principal.user,
            key_id=key_id,
            question=result.question,
            query=result.query,
            answer=result.answer,
            citations=[c.to_dict() for c in result.citations],
            context=[c.to_dict() for c in result.context],
            context_text=result.context_text,
            no_answer=result.no_answer,
            finish_reason=result.finish_reason,
            model=dict(result.model),
            conversation_id=result.conversation_id,
            created_at=_now(),
        )
        with self._session() as s, s.begin():
            s.add(row)
        return row

    def answer_of(self, answer_id: str, principal: Principal) -> AnswerRow:
        """The answer ``principal`` received; :class:`NotFoundError` for anyone else's."""
        with self._session() as s:
            row = s.get(AnswerRow, answer_id)
        if row is None or (row.tenant, row.user) != (principal.tenant, principal.user):
            raise NotFoundError(f"no answer {answer_id!r} was given to this caller")
        return row

    def give_feedback(
        self,
        answer_id: str,
        principal: Principal,
        *,
        rating: Rating,
        comment: str | None,
        correction: str | None,
    ) -> FeedbackRow:
        """Rate an answer the caller received (replacing an earlier rating of it)."""
        self.answer_of(answer_id, principal)
        with self._session() as s, s.begin():
            row = s.scalars(select(FeedbackRow).where(FeedbackRow.answer_id == answer_id)).first()
            if row is None:
                row = FeedbackRow(
                    feedback_id=str(uuid.uuid4()),
                    answer_id=answer_id,
                    tenant=principal.tenant,
                    user=principal.user,
                )
                s.add(row)
            row.rating = rating
            row.comment = comment
            row.correction = correction
            row.created_at = _now()
        return row

    def feedback(
        self,
        *,
        tenant: str,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        rating: Rating | None = None,
        batch: int = 500,
    ) -> Iterator[FeedbackPair]:
        """Feedback of a tenant (one user's only, when given), oldest first, with its answer."""
        stmt = (
            select(FeedbackRow, AnswerRow)
            .join(AnswerRow, AnswerRow.answer_id == FeedbackRow.answer_id)
            .where(FeedbackRow.tenant == tenant)
            .order_by(FeedbackRow.created_at, FeedbackRow.feedback_id)
        )
        if user is not None:
            stmt = stmt.where(FeedbackRow.user == user)
        if since is not None:
            stmt = stmt.where(FeedbackRow.created_at >= since)
        if until is not None:
            stmt = stmt.where(FeedbackRow.created_at < until)
        if rating is not None:
            stmt = stmt.where(FeedbackRow.rating == rating)
        offset = 0
        while True:
            with self._session() as s:
                rows = list(s.execute(stmt.offset(offset).limit(batch)).tuples())
            for fb, ans in rows:
                yield FeedbackPair(fb, ans)
            if len(rows) < batch:
                return
            offset += batch


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One conversation in the caller's list."""

    conversation_id: str
    title: str
    updated_at: datetime
    turns: int


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """A turn as stored, with what its answer cited (unfiltered: the caller checks access)."""

    role: Literal["user", "assistant"]
    content: str
    answer_id: str | None
    created_at: datetime
    citations: list[dict[str, Any]]
    no_answer: bool
    rating: str | None
    #: Chunk ids of every passage the answer was built on (its context and citations).
    passages: list[str] = field(default_factory=list)


#: Characters of the first question kept as a conversation's title.
TITLE_CHARS = 80


def conversation_title(first_question: str) -> str:
    """The first question on one line, cut at :data:`TITLE_CHARS` characters."""
    line = " ".join(first_question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class SqlConversationStore(ConversationStore):
    """Conversation history in the database: the last ``max_turns`` turns of each."""

    def __init__(self, engine: Engine, *, max_turns: int = 40) -> None:
        self.engine = engine
        self.max_turns = max_turns
        self._session = sessionmaker(engine, expire_on_commit=False)

    @staticmethod
    def _mine(conversation_id: str, principal: Principal) -> list[Any]:
        return [
            TurnRow.tenant == principal.tenant,
            TurnRow.user == principal.user,
            TurnRow.conversation_id == check_conversation_id(conversation_id),
        ]

    def history(self, conversation_id: str, principal: Principal) -> list[Turn]:
        stmt = (
            select(TurnRow)
            .where(*self._mine(conversation_id, principal))
            .order_by(TurnRow.id.desc())
            .limit(self.max_turns)
        )
        with self._session() as s:
            rows = list(s.scalars(stmt))[::-1]
        return [
            Turn(
                "assistant" if r.role == "assistant" else "user",
                r.content,
                query=r.query,
                answer_id=r.answer_id,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def append(self, conversation_id: str, principal: Principal, turns: Sequence[Turn]) -> None:
        check_conversation_id(conversation_id)
        with self._session() as s, s.begin():
            s.add_all(
                TurnRow(
                    tenant=principal.tenant,
                    user=principal.user,
                    conversation_id=conversation_id,
                    role=t.role,
                    content=t.content,
                    query=t.query,
                    answer_id=t.answer_id,
                    created_at=t.created_at,
                )
                for t in turns
            )

    def delete(self, conversation_id: str, principal: Principal) -> None:
        with self._session() as s, s.begin():
            result = s.execute(delete(TurnRow).where(*self._mine(conversation_id, principal)))
        if not getattr(result, "rowcount", 0):
            raise NotFoundError(f"no conversation {conversation_id!r}")

    def conversations(
        self, principal: Principal, *, limit: int, offset: int = 0
    ) -> list[ConversationSummary]:
        """The principal's own conversations, most recently continued first."""
        owner = [TurnRow.tenant == principal.tenant, TurnRow.user == principal.user]
        agg = (
            select(
                TurnRow.conversation_id.label("cid"),
                func.min(TurnRow.id).label("first_id"),
                func.max(TurnRow.id).label("last_id"),
                func.max(TurnRow.created_at).label("updated_at"),
                func.count().label("turns"),
            )
            .where(*owner)
            .group_by(TurnRow.conversation_id)
            .subquery()
        )
        # Turn ids only grow, so the last id orders by recency without trusting clocks.
        stmt = (
            select(agg.c.cid, agg.c.updated_at, agg.c.turns, TurnRow.content)
            .join(TurnRow, TurnRow.id == agg.c.first_id)
            .order_by(agg.c.last_id.desc())
            .offset(offset)
            .limit(limit)
        )
        with self._session() as s:
            rows = list(s.execute(stmt).tuples())
        return [
            ConversationSummary(cid, conversation_title(first), updated, int(turns))
            for cid, updated, turns, first in rows
        ]

    def transcript(
        self, conversation_id: str, principal: Principal, *, limit: int = 1000
    ) -> list[StoredTurn]:
        """The last ``limit`` turns of the principal's conversation, oldest first, each
        assistant turn with its answer's citations and rating.

        Raises:
            NotFoundError: no such conversation of this principal (someone else's included).
        """
        answer_of_mine = (
            (AnswerRow.answer_id == TurnRow.answer_id)
            & (AnswerRow.tenant == principal.tenant)
            & (AnswerRow.user == principal.user)
        )
        stmt = (
            select(
                TurnRow,
                AnswerRow.citations,
                AnswerRow.context,
                AnswerRow.no_answer,
                FeedbackRow.rating,
            )
            .outerjoin(AnswerRow, answer_of_mine)
            .outerjoin(FeedbackRow, FeedbackRow.answer_id == AnswerRow.answer_id)
            .where(*self._mine(conversation_id, principal))
            .order_by(TurnRow.id.desc())
            .limit(limit)
        )
        with self._session() as s:
            rows = list(s.execute(stmt).tuples())[::-1]
        if not rows:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        return [
            StoredTurn(
                role="assistant" if turn.role == "assistant" else "user",
                content=turn.content,
                answer_id=turn.answer_id,
                created_at=turn.created_at,
                citations=list(citations or []) if turn.role == "assistant" else [],
                no_answer=bool(no_answer) and turn.role == "assistant",
                rating=rating if turn.role == "assistant" else None,
                passages=sorted(passage_ids(context, citations))
                if turn.role == "assistant"
                else [],
            )
            for turn, citations, context, no_answer, rating in rows
        ]
