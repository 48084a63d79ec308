"""The audit trail: who changed what, kept in the database next to the registry.

Every change to access or content made through the API — a document deleted, a key
created or revoked, feedback exported — is one row: when, which principal and key,
what was done to which object, and a few named details (never document text or
secrets). Admins read their own tenant's trail (``GET /v1/admin/audit``); each
event is also logged as a structured line.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core import Base, Principal, get_logger

log = get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class AuditRow(Base):
    __tablename__ = "audit_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    tenant: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(256))
    key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_tenant_at", "tenant", "at"),)


class AuditLog:
    """Append and read audit events."""

    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def record(
        self,
        principal: Principal,
        key_id: str | None,
        action: str,
        target: str,
        **detail: Any,
    ) -> AuditRow:
        """Store one event (and log it): ``action`` on ``target`` by ``principal``."""
        row = AuditRow(
            event_id=str(uuid.uuid4()),
            at=_now(),
            tenant=principal.tenant,
            user=principal.user,
            key_id=key_id,
            action=action,
            target=target,
            detail=detail,
        )
        with self._session() as s, s.begin():
            s.add(row)
        log.info(
            "audit." + action,
            tenant=principal.tenant,
            user=principal.user,
            key_id=key_id,
            target=target,
            detail=detail,
        )
        return row

    def events(self, tenant: str, *, limit: int = 100, offset: int = 0) -> list[AuditRow]:
        """A tenant's events, newest first."""
        stmt = (
            select(AuditRow)
            .where(AuditRow.tenant == tenant)
            .order_by(AuditRow.at.desc(), AuditRow.event_id)
            .offset(offset)
            .limit(limit)
        )
        with self._session() as s:
            return list(s.scalars(stmt))
