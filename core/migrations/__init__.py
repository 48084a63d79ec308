"""Alembic revisions of deepwell's database (see :mod:`core.migrate`)."""
