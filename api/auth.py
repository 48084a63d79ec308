"""API keys and roles: who is calling, and what they may do.

A key is a random ``dw_`` token (256 bits) shown once when it is created; the
database keeps only its SHA-256 and a short visible prefix (``dw_AbCd1234``) to
tell keys apart in listings. Each key maps to a principal (user, groups,
tenant) and a role:

- ``reader``: search, answer, chat, feedback, list and read the documents its ACL allows;
- ``writer``: also upload and delete documents (within what it may read);
- ``admin``: also folder-sync jobs, everyone's jobs, the tenant's feedback export.

Roles never widen what a principal may *read*: that is the ACL alone
(:mod:`retrieval.acl`). Keys live in the same database as the document registry.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO, get_args

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, DateTime, Engine, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core import (
    AuthenticationError,
    Base,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    Principal,
    Role,
    Settings,
    get_logger,
    upgrade_schema,
)

log = get_logger(__name__)

KEY_PREFIX = "dw_"
#: Characters of the key shown in listings (``dw_`` and 8 of the random part).
VISIBLE_CHARS = 11
ROLES: tuple[Role, ...] = get_args(Role)
_RANK = {role: i for i, role in enumerate(ROLES)}  # reader < writer < admin
DEV_USER = "dev"
#: What the client hears for every key that does not authenticate (malformed, unknown, revoked).
INVALID_KEY = "invalid API key"


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex (keys are random, so no salt is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh key: ``dw_`` and 43 URL-safe characters (32 random bytes)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _now() -> datetime:
    return datetime.now(UTC)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    user: Mapped[str] = mapped_column(String(256))
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request: the principal and the key it used."""

    principal: Principal
    key_id: str | None
    key_prefix: str | None

    @property
    def rate_key(self) -> str:
        return self.key_id or f"user:{self.principal.user}"


class KeyInfo(BaseModel):
    """A key as listings show it (never the secret), read from its row's attributes."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    key_id: str
    prefix: str
    name: str
    user: str
    groups: list[str]
    tenant: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> KeyInfo:
        return cls.model_validate(row)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "prefix": self.prefix,
            "name": self.name,
            "user": self.user,
            "groups": self.groups,
            "tenant": self.tenant,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def has_role(principal: Principal, role: Role) -> bool:
    """Whether ``principal``'s role is ``role`` or above (reader < writer < admin)."""
    return _RANK[principal.role] >= _RANK[role]


