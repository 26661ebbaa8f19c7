"""Table definitions (SQLAlchemy Core). The single source of the schema: Alembic migrations must produce
exactly this (tests/test_migrations.py compares them). Runtime queries are hand-written SQL in the stores.

All instants are BIGINT epoch milliseconds (UTC); JSON columns are JSONB on PostgreSQL, TEXT-backed JSON
on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    _ts("created_at", False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    _ts("created_at", False),
    #: a label the operator gave the secret (``agentcron token create ACCOUNT --name LABEL``)
    sa.Column("name", sa.Text, nullable=True),
    #: when a request last used the secret, to the minute (`AccountStore.account_for_secret`)
    _ts("last_used_at"),
)

bots = sa.Table(
    "bots",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("alias", sa.Text, nullable=True),
    sa.Column("blueprint_id", sa.String(64), nullable=True),
    sa.Column("backstory", sa.Text, nullable=True),
    sa.Column("model", sa.Text, nullable=True),
    sa.Column("dataset_id", sa.String(64), nullable=True),
    sa.Column("skillset_id", sa.String(64), nullable=True),
    sa.Column("privacy", sa.Boolean, nullable=True),
    sa.Column("moderation", sa.Boolean, nullable=True),
    sa.Column("visibility", sa.Text, nullable=True),
    sa.Column("abilities", Json, nullable=True),
    sa.Column("meta", Json, nullable=True),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index("ix_bots_account_created", "account_id", "created_at", "id"),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=True),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("phone", sa.Text, nullable=True),
    sa.Column("nick", sa.Text, nullable=True),
    sa.Column("preferences", sa.Text, nullable=True),
    _ts("verified_at"),
    sa.Column("meta", Json, nullable=True),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index("ix_contacts_account_created", "account_id", "created_at", "id"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("blueprint_id", sa.String(64), nullable=True),
    sa.Column("bot_id", sa.String(32), nullable=True),
    sa.Column("contact_id", sa.String(32), nullable=True),
    sa.Column("schedule", sa.Text, nullable=True),
    sa.Column("timezone", sa.Text, nullable=True),
    sa.Column("session_duration", sa.BigInteger, nullable=True),
    sa.Column("max_iterations", sa.Integer, nullable=True),
    sa.Column("max_time", sa.BigInteger, nullable=True),
    sa.Column("max_calls", sa.Integer, nullable=True),
    sa.Column("overlap_policy", sa.String(16), nullable=False, server_default="skip"),
    sa.Column("misfire_policy", sa.String(16), nullable=False, server_default="coalesce"),
    sa.Column("meta", Json, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="idle"),
    sa.Column("outcome", sa.String(16), nullable=False, server_default="pending"),
    #: Slots missed while the service was down, covered by the last catch-up run.
    sa.Column("missed_count", sa.Integer, nullable=False, server_default="0"),
    _ts("last_run_at"),
    _ts("next_run_at"),
    _ts("expires_at"),
    #: Set by delete while an execution runs: the task disappears when that execution ends.
    _ts("deleted_at"),
    _ts("created_at", False),
    _ts("updated_at", False),
    #: Paused (task/{id}/pause): no scheduled slot fires (next_run_at is NULL) until resumed, by hand or
    #: when paused_until arrives.
    _ts("paused_at"),
    sa.Column("pause_reason", sa.Text, nullable=True),
    _ts("paused_until"),
    #: Failure handling (#12): ``{"maxAttempts", "initialDelayMs", "maxDelayMs", "multiplier"}`` or NULL.
    sa.Column("retry_policy", Json, nullable=True),
    #: Pause the task after this many consecutive failed slots (NULL: never).
    sa.Column("pause_after_failures", sa.Integer, nullable=True),
    #: Failed slots in a row (a slot counts once, after its last attempt); a success resets it.
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    #: ``{"limit", "period": "day"|"week"|"month"}`` or NULL, counted in the task's timezone.
    sa.Column("token_budget", Json, nullable=True),
    #: Bumped by every UPDATE of the row (each of the store's statements says ``version = version + 1``): on
    #: SQLite, with the id, the key of the row's wire JSON that list pages reuse (`store/row_json.py`;
    #: PostgreSQL keys on ``xmin``).
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_tasks_account_created", "account_id", "created_at", "id"),
    sa.Index("ix_tasks_account_bot", "account_id", "bot_id"),
    sa.Index("ix_tasks_account_contact", "account_id", "contact_id"),
    sa.Index("ix_tasks_due", "next_run_at"),
    sa.Index(
        "ix_tasks_expires",
        "expires_at",
        postgresql_where=sa.text("expires_at IS NOT NULL"),
        sqlite_where=sa.text("expires_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_tasks_paused_until",
        "paused_until",
        postgresql_where=sa.text("paused_until IS NOT NULL"),
        sqlite_where=sa.text("paused_until IS NOT NULL"),
    ),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("bot_id", sa.String(32), nullable=True),
    sa.Column("contact_id", sa.String(32), nullable=True),
    sa.Column("task_id", sa.String(32), nullable=True),
    sa.Column("meta", Json, nullable=True),
    _ts("expires_at"),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index("ix_conversations_account_created", "account_id", "created_at", "id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), nullable=False),
    sa.Column(
        "conversation_id",
        sa.String(32),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("meta", Json, nullable=True),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
)

executions = sa.Table(
    "task_executions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), nullable=False),
    sa.Column("task_id", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("meta", Json, nullable=True),
    sa.Column("conversation_id", sa.String(32), nullable=True),
    #: Wire status: idle | running | canceled; wire outcome: pending | success | failure.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    #: Internal life cycle: queued -> running -> done (skipped slots are born done).
    sa.Column("state", sa.String(16), nullable=False),
    #: schedule | trigger | catchup | skip
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    #: The slot this execution fires (NULL for manual triggers): unique per task, so firing is idempotent.
    _ts("scheduled_for"),
    sa.Column("missed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("worker_id", sa.String(64), nullable=True),
    _ts("lease_until"),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("model_requests", sa.Integer, nullable=False, server_default="0"),
    _ts("started_at"),
    _ts("completed_at"),
    _ts("resume_at"),
    _ts("created_at", False),
    _ts("updated_at", False),
    #: Retries (#12): the first execution of the chain (NULL for a first attempt) and which try this is
    #: (1, 2, ...; wire ``attempt``; the ``attempt`` column counts claims, for lease fencing).
    sa.Column("retry_of", sa.String(32), nullable=True),
    sa.Column("try_number", sa.Integer, nullable=False, server_default="1"),
    #: A retry waits (state ``waiting``) until this instant, then is queued.
    _ts("not_before"),
    #: A catch-up run: the first slot it stands for (the agent is told how many it missed since when).
    _ts("missed_since"),
    # One execution per slot and try: firing stays idempotent (first tries), retries share the slot.
    sa.UniqueConstraint("task_id", "scheduled_for", "try_number", name="uq_task_executions_slot"),
    sa.Index("ix_task_executions_task_created", "task_id", "created_at", "id"),
    sa.Index("ix_task_executions_created", "created_at"),
    # Partial indexes stay small however long the history grows: the hot queries only touch live rows.
    sa.Index(
        "ix_task_executions_queued",
        "created_at",
        "id",  # the claim's ORDER BY: without it every claim sorts the whole queue
        postgresql_where=sa.text("state = 'queued'"),
        sqlite_where=sa.text("state = 'queued'"),
    ),
    sa.Index(
        "ix_task_executions_running",
        "lease_until",
        postgresql_where=sa.text("state = 'running'"),
        sqlite_where=sa.text("state = 'running'"),
    ),
    # Live executions by task (overlap checks; "does another run of this task still run?") and by account
    # (the concurrency cap). Queries repeat the exact predicate so both databases use these indexes.
    sa.Index(
        "ix_task_executions_active",
        "task_id",
        postgresql_where=sa.text("state IN ('queued', 'running')"),
        sqlite_where=sa.text("state IN ('queued', 'running')"),
    ),
    sa.Index(
        "ix_task_executions_waiting",
        "not_before",
        postgresql_where=sa.text("state = 'waiting'"),
        sqlite_where=sa.text("state = 'waiting'"),
    ),
    sa.Index(
        "ix_task_executions_account_active",
        "account_id",
        postgresql_where=sa.text("state IN ('queued', 'running')"),
        sqlite_where=sa.text("state IN ('queued', 'running')"),
    ),
)

task_events = sa.Table(
    "task_events",
    metadata,
    sa.Column("task_id", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("account_id", sa.String(32), nullable=False),
    sa.Column("execution_id", sa.String(32), nullable=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", Json, nullable=False),
    _ts("created_at", False),
)

#: Executions started per account per hour: the rolling-day limit sums 24 of these (bounded work).
account_usage = sa.Table(
    "account_usage",
    metadata,
    sa.Column("account_id", sa.String(32), primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True),
    sa.Column("executions", sa.Integer, nullable=False),
)

#: Tokens (input + output) used per owner (a task, or an account for the account-wide cap) per day. ``day``
#: is the local date (YYYYMMDD) in the task's timezone (UTC for an account): a week or a month sums at
#: most 31 rows, and a DST change never splits a day.
token_usage = sa.Table(
    "token_usage",
    metadata,
    sa.Column("owner_id", sa.String(32), primary_key=True),
    sa.Column("day", sa.Integer, primary_key=True),
    sa.Column("tokens", sa.BigInteger, nullable=False),
)

#: Webhook endpoints (#12): an account's subscriptions to run and task events, signed per the Standard
#: Webhooks specification with ``secret`` (``whsec_`` + base64; shown once, at create).
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    #: the event types delivered (a JSON array of strings)
    sa.Column("events", Json, nullable=False),
    #: only this task's events (NULL: every task of the account)
    sa.Column("task_id", sa.String(32), nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("secret", sa.Text, nullable=False),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index("ix_webhooks_account_created", "account_id", "created_at", "id"),
    # the outbox's lookup: an account's webhooks of these tasks, and those of every task (task_id NULL)
    sa.Index("ix_webhooks_account_task", "account_id", "task_id"),
)

#: The outbox: one row per event per webhook, written in the transaction of the change it reports, and
#: delivered (at least once) by the deliverer off the run's path.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(32), nullable=False),
    sa.Column("webhook_id", sa.String(32), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    #: the exact body sent (and signed), JSON text
    sa.Column("payload", sa.Text, nullable=False),
    #: pending | delivered | failed (gave up)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    _ts("next_attempt_at"),
    #: held by a deliverer until then (a process that dies mid-delivery lets it lapse)
    _ts("lease_until"),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    _ts("delivered_at"),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at", "id"),
    sa.Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
)
