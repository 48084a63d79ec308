"""Initial schema: registry, API keys, answers, feedback, conversations, ingest jobs, eval.

The baseline of databases created before migrations existed (``create_all``): every
table and index is created only if missing, so such a database is adopted as is.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _table(
    name: str, *items: sa.schema.SchemaItem, indexes: Sequence[tuple[str, ...]] = ()
) -> None:
    """Create ``name`` and its indexes (``(column, ...)``, ``!`` before the first: unique)."""
    op.create_table(name, *items, if_not_exists=True)
    for columns in indexes:
        unique = columns[0].startswith("!")
        cols = [columns[0].lstrip("!"), *columns[1:]]
        index_name = f"ix_{name}_{cols[0]}" if len(cols) == 1 else "ix_turns_owner"
        op.create_index(index_name, name, cols, unique=unique, if_not_exists=True)


def _str(name: str, length: int, *, null: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=null)


def _text(name: str, *, null: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=null)


def _int(name: str, *, null: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=null)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _time(name: str, *, null: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=null)


def upgrade() -> None:
    _table(
        "answers",
        _str("answer_id", 36),
        _str("tenant", 128),
        _str("user", 256),
        _str("key_id", 36, null=True),
        _text("question"),
        _text("query"),
        _text("answer"),
        _json("citations"),
        _json("context"),
        _text("context_text"),
        sa.Column("no_answer", sa.Boolean(), nullable=False),
        _json("model"),
        _str("conversation_id", 128, null=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("answer_id"),
        indexes=[("tenant",), ("user",)],
    )
    _table(
        "api_keys",
        _str("key_id", 36),
        _str("prefix", 16),
        _str("key_sha256", 64),
        _text("name"),
        _str("user", 256),
        _json("groups"),
        _str("tenant", 128),
        _str("role", 16),
        _time("created_at"),
        _time("revoked_at", null=True),
        sa.PrimaryKeyConstraint("key_id"),
        indexes=[("!key_sha256",), ("tenant",)],
    )
    _table(
        "chunk_owners",
        _str("tenant", 128),
        _str("dedup_key", 64),
        _str("doc_id", 36),
        sa.PrimaryKeyConstraint("tenant", "dedup_key"),
        indexes=[("doc_id",)],
    )
    _table(
        "conversation_turns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _str("tenant", 128),
        _str("user", 256),
        _str("conversation_id", 128),
        _str("role", 16),
        _text("content"),
        _text("query", null=True),
        _str("answer_id", 36, null=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id"),
        indexes=[("tenant", "user", "conversation_id", "id")],
    )
    _table(
        "documents",
        _str("doc_id", 36),
        _str("tenant", 128),
        _text("source_uri"),
        _text("filename"),
        _str("content_sha256", 64),
        _int("version"),
        sa.Column(
            "state",
            sa.Enum(
                "discovered", "parsed", "indexed", "failed", name="docstate", native_enum=False
            ),
            nullable=False,
        ),
        _text("error", null=True),
        _str("pipeline_signature", 64),
        _json("acl"),
        _json("metadata"),
        _int("size_bytes"),
        _str("file_type", 128, null=True),
        _text("title", null=True),
        _int("pages"),
        _json("chunk_ids"),
        _json("dropped"),
        _json("timings"),
        _int("attempts"),
        _time("created_at"),
        _time("updated_at"),
        _time("indexed_at", null=True),
        sa.PrimaryKeyConstraint("doc_id"),
        indexes=[("source_uri",), ("state",), ("tenant",)],
    )
    _table(
        "dropped_duplicates",
        _str("doc_id", 36),
        _str("dedup_key", 64),
        _str("owner_doc_id", 36),
        sa.PrimaryKeyConstraint("doc_id", "dedup_key"),
        indexes=[("owner_doc_id",)],
    )
    _table(
        "eval_datasets",
        _str("name", 128),
        _text("path"),
        _str("format", 16),
        _str("version", 16),
        _int("items"),
        _time("registered_at"),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "eval_runs",
        _str("run_id", 64),
        _time("created_at"),
        _str("dataset", 128),
        _str("dataset_version", 16),
        _text("systems"),
        _str("config_hash", 16),
        _str("git_rev", 64),
        _text("summary"),
        _text("results_path"),
        _time("accepted_at", null=True),
        sa.PrimaryKeyConstraint("run_id"),
        indexes=[("created_at",), ("dataset",)],
    )
    _table(
        "ingest_jobs",
        _str("job_id", 36),
        _str("kind", 16),
        _str("status", 16),
        _str("tenant", 128),
        _str("user", 256),
        _str("key_id", 36, null=True),
        _str("doc_id", 36, null=True),
        _json("params"),
        _int("total", null=True),
        _int("processed"),
        _json("counts"),
        _int("chunks"),
        _json("errors"),
        _text("error", null=True),
        _int("attempts"),
        _time("created_at"),
        _time("started_at", null=True),
        _time("finished_at", null=True),
        sa.PrimaryKeyConstraint("job_id"),
        indexes=[("doc_id",), ("status",), ("tenant",)],
    )
    _table(
        "feedback",
        _str("feedback_id", 36),
        _str("answer_id", 36),
        _str("tenant", 128),
        _str("user", 256),
        _str("rating", 8),
        _text("comment", null=True),
        _text("correction", null=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.answer_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("feedback_id"),
        sa.UniqueConstraint("answer_id"),
        indexes=[("created_at",), ("tenant",), ("user",)],
    )


def downgrade() -> None:
    for name in (
        "feedback",
        "ingest_jobs",
        "eval_runs",
        "eval_datasets",
        "dropped_duplicates",
        "documents",
        "conversation_turns",
        "chunk_owners",
        "api_keys",
        "answers",
    ):
        op.drop_table(name)