def require_role(principal: Principal, role: Role, what: str) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` has ``role`` or above."""
    if not has_role(principal, role):
        raise PermissionDeniedError(
            f"{what} needs the {role} role; this key has the {principal.role} role"
        )


def _clean_name(value: str, what: str) -> str:
    text = value.strip()
    if not text or len(text) > 256 or any(ord(ch) < 32 for ch in text):
        raise InvalidInputError(f"{what} {value!r}: 1-256 printable characters")
    return text


class KeyStore:
    """API keys in the database: create, list, revoke, authenticate."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create_schema(self) -> None:
        """Bring the database to the current schema (every table; see :mod:`core.migrate`)."""
        upgrade_schema(self.engine)

    def create(
        self,
        *,
        user: str,
        groups: list[str] | tuple[str, ...] = (),
        tenant: str = "default",
        role: str = "reader",
        name: str = "",
    ) -> tuple[KeyInfo, str]:
        """A new key for this principal; returns its record and the secret (shown once)."""
        if role not in ROLES:
            raise InvalidInputError(f"role {role!r}: use one of {', '.join(ROLES)}")
        clean_groups = sorted({_clean_name(g.removeprefix("group:"), "group") for g in groups})
        secret = new_key()
        row = ApiKeyRow(
            key_id=str(uuid.uuid4()),
            prefix=secret[:VISIBLE_CHARS],
            key_sha256=hash_key(secret),
            name=name.strip(),
            user=_clean_name(user.removeprefix("user:"), "user"),
            groups=clean_groups,
            tenant=_clean_name(tenant, "tenant"),
            role=role,
            created_at=_now(),
        )
        with self._session() as s, s.begin():
            s.add(row)
        log.info("auth.key_created", key_id=row.key_id, prefix=row.prefix, role=role)
        return KeyInfo.of(row), secret

    def list(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        stmt = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
        if not include_revoked:
            stmt = stmt.where(ApiKeyRow.revoked_at.is_(None))
        with self._session() as s:
            return [KeyInfo.of(r) for r in s.scalars(stmt)]

    def count_active(self) -> int:
        stmt = select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
        with self._session() as s:
            return int(s.scalar(stmt) or 0)

    def revoke(self, key_id_or_prefix: str) -> KeyInfo:
        """Revoke a key by id (or its unique visible prefix); idempotent for revoked keys."""
        with self._session() as s, s.begin():
            row = s.get(ApiKeyRow, key_id_or_prefix)
            if row is None:
                rows = list(
                    s.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == key_id_or_prefix))
                )
                if len(rows) != 1:
                    raise NotFoundError(f"no key {key_id_or_prefix!r}")
                row = rows[0]
            if row.revoked_at is None:
                row.revoked_at = _now()
        log.info("auth.key_revoked", key_id=row.key_id, prefix=row.prefix)
        return KeyInfo.of(row)

    def authenticate(self, secret: str) -> Caller:
        """The caller a presented key stands for; :class:`AuthenticationError` if none.

        Malformed, unknown and revoked keys get the same message, so a client cannot tell
        a key that once worked from one that never did; the server log says which (a
        warning with the key's id and prefix when it was revoked; never the secret).
        """
        if not secret.startswith(KEY_PREFIX) or len(secret) > 256:
            log.warning("auth.key_rejected", reason="malformed")
            raise AuthenticationError(INVALID_KEY)
        digest = hash_key(secret)
        with self._session() as s:
            row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_sha256 == digest)).first()
        # The lookup is by hash, so timing says nothing about the secret; compare anyway.
        if row is None or not secrets.compare_digest(row.key_sha256, digest):
            log.warning("auth.key_rejected", reason="unknown")
            raise AuthenticationError(INVALID_KEY)
        if row.revoked_at is not None:
            log.warning("auth.key_rejected", reason="revoked", key_id=row.key_id, prefix=row.prefix)
            raise AuthenticationError(INVALID_KEY)
        principal = Principal(
            user=row.user,
            groups=tuple(row.groups),
            tenant=row.tenant,
            role=row.role,
        )
        return Caller(principal, row.key_id, row.prefix)


def dev_caller(settings: Settings) -> Caller:
    """The principal of development mode: user ``dev`` of the default tenant, admin role.

    It reads what its ACL allows like anyone (``user:dev`` and ``*`` documents).
    """
    principal = Principal(user=DEV_USER, tenant=settings.ingest.default_tenant, role="admin")
    return Caller(principal, None, None)


def bootstrap_admin(keys: KeyStore, settings: Settings, out: TextIO | None = None) -> str | None:
    """With no active key and not in development mode: create an admin key and print it once.

    Returns the secret (None when nothing was created).
    """
    if settings.api.dev_mode or not settings.api.bootstrap_admin or keys.count_active():
        return None
    info, secret = keys.create(
        user="admin",
        tenant=settings.ingest.default_tenant,
        role="admin",
        name="first admin (created at first start)",
    )
    lines = [
        "deepwell: no API key existed, so an admin key was created.",
        "It is shown only this once; store it now (e.g. in a password manager):",
        "",
        f"    {secret}",
        "",
        f"key id {info.key_id}, user {info.user!r}, tenant {info.tenant!r}, role admin.",
        "Sign in to the chat page with it, or: curl -H 'Authorization: Bearer <key>' ...",
        "More keys: deepwell keys create --user U --group G --role reader|writer|admin",
    ]
    width = max(len(line) for line in lines) + 2
    box = ["┏" + "━" * width + "┓"]
    box += [f"┃ {line.ljust(width - 2)} ┃" for line in lines]
    box.append("┗" + "━" * width + "┛")
    stream = out or sys.stderr
    stream.write("\n".join(box) + "\n")
    stream.flush()
    log.warning("auth.bootstrap_admin_key_created", key_id=info.key_id, prefix=info.prefix)
    return secret
