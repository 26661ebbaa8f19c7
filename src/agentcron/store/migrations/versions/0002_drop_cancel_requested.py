"""drop task_executions.cancel_requested (never read, no longer written)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("task_executions", schema=None) as batch_op:
        batch_op.drop_column("cancel_requested")


def downgrade() -> None:

    with op.batch_alter_table("task_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False))
