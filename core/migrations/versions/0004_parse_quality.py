"""Parse quality and warnings on documents.

``documents.quality``: signals of a bad extraction and the verdict (ingest.quality);
``documents.warnings``: what the user should know about how the document was read.
Both NULL for documents parsed before this revision (they fill in on re-ingest).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("quality", "warnings")


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    missing = [name for name in _COLUMNS if name not in columns]
    if missing:  # a database made by create_all already has them
        with op.batch_alter_table("documents") as batch:
            for name in missing:
                batch.add_column(sa.Column(name, sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
