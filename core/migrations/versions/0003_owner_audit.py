"""Document owners and the audit trail.

``documents.owner``: the user who uploaded a document (may delete or replace it);
uploads made before this revision get it from their ``upload://tenant/user/name`` URI.
``audit_events``: who changed what (deletions, keys, exports).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    if "owner" not in columns:  # a database made by create_all already has it
        with op.batch_alter_table("documents") as batch:
            batch.add_column(sa.Column("owner", sa.String(length=256), nullable=True))
    documents = sa.table(
        "documents",
        sa.column("doc_id", sa.String),
        sa.column("source_uri", sa.Text),
        sa.column("owner", sa.String),
    )
    bind = op.get_bind()
    uploads = bind.execute(
        sa.select(documents.c.doc_id, documents.c.source_uri).where(
            documents.c.source_uri.like("upload://%"), documents.c.owner.is_(None)
        )
    ).all()
    for doc_id, uri in uploads:
        parts = uri.removeprefix("upload://").split("/")
        if len(parts) >= 3:
            bind.execute(
                documents.update()
                .where(documents.c.doc_id == doc_id)
                .values(owner=unquote(parts[1]))
            )
    op.create_table(
        "audit_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("user", sa.String(length=256), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        if_not_exists=True,
    )
    op.create_index("ix_audit_tenant_at", "audit_events", ["tenant", "at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_audit_tenant_at", table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("owner")
