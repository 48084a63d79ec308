"""Ingest jobs move by page: ``ingest_jobs.pages_done``, ``pages_total``, ``progress`` and
``updated_at``.

The writer reports the pages of the document it embeds, so a long document's job moves
before the document is done. Jobs recorded before this revision have 0 pages, no
progress (the API falls back to documents done) and no ``updated_at``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAMES = ("pages_done", "pages_total", "progress", "updated_at")


def _column(name: str) -> sa.Column[object]:
    if name in ("pages_done", "pages_total"):
        return sa.Column(name, sa.Integer(), nullable=False, server_default="0")
    if name == "progress":
        return sa.Column(name, sa.Float(), nullable=True)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ingest_jobs")}
    missing = [name for name in _NAMES if name not in columns]
    if missing:  # a database made by create_all already has them
        with op.batch_alter_table("ingest_jobs") as batch:
            for name in missing:
                batch.add_column(_column(name))


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs") as batch:
        for name in reversed(_NAMES):
            batch.drop_column(name)
