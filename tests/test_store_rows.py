"""Rows <-> domain values (`store/rows.py`), from and into real rows on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from agentcron import ids
from agentcron.domain import (
    BotConfig,
    ExecState,
    Finished,
    MisfirePolicy,
    Outcome,
    OverlapPolicy,
    PlannedRun,
    RunKind,
    SkipReason,
    TaskConfig,
)
from agentcron.store.base import Store
from agentcron.store.resources import BOT, json_in
from agentcron.store.rows import (
    CONVERSATION_COLUMNS,
    EXECUTION_COLUMNS,
    MESSAGE_COLUMNS,
    bot_config,
    chunks,
    conversation_row,
    execution_row,
    message_rows,
    task_config,
    without_nul,
)
from tests.runs_helpers import make_bot, make_task, ms

pytestmark = pytest.mark.anyio

NOW = ms("2026-06-01T10:00:00Z")


async def _row(store: Store, table: str, id_: str) -> dict[str, Any]:
    async with store.db.tx() as tx:
        row = await tx.fetchrow(f"SELECT * FROM {table} WHERE id = $1", id_)
    assert row is not None
    return row


async def _bot_row(store: Store, account: str, **cols: Any) -> dict[str, Any]:
    bot_id = ids.new_id(NOW)
    row = {"id": bot_id, "account_id": account, "name": "b", "description": "", "created_at": NOW, "updated_at": NOW}
    row.update(cols)
    await store.insert(BOT, row)
    return await _row(store, "bots", bot_id)


# -- task_config ----------------------------------------------------------------------------------------


async def test_task_config_reads_every_run_setting_of_a_real_row(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    bot = await make_bot(store, acc, NOW)
    tid = await make_task(
        store,
        acc,
        NOW,
        "0 9 * * *",
        "Europe/Berlin",
        name="Digest",
        description="Summarise",
        bot_id=bot,
        contact_id="contact1",
        max_iterations=7,
        max_time=1_800_000,
        session_duration=600_000,
        max_calls=3,
        overlap_policy="cancelPrevious",
        misfire_policy="all",
    )
    cfg = task_config(await _row(store, "tasks", tid))
    assert cfg == TaskConfig(
        id=tid,
        account_id=acc,
        name="Digest",
        description="Summarise",
        bot_id=bot,
        contact_id="contact1",
        schedule="0 9 * * *",
        timezone="Europe/Berlin",
        max_iterations=7,
        max_time=1_800_000,
        session_duration=600_000,
        max_calls=3,
        overlap_policy=OverlapPolicy.CANCEL_PREVIOUS,
        misfire_policy=MisfirePolicy.ALL,
    )
    assert type(cfg.max_time) is int and type(cfg.session_duration) is int
    assert cfg.deadline.limit == "sessionDuration (600000 ms)"


async def test_task_config_of_a_bare_row_takes_the_column_defaults(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = ids.new_id(NOW)
    async with store.db.tx(write=True) as tx:
        await tx.execute(
            "INSERT INTO tasks (id, account_id, name, description, created_at, updated_at) "
            "VALUES ($1, $2, '', '', $3, $3)",
            tid,
            acc,
            NOW,
        )
    cfg = task_config(await _row(store, "tasks", tid))
    assert cfg == TaskConfig(id=tid, account_id=acc, name="", description="")
    assert (cfg.overlap_policy, cfg.misfire_policy) == (OverlapPolicy.SKIP, MisfirePolicy.COALESCE)
    assert cfg.label == tid


# -- bot_config -----------------------------------------------------------------------------------------


async def test_bot_config_decodes_a_list_of_abilities(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    abilities = [{"type": "time"}, {"type": "wait", "name": "pause", "config": {"seconds": 2}}]
    bot_id = await make_bot(store, acc, NOW, abilities)
    cfg = bot_config(await _row(store, "bots", bot_id))
    assert cfg == BotConfig(id=bot_id, model="test", backstory="", abilities=tuple(abilities))


async def test_bot_config_trims_model_and_backstory_and_reads_null_as_empty(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    row = await _bot_row(store, acc, model="  openai:gpt-4o \n", backstory="\n You are terse. ")
    assert bot_config(row) == BotConfig(id=row["id"], model="openai:gpt-4o", backstory="You are terse.")
    bare = await _bot_row(store, acc)  # model, backstory and abilities NULL
    assert bot_config(bare) == BotConfig(id=bare["id"], model="", backstory="", abilities=())


@pytest.mark.parametrize("value", [{"type": "time"}, "time", 3, True, None])
async def test_bot_config_reads_abilities_that_are_not_a_list_as_none(store: Store, value: Any) -> None:
    acc = await store.accounts.create_account("a", NOW)
    row = await _bot_row(store, acc, abilities=json_in(value))
    assert bot_config(row).abilities == ()


def test_bot_config_accepts_an_already_decoded_value_and_bytes() -> None:
    base = {"id": "b1", "model": None, "backstory": None}
    assert bot_config({**base, "abilities": [{"type": "time"}]}).abilities == ({"type": "time"},)
    assert bot_config({**base, "abilities": b'[{"type": "time"}]'}).abilities == ({"type": "time"},)
    assert bot_config({**base, "abilities": {"type": "time"}}).abilities == ()


# -- execution_row --------------------------------------------------------------------------------------


def _task() -> TaskConfig:
    return TaskConfig("t1", "a1", "Digest", "Summarise")


def _named(row: tuple[Any, ...]) -> dict[str, Any]:
    assert len(row) == len(EXECUTION_COLUMNS)
    return {name: v for (name, _), v in zip(EXECUTION_COLUMNS, row, strict=True)}


def test_execution_row_of_a_queued_run() -> None:
    run = PlannedRun(_task(), RunKind.CATCHUP, NOW - 500, missed_count=2, missed_since=NOW - 1500)
    r = _named(execution_row(run, NOW))
    assert run.execution_id and r["id"] == run.execution_id and ids.id_time(run.execution_id) == NOW
    assert r == {
        "id": run.execution_id,
        "account_id": "a1",
        "task_id": "t1",
        "name": "Digest",
        "description": "Summarise",
        "status": "idle",
        "outcome": "pending",
        "state": "queued",
        "kind": "catchup",
        "reason": None,
        "summary": None,
        "scheduled_for": NOW - 500,
        "missed_count": 2,
        "missed_since": NOW - 1500,
        "completed_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    for col in ("status", "outcome", "state", "kind"):
        assert type(r[col]) is str, col  # plain strings, not enum members


def test_execution_row_keeps_a_given_id() -> None:
    run = PlannedRun(_task(), RunKind.TRIGGER, None, execution_id="given")
    assert _named(execution_row(run, NOW))["id"] == "given"
    assert run.execution_id == "given"


def test_execution_row_of_a_dispatched_run_is_born_running() -> None:
    run = PlannedRun(_task(), RunKind.CATCHUP, NOW)
    r = _named(execution_row(run, NOW, ExecState.RUNNING))
    assert (r["status"], r["outcome"], r["state"], r["kind"], r["completed_at"]) == (
        "running",
        "pending",
        "running",
        "catchup",
        None,
    )
    assert all(type(r[c]) is str for c in ("status", "outcome", "state", "kind"))


def test_execution_row_of_a_skipped_slot_is_born_done_even_when_asked_running() -> None:
    for state in (ExecState.QUEUED, ExecState.RUNNING):
        run = PlannedRun(_task(), RunKind.SKIP, NOW, 1, SkipReason.OVERLAP, "Skipped: still running")
        r = _named(execution_row(run, NOW, state))
        assert (r["status"], r["outcome"], r["state"], r["kind"], r["reason"], r["summary"]) == (
            "canceled",
            "failure",
            "done",
            "skip",
            "overlap",
            "Skipped: still running",
        )
        assert r["completed_at"] == NOW
        assert all(type(r[c]) is str for c in ("status", "outcome", "state", "kind", "reason"))


async def test_execution_rows_fit_the_executions_table(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, None, name="Digest")
    async with store.db.tx() as tx:
        task = task_config(await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", tid) or {})
    queued = PlannedRun(task, RunKind.TRIGGER, None)
    skipped = PlannedRun(task, RunKind.SKIP, NOW, 0, SkipReason.LIMITS, "Skipped: limits")
    async with store.db.tx(write=True) as tx:
        await tx.insert_many("task_executions", EXECUTION_COLUMNS, [execution_row(queued, NOW)], "")
        await tx.insert_many("task_executions", EXECUTION_COLUMNS, [execution_row(skipped, NOW)], "")
    q = await _row(store, "task_executions", queued.execution_id)
    s = await _row(store, "task_executions", skipped.execution_id)
    assert (q["state"], q["status"], q["outcome"], q["kind"], q["scheduled_for"], q["attempt"]) == (
        "queued",
        "idle",
        "pending",
        "trigger",
        None,
        0,
    )
    assert (s["state"], s["status"], s["reason"], s["completed_at"], s["created_at"]) == (
        "done",
        "canceled",
        "limits",
        NOW,
        NOW,
    )


# -- without_nul ----------------------------------------------------------------------------------------


def _finished(summary: str, messages: list[tuple[str, str]]) -> Finished:
    return Finished("e1", 1, "t1", Outcome.SUCCESS, summary, messages=messages, account_id="a1", conversation_id="c1")


def test_without_nul_returns_a_clean_result_itself() -> None:
    r = _finished("fine", [("bot", "also fine")])
    assert without_nul(r) is r


def test_without_nul_strips_nul_from_summary_and_messages_only() -> None:
    r = _finished("a\x00b\x00", [("user", "ok"), ("bot", "x\x00y")])
    clean = without_nul(r)
    assert clean is not r
    assert clean.summary == "ab"
    assert list(clean.messages) == [("user", "ok"), ("bot", "xy")]
    assert (clean.execution_id, clean.attempt, clean.outcome, clean.conversation_id) == ("e1", 1, Outcome.SUCCESS, "c1")
    assert r.summary == "a\x00b\x00" and r.messages == [("user", "ok"), ("bot", "x\x00y")]  # not mutated


def test_without_nul_in_a_message_only() -> None:
    clean = without_nul(_finished("fine", [("bot", "\x00")]))
    assert clean.summary == "fine" and list(clean.messages) == [("bot", "")]


# -- message_rows ---------------------------------------------------------------------------------------


def test_message_rows_are_timed_now_now_plus_one_and_so_on() -> None:
    a = _finished("ok", [("user", "u"), ("bot", "b"), ("activity", "act")])
    b = Finished("e2", 1, "t2", Outcome.FAILURE, "x", messages=[("user", "u2")], account_id="a2", conversation_id="c2")
    rows = message_rows([a, b], NOW)
    assert [r[1:] for r in rows] == [
        ("a1", "c1", "user", "u", NOW, NOW),
        ("a1", "c1", "bot", "b", NOW + 1, NOW),
        ("a1", "c1", "activity", "act", NOW + 2, NOW),
        ("a2", "c2", "user", "u2", NOW, NOW),  # each conversation starts at now
    ]
    assert [ids.id_time(r[0]) for r in rows] == [NOW, NOW + 1, NOW + 2, NOW]
    assert len({r[0] for r in rows}) == 4
    assert all(len(r) == len(MESSAGE_COLUMNS) for r in rows)


def test_message_rows_skip_results_without_a_conversation() -> None:
    r = Finished("e1", 1, "t1", Outcome.SUCCESS, "ok", messages=[("user", "u")], account_id="a1")
    assert message_rows([r], NOW) == []
    assert message_rows([_finished("ok", [])], NOW) == []


async def test_conversation_and_message_rows_fit_their_tables_in_order(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    task = TaskConfig("t1", acc, "Digest", "Summarise", bot_id="b1", contact_id="k1")
    conv = ids.new_id(NOW)
    done = Finished(
        "e1", 1, "t1", Outcome.SUCCESS, "ok", messages=[("user", "Digest"), ("bot", "done")], account_id=acc
    )
    done.conversation_id = conv
    async with store.db.tx(write=True) as tx:
        await tx.insert_rows(
            "conversations", [c for c, _ in CONVERSATION_COLUMNS], [conversation_row(conv, acc, task, NOW)]
        )
        await tx.insert_rows("messages", [c for c, _ in MESSAGE_COLUMNS], message_rows([done], NOW))
    c = await _row(store, "conversations", conv)
    assert (c["task_id"], c["bot_id"], c["contact_id"], c["name"]) == ("t1", "b1", "k1", "Digest")
    async with store.db.tx() as tx:
        msgs = await tx.fetch(
            "SELECT type, text, created_at FROM messages WHERE conversation_id = $1 ORDER BY created_at, id", conv
        )
    assert [(m["type"], m["text"], m["created_at"]) for m in msgs] == [
        ("user", "Digest", NOW),
        ("bot", "done", NOW + 1),
    ]


def test_chunks_split_in_order() -> None:
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunks([], 2) == []
