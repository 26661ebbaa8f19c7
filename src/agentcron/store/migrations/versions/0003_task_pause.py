"""tasks: paused_at, pause_reason, paused_until (task/{id}/pause and resume)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without defaults: a metadata-only change on PostgreSQL, no table rewrite.
    op.add_column("tasks", sa.Column("paused_at", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("pause_reason", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("paused_until", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_tasks_paused_until",
        "tasks",
        ["paused_until"],
        postgresql_where=sa.text("paused_until IS NOT NULL"),
        sqlite_where=sa.text("paused_until IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_paused_until", table_name="tasks")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("paused_until")
        batch_op.drop_column("pause_reason")
        batch_op.drop_column("paused_at")
