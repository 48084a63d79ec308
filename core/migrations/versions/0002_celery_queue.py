"""Upload blobs and dead letters for the Celery ingest queue.

``upload_blobs``: an upload's bytes, readable by workers on any machine.
``dead_letters``: documents whose task failed on every retry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # if_not_exists: a database made by create_all (tests, old releases) is adopted as is.
    op.create_table(
        "dead_letters",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("doc_id", sa.String(length=36), nullable=True),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
        if_not_exists=True,
    )
    for column in ("doc_id", "job_id"):
        op.create_index(f"ix_dead_letters_{column}", "dead_letters", [column], if_not_exists=True)
    op.create_table(
        "upload_blobs",
        sa.Column("doc_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("doc_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("upload_blobs")
    op.drop_index("ix_dead_letters_job_id", table_name="dead_letters")
    op.drop_index("ix_dead_letters_doc_id", table_name="dead_letters")
    op.drop_table("dead_letters")
