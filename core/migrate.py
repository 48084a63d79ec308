"""Schema migrations: Alembic revisions for every table on :class:`core.db.Base`.

The revisions live in ``core/migrations/versions`` and ship inside the package; no
``alembic.ini`` is needed. Servers and CLI commands call :func:`ensure_schema` at
start-up (``alembic upgrade head``, a single cheap query when the database is
already current); a deploy job can run ``deepwell db upgrade`` instead and set
``database.migrate_on_start = false``.

SQLite runs ALTERs in batch mode (table copy); PostgreSQL migrates inside one
transaction under an advisory lock, so several replicas starting at once migrate
once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from core.db import Base
from core.errors import ConfigError
from core.logging import get_logger
from core.settings import Settings

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: pg_advisory_xact_lock key of schema migrations (any constant shared by all replicas).
ADVISORY_LOCK_KEY = 0x64656570  # "deep"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config over the packaged revisions, bound to ``connection`` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision the code knows."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise ConfigError(f"schema migrations have {len(heads)} heads {heads}: merge them")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine, revision: str = "head") -> bool:
    """Migrate the database to ``revision``; returns whether anything ran.

    Idempotent and cheap when the database is current. Databases created before
    migrations existed (tables made by ``create_all``) are adopted: the first
    revision creates only what is missing.
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return False
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            # Take the write lock first: two processes starting at once migrate one by one.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("db.migrated", before=before, after=after, backend=engine.dialect.name)
    return before != after


def ensure_schema(engine: Engine, settings: Settings) -> None:
    """Bring the schema to head (``database.migrate_on_start``), or check it is there.

    Raises :class:`ConfigError` when migrations are off and the database is behind.
    """
    if settings.database.migrate_on_start:
        upgrade_schema(engine)
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise ConfigError(
            f"the database schema is at revision {current or 'none'}, this deepwell needs "
            f"{head}: run `deepwell db upgrade` (or set database.migrate_on_start = true)"
        )


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: none).

    Every table module must be imported first (its class registers on ``Base``).
    """
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": conn.dialect.name == "sqlite"}
        )
        return list(compare_metadata(ctx, Base.metadata))
