"""Document metadata on documents: issuer, document type, period.

``documents.issuer``, ``doc_type``, ``period`` (in words) and ``period_end``, plus
``docmeta`` (all that ingest.docmeta read, JSON). NULL for documents ingested before
this revision (they fill in on re-ingest) and where nothing could be read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("doc_type", sa.String(length=64), nullable=True),
        sa.Column("period", sa.String(length=128), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("docmeta", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    missing = [c for c in _columns() if c.name not in present]
    if missing:  # a database made by create_all already has them
        with op.batch_alter_table("documents") as batch:
            for column in missing:
                batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
