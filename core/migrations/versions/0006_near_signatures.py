"""Near-duplicate signatures in the database, seen by every ingest worker.

``near_signatures`` (a kept chunk's MinHash signature), ``near_bands`` (its LSH bands,
hashed with the tenant and scope) and ``near_scopes`` (one lock row per tenant and access list); see
ingest/signatures.py. Empty after the upgrade: documents ingested before it are not
matched until they are ingested again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # if_not_exists: a database made by create_all (tests) is adopted as is.
    op.create_table(
        "near_signatures",
        sa.Column("chunk_key", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("doc_id", sa.String(length=36), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_key"),
        if_not_exists=True,
    )
    op.create_index("ix_near_signatures_doc_id", "near_signatures", ["doc_id"], if_not_exists=True)
    op.create_table(
        "near_bands",
        sa.Column("band", sa.BigInteger(), nullable=False),
        sa.Column("chunk_key", sa.String(length=64), nullable=False),
        sa.Column("doc_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("band", "chunk_key"),
        if_not_exists=True,
    )
    op.create_index("ix_near_bands_doc_id", "near_bands", ["doc_id"], if_not_exists=True)
    op.create_table(
        "near_scopes",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "scope"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("near_scopes")
    op.drop_index("ix_near_bands_doc_id", table_name="near_bands")
    op.drop_table("near_bands")
    op.drop_index("ix_near_signatures_doc_id", table_name="near_signatures")
    op.drop_table("near_signatures")
