"""Alembic's entry point: migrate the connection :mod:`core.migrate` hands over.

Run outside deepwell (``alembic -c ...``), it opens the database of the settings.
``--sql`` (offline mode) prints the SQL for a DBA to review instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.db import Base, make_engine
from core.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=get_settings().database_url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:
    engine = make_engine(get_settings())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
