"""Failing safely (#12): retry policy, failure pause, token budgets on tasks; retry chains on executions;
per-day token usage; webhooks and their delivery outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("retry_policy", Json, nullable=True))
    op.add_column("tasks", sa.Column("pause_after_failures", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("tasks", sa.Column("token_budget", Json, nullable=True))
    # The slot constraint gains the try number (retries share their slot): SQLite rebuilds the table.
    with op.batch_alter_table("task_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_of", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("try_number", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("not_before", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("missed_since", sa.BigInteger(), nullable=True))
        batch_op.drop_constraint("uq_task_executions_slot", type_="unique")
        batch_op.create_unique_constraint("uq_task_executions_slot", ["task_id", "scheduled_for", "try_number"])
    op.create_index(
        "ix_task_executions_waiting",
        "task_executions",
        ["not_before"],
        postgresql_where=sa.text("state = 'waiting'"),
        sqlite_where=sa.text("state = 'waiting'"),
    )
    op.create_table(
        "token_usage",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Integer(), primary_key=True),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", Json, nullable=False),
        sa.Column("task_id", sa.String(32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_webhooks_account_created", "webhooks", ["account_id", "created_at", "id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("webhook_id", sa.String(32), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_webhook_deliveries_webhook_created", "webhook_deliveries", ["webhook_id", "created_at", "id"])
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_created", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_account_created", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_table("token_usage")
    op.drop_index("ix_task_executions_waiting", table_name="task_executions")
    with op.batch_alter_table("task_executions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_task_executions_slot", type_="unique")
        batch_op.create_unique_constraint("uq_task_executions_slot", ["task_id", "scheduled_for"])
        batch_op.drop_column("missed_since")
        batch_op.drop_column("not_before")
        batch_op.drop_column("try_number")
        batch_op.drop_column("retry_of")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("token_budget")
        batch_op.drop_column("consecutive_failures")
        batch_op.drop_column("pause_after_failures")
        batch_op.drop_column("retry_policy")
