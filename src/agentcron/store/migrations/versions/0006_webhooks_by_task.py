"""webhooks: index by (account_id, task_id), for the outbox's lookup of the webhooks a notice matches

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhooks_account_task", "webhooks", ["account_id", "task_id"])


def downgrade() -> None:
    op.drop_index("ix_webhooks_account_task", table_name="webhooks")
