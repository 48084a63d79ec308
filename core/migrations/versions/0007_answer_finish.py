"""Why each stored answer ended: ``answers.finish_reason``.

``stop`` (the model finished), ``length`` (llm.max_tokens reached), ``timeout`` or
``error`` (cut off, what was written kept), ``none`` (no model call: nothing relevant).
Feedback exports use it so a cut-off answer never becomes a fine-tuning target. NULL for
answers stored before this revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("answers")}
    if "finish_reason" not in columns:  # a database made by create_all already has it
        with op.batch_alter_table("answers") as batch:
            batch.add_column(sa.Column("finish_reason", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("finish_reason")
