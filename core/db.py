"""The relational database: one SQLAlchemy engine for the registry, keys, feedback and jobs.

SQLite in the embedded default, PostgreSQL in the scaled deployment, same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

from core.errors import BackendUnavailableError
from core.settings import Settings


class Base(DeclarativeBase):
    """Declarative base of every table deepwell owns."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (the API) proceed while the ingest writer commits;
    # busy_timeout turns brief lock contention into waiting instead of errors.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(settings: Settings) -> Engine:
    """An engine for ``settings.database_url``, creating the SQLite directory if needed."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    cfg = settings.database
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        # A database that is down must fail a request within seconds (503), not hang it.
        connect_args["connect_timeout"] = cfg.connect_timeout_s
    # pool_pre_ping: a connection broken by a database restart is replaced, not handed out,
    # so the service recovers by itself once the database is back.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=cfg.pool_size,
        max_overflow=cfg.max_overflow,
        pool_timeout=cfg.connect_timeout_s,
        connect_args=connect_args,
    )


def describe(engine: Engine) -> dict[str, Any]:
    """Backend name and location (password masked), for health reports."""
    url = engine.url
    return {
        "backend": url.get_backend_name(),
        "url": url.render_as_string(hide_password=True),
    }


def ping(engine: Engine) -> None:
    """Round-trip a trivial query; :class:`BackendUnavailableError` when the database is down."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # driver errors vary by backend
        raise BackendUnavailableError(f"database unreachable: {type(exc).__name__}") from exc
