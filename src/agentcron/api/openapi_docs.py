"""What the OpenAPI document (`agentcron.api.openapi`) says in words: a tag, a summary and a description for
every operation, descriptions of the request and response fields, the values of every enum-typed response
field (from `agentcron.domain`) and the answers that are not stored resources. (Abilities: in
`agentcron.api.openapi_abilities`.) A name here that the API does not have (an operation, a field) fails the
document's build."""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin, get_type_hints

import msgspec

from agentcron.api.imports import IMPORT_MAX_BODY, IMPORT_MAX_ROWS
from agentcron.api.schemas import BotWrite, ConversationMessage
from agentcron.domain import ExecStatus, MisfirePolicy, Outcome, OverlapPolicy, RunKind, SkipReason
from agentcron.engine import ability_config as ac
from agentcron.errors import CODES
from agentcron.retries import SUPERSEDED
from agentcron.store.resources import TASK_EXPORT_OMIT

TAGS = [
    {"name": "Tasks", "description": "A bot, a schedule and limits: what runs, when, and for how long."},
    {"name": "Runs", "description": "Executions of a task: trigger, cancel, history and the live event stream."},
    {"name": "Task controls", "description": "Extensions: pause, resume, backfill and schedule previews."},
    {"name": "Bots", "description": "A system prompt (backstory), a model and abilities (the bot's tools)."},
    {"name": "Contacts", "description": "Who a task is for."},
    {"name": "Conversations", "description": "Messages; each execution writes its own conversation."},
]

_PAGING = (
    "Newest first (`order=asc`: oldest first), at most 100 items a page: pass the `cursor` answered to get the "
    "next page. `Accept` picks the format: JSON (a page, the default), JSONL (`application/jsonl`, lines "
    '`{"type":"item","data":...}`), CSV (`text/csv`) or SSE (`text/event-stream`); streams are paged on the '
    "server, up to `take` items. Every list also filters on `meta.KEY=value`."
)
_UPDATE = (
    "Partial: only the fields sent are written (`null` clears one); `meta` is replaced, or merged when sent as "
    '`{"$update": {...}}`. 404 when this account has no such {noun}.'
)
_NOUNS = {"task": "task", "bot": "bot", "contact": "contact", "conversation": "conversation"}
_CREATE_NOTES = {
    "task": (
        "The `schedule` and `timezone` are checked (400 `Invalid schedule: ...`) and `nextRunAt` computed; "
        "`botId` and `contactId` must name this account's bot and contact (404 otherwise). Answers `{id}`, with "
        "`warnings` when daylight saving time moves or doubles a run in the next 366 days."
    ),
    "bot": (
        "The `model` (`provider:model`, or `test`) and every ability's `type` and `config` are checked as a run "
        "would: 400 naming the field and what is accepted, e.g. `Invalid abilities[0].type: "
        + ac.unknown_type("search")
        + "`. The keys each ability type takes are in the `Ability...Config` schemas."
    ),
    "contact": "A `fingerprint` is minted when none is sent.",
    "conversation": (
        "`messages` are stored in the order sent; `botId`, `contactId` and `taskId` must be this account's."
    ),
}
_DELETE_NOTES = {
    "task": (
        "Queued executions are cancelled and the task disappears at once; a running execution completes, then "
        "the task and its history are removed."
    ),
    "bot": "Tasks that name the bot keep their other settings, with `botId` cleared.",
    "contact": "Tasks that name the contact keep their other settings, with `contactId` cleared.",
    "conversation": "With its messages.",
}
_LIST_FILTERS = {
    "task": " Filters: `botId`, `contactId`, `status`, `blueprintId` (comma lists), `paused=true|false`.",
    "bot": "",
    "contact": "",
    "conversation": " Filters: `botId`, `contactId`, `taskId` (comma lists).",
}


def _crud(name: str, tag: str) -> dict[str, tuple[str, str, str]]:
    noun = _NOUNS[name]
    update_extra = {
        "task": " Writing `schedule` or `timezone` recomputes `nextRunAt` (a paused task stays paused); "
        "answers `warnings` as create does.",
        "bot": " `model` and `abilities` are checked as on create.",
    }.get(name, "")
    return {
        f"{name}Create": (tag, f"Create a {noun}", f"Create a {noun} from the fields sent. {_CREATE_NOTES[name]}"),
        f"{name}List": (tag, f"List {noun}s", f"The account's {noun}s. {_PAGING}{_LIST_FILTERS[name]}"),
        f"{name}Fetch": (
            tag,
            f"Get a {noun}",
            f"One {noun} with every field (`null` when empty). 404 when this account has no such {noun}.",
        ),
        f"{name}Update": (tag, f"Update a {noun}", _UPDATE.replace("{noun}", noun) + update_extra),
        f"{name}Delete": (
            tag,
            f"Delete a {noun}",
            f"{_DELETE_NOTES[name]} Answers `{{id}}`; 404 when this account has no such {noun}.",
        ),
    }


#: operationId -> (tag, summary, description)
OPERATIONS: dict[str, tuple[str, str, str]] = {
    **_crud("task", "Tasks"),
    **_crud("bot", "Bots"),
    **_crud("contact", "Contacts"),
    **_crud("conversation", "Conversations"),
    "taskExport": (
        "Tasks",
        "Export tasks",
        "Every task's configuration, without its run state ("
        + ", ".join(f"`{k}`" for k in sorted(TASK_EXPORT_OMIT))
        + "), in the format `Accept` picks (CSV renders `meta` as YAML); `task/import` reads what it writes. "
        + _PAGING
        + _LIST_FILTERS["task"],
    ),
    "taskImport": (
        "Tasks",
        "Import tasks",
        f"Create a task per row of a `task/export` file (at most {IMPORT_MAX_ROWS:,} rows, a body of at most "
        f'{IMPORT_MAX_BODY // 2**20} MiB), all or none, by `Content-Type`: JSON (an array, or `{{"items": '
        "[...]}`), JSONL (export's item lines or bare objects) or CSV (export's, `meta` as YAML, empty cells "
        "null). Every row is checked as `task/create` checks it; any bad row refuses the file (400 listing "
        "each bad row's index and message). Answers `{count, items: [{id}]}` in file order.",
    ),
    "contactTaskList": (
        "Tasks",
        "List a contact's tasks",
        "The tasks whose `contactId` is this contact; paging, formats and filters as `task/list`. 404 when this "
        "account has no such contact.",
    ),
    "conversationMessageList": (
        "Conversations",
        "List a conversation's messages",
        "A run's conversation holds the instruction (`user`), the tool calls and results (`activity`) and the "
        f"summary (`bot`). {_PAGING}",
    ),
    "taskTrigger": (
        "Runs",
        "Run a task now",
        "Queue an additional execution now (asynchronous: follow it with `execution/list` or `subscribe`); "
        "`nextRunAt` is untouched and it runs after any execution of the task still active. A paused task runs "
        "too. 429 `LIMITS_REACHED` when the account is at its cap of concurrent or daily executions.",
    ),
    "taskCancel": (
        "Runs",
        "Cancel a task's executions",
        "Every queued or running execution of the task ends `canceled`/`failure` and the running bot is "
        "interrupted (in another process within a second); its conversation so far and its tokens are kept. "
        "A no-op 200 when nothing runs.",
    ),
    "taskExecutionList": (
        "Runs",
        "List a task's executions",
        f"The task's run history. {_PAGING} Filters: `status`, `outcome` (comma lists). 404 when this account "
        "has no such task.",
    ),
    "taskExecutionFetch": (
        "Runs",
        "Get an execution",
        "One execution (extension); 404 unless it belongs to this task of this account.",
    ),
    "taskExecutionCancel": (
        "Runs",
        "Cancel one execution",
        "Ends the execution `canceled`/`failure` if it is queued or running (a no-op otherwise). Answers "
        "`{id, taskId}`; 404 unless it belongs to this task of this account.",
    ),
    "taskSubscribe": (
        "Runs",
        "Follow a task's runs",
        "A JSONL stream of the task's workflow events across executions: first up to `historyLength` stored "
        'events (0-1000), then live ones, with `{"type":"ping"}` every 15 s when idle. Each model request and '
        "tool call is an `operationBegin`/`operationEnd` pair; each execution is framed by `executionBegin` and "
        "`executionEnd` (extension). The stream ends when the client closes it.",
    ),
    "taskPause": (
        "Task controls",
        "Pause a task",
        "No scheduled slot fires while paused (`nextRunAt` is null); a manual trigger still runs and a running "
        "execution goes on; retries still waiting are canceled. `until` (epoch ms, in the future) ends the pause "
        "by itself; pausing a paused task "
        "replaces its reason and until. Update and cancel keep a task paused.",
    ),
    "taskResume": (
        "Task controls",
        "Resume a task",
        "Computes the next slot from now: slots that passed while paused are not run. A no-op 200 when the "
        "task is not paused.",
    ),
    "taskBackfill": (
        "Task controls",
        "Backfill past slots",
        "Queue one execution per slot of the task's schedule in `[from, to)` (epoch ms, `from < to <= now`, at "
        "most 1,000 slots; slots that already have an execution are left out), `trigger: backfill`, run one at "
        "a time in slot order whatever the overlap policy. Answers `{id, count}`.",
    ),
    "taskPreview": (
        "Task controls",
        "Preview a task's next runs",
        "The task's next `take` (1-100, default 10) run times, each with its local time and DST flag, and "
        "warnings in plain words. A paused task previews nothing, or from its `pausedUntil`.",
    ),
    "schedulePreview": (
        "Task controls",
        "Preview a schedule",
        "The next `take` run times of a schedule in a timezone after `after` (default now), each with its local "
        "time and DST flag (`gap`: moved out of a spring-forward gap, `fold`: a wall time that occurs twice); "
        "`warnings` say what DST does in plain words. Nothing is stored.",
    ),
}

#: operationId -> an example request body (application/json), each accepted by the API as it stands
EXAMPLES: dict[str, Any] = {
    "taskCreate": {
        "name": "Morning briefing",
        "description": "Fetch https://example.com/ and summarise it in three lines.",
        "schedule": "0 9 * * 1-5",
        "timezone": "Europe/Berlin",
        "overlapPolicy": "skip",
    },
    "botCreate": {
        "name": "Clock",
        "backstory": "You tell the time.",
        "model": "test",
        "abilities": [
            {"type": "time", "config": {"timezone": "Europe/Berlin"}},
            {"type": "fetch", "config": {"maxBytes": 50_000}},
            {"type": "wait", "config": {"maxSeconds": 60}},
        ],
    },
    "contactCreate": {"name": "Ada", "email": "ada@example.com"},
    "conversationCreate": {"name": "Notes", "messages": [{"type": "user", "text": "Hello"}]},
    "schedulePreview": {"schedule": "30 2 * * *", "timezone": "America/New_York", "take": 5},
    "taskPause": {"reason": "Holidays"},
    "taskSubscribe": {"historyLength": 10},
}

#: what each error status means, and its code
_ERROR_TEXT = {
    "400": "Bad request: the message names the field and what is accepted",
    "401": "No bearer secret, or one this server does not know",
    "404": "No such resource in this account",
    "405": "Method not allowed on this path",
    "408": "The request did not arrive in time",
    "413": "Body over the size limit",
    "415": "Body type not taken",
    "429": "The account is at one of its limits",
    "503": "Over the server's connection cap: retry later",
}
#: the code the server sends with a status when it is not `CODES`' (the connection layer's own answers)
_OWN_CODES = {"408": "REQUEST_TIMEOUT"}


def error_description(status: str) -> str:
    return f"{_ERROR_TEXT[status]} (`{_OWN_CODES.get(status) or CODES[int(status)]}`)"


ERROR_CODES = "A stable code for the status, such as " + ", ".join(
    f"`{CODES[s]}` ({s})" for s in (400, 401, 404, 413, 429)
)


DOCUMENT = (
    "A self-hosted, ChatBotKit-compatible Tasks API: AI agents (bots) run as scheduled or on-demand tasks. "
    "Every request carries `Authorization: Bearer <secret>` (create one with `agentcron account create NAME`); "
    "an account sees only its own resources. Reads are GET; writes are POST with a JSON body (`{}` for delete, "
    'trigger and cancel). Errors are `{"message", "code"}` with the HTTP status; objects carry every field '
    "(`null` when empty); instants are epoch milliseconds. Fields and operations marked extension are not in "
    "ChatBotKit's API."
)


def answer_schemas() -> dict[str, dict[str, Any]]:
    """The answers that are not stored resources."""
    string, ms = {"type": "string"}, {"type": "integer", "description": "epoch milliseconds"}
    return {
        "Error": {
            "type": "object",
            "properties": {"message": string, "code": {"type": "string", "description": ERROR_CODES}},
            "required": ["message", "code"],
        },
        "IdResult": {"type": "object", "properties": {"id": string}, "required": ["id"]},
        "TaskWriteResult": {
            "type": "object",
            "properties": {
                "id": string,
                "warnings": {
                    "type": "array",
                    "items": string,
                    "description": "Present when daylight saving time moves or doubles a run in the next 366 days.",
                },
            },
            "required": ["id"],
        },
        "ExecutionCancelResult": {
            "type": "object",
            "properties": {"id": {**string, "description": "The execution."}, "taskId": string},
            "required": ["id", "taskId"],
        },
        "BackfillResult": {
            "type": "object",
            "properties": {"id": string, "count": {"type": "integer", "description": "Executions queued."}},
            "required": ["id", "count"],
        },
        "SchedulePreview": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "runAt": ms,
                            "localTime": {"type": "string", "description": "ISO 8601 with offset, in the timezone"},
                            "dst": {
                                "type": ["string", "null"],
                                "enum": ["gap", "fold", None],
                                "description": "gap: moved out of a spring-forward gap; fold: a wall time that "
                                "occurs twice; null: DST does not touch it",
                            },
                        },
                        "required": ["runAt", "localTime", "dst"],
                    },
                },
                "warnings": {"type": "array", "items": string},
            },
            "required": ["items", "warnings"],
        },
        "TaskEvent": {
            "type": "object",
            "description": (
                "One JSONL line of the subscribe stream. Each execution's events are framed by executionBegin "
                "(data: ExecutionBegin) and executionEnd (data: ExecutionEnd); an operation a run left open when "
                "it was cancelled, reached its time limit, lost its worker or was handed back at shutdown gets an "
                "operationEnd whose data.error is {code: CANCELED | TIME_LIMIT | WORKER_LOST | SHUTDOWN, message}."
            ),
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["executionBegin", "operationBegin", "operationEnd", "error", "executionEnd", "ping"],
                },
                "createdAt": ms,
                "data": {"type": "object"},
            },
            "required": ["type", "createdAt", "data"],
        },
        "ExecutionBegin": {
            "type": "object",
            "description": "data of executionBegin (extension): before the execution's first event",
            "properties": {
                "executionId": string,
                "taskId": string,
                "trigger": {"type": "string", "enum": [k.value for k in RunKind if k is not RunKind.SKIP]},
                "scheduledFor": {"type": ["integer", "null"], "description": "the slot, epoch ms (null: manual)"},
                "attempt": {"type": "integer", "description": "1, then + 1 each time the run is handed back"},
            },
            "required": ["executionId", "taskId", "trigger", "scheduledFor", "attempt"],
        },
        "ExecutionEnd": {
            "type": "object",
            "description": "data of executionEnd (extension): after the execution's last event",
            "properties": {
                "executionId": string,
                "taskId": string,
                "status": {"type": "string", "enum": [ExecStatus.IDLE.value, ExecStatus.CANCELED.value]},
                "outcome": {"type": "string", "enum": [o.value for o in Outcome]},
                "summary": string,
            },
            "required": ["executionId", "taskId", "status", "outcome", "summary"],
        },
    }


# -- fields ---------------------------------------------------------------------------------------------

_SCHEDULE = (
    "When the task runs, read in its timezone: `never`, a named interval (`hourly`, `daily`, `weekly`, ...), "
    "`HH:MM` (daily), a 5-field cron expression (`0 9 * * 1-5`), a cron nickname (`@daily`) or a one-shot date "
    "(`2025-12-25T10:00:00Z`). Empty or null: manual runs only."
)
_META = (
    "Free JSON object. Keys starting with `_` or another non-word character are dropped; an update merges "
    'instead of replacing when sent as `{"$update": {...}}`.'
)
_TASK_FIELDS = {
    "name": "Shown in lists; with `description`, the instruction the bot runs.",
    "description": "The instruction: what the bot is asked to do on each run.",
    "blueprintId": "Stored and answered (compatibility); not used by runs.",
    "botId": "The bot that runs the task (this account's). Without one a run fails (`NO_BOT`).",
    "contactId": "The contact the task is for (this account's).",
    "schedule": _SCHEDULE,
    "timezone": "IANA timezone name the schedule is read in, such as `Europe/Berlin`. Empty or null: UTC.",
    "expiresAt": "Epoch ms; the task is deleted after this instant (once no run of it is in flight).",
    "sessionDuration": "Milliseconds; when set (> 0) and shorter than `maxTime`, a run's time limit.",
    "maxIterations": "The most model requests a run makes (null, 0 or below 10: 1,000).",
    "maxTime": "Milliseconds a run may take (below 15 minutes, or null: 15 minutes); then it ends `failure`.",
    "maxCalls": (
        "The most tool calls a run makes (null or 0: 10,000, the contract's default); the call beyond it is not "
        "made and the run ends `failure` naming the limit. Written, never answered (as the contract)."
    ),
    "meta": _META,
    "overlapPolicy": (
        "Extension: a slot that comes due while a run of the task is queued or running is `skip`ped (the "
        "default, recorded with reason `overlap`), `queue`d behind it, run alongside (`allow`), or cancels it "
        "first (`cancelPrevious`)."
    ),
    "misfirePolicy": (
        "Extension: slots missed while the service was down run once (`coalesce`, the default), are recorded as "
        "one skipped execution (`skip`), or each run (`all`, within the misfire window)."
    ),
    "tokenBudget": (
        "Extension: null (no budget) or `{limit, period}`: at most `limit` tokens (input + output of every "
        "execution) per calendar `day`, ISO `week` (from Monday) or `month`, in the task's timezone. Reached: "
        "the run in flight stops at its next model request (`failure`, summary `Token budget reached: <used> of "
        "<limit> tokens this <period>`), later slots of the period are skipped (reason `budget`), and triggers "
        "answer 429 `LIMITS_REACHED`."
    ),
    "retryPolicy": (
        "Extension: how a failed run is retried (null: never, the default). A model error, tool error, "
        "reported failure or lost worker is retried as a new execution (`trigger: retry`) after an exponential "
        "delay with full jitter (a vendor's longer Retry-After wins); cancels, limit and budget stops never."
    ),
    "pauseAfterFailures": (
        "Extension: pause the task after this many consecutive failed slots (a slot counts once, after its "
        'last attempt), with reason "Paused after N consecutive failures". Null: never.'
    ),
}
_STATE_FIELDS = {
    "status": "`running` while one of the task's executions runs, else `idle`.",
    "outcome": "`pending` while a run is in flight, else the latest finished run's outcome.",
    "lastRunAt": "Epoch ms the latest run finished (null: never).",
    "nextRunAt": "Epoch ms of the next scheduled slot (null: none, or paused).",
    "missedCount": "Slots missed while the service was down, covered by the latest catch-up run.",
    "pausedAt": "Extension: epoch ms the task was paused (null: not paused).",
    "pauseReason": "Extension: why it was paused.",
    "pausedUntil": "Extension: epoch ms the pause ends by itself (null: until resumed).",
    "tokensUsed": "Extension, computed: tokens the task's executions used this budget period (null: no budget).",
    "budgetResetsAt": "Extension, computed: epoch ms the budget period ends (null: no budget).",
    "consecutiveFailures": "Extension: failed slots in a row (after their last attempt); a success resets it.",
}
#: (``maxCalls`` is taken, not answered)
_ANSWERED_TASK_FIELDS = {k: v for k, v in _TASK_FIELDS.items() if k != "maxCalls"}
_EXECUTION_FIELDS = {
    "status": "`idle` (queued or done), `running` or `canceled`.",
    "outcome": "`pending` until the run ends, then `success` or `failure`.",
    "summary": "What the run did, or why it failed (the limit, the error).",
    "conversationId": "The run's conversation: instruction, tool activity and summary.",
    "trigger": "Extension: why it exists: a scheduled slot, a catch-up after downtime, a manual trigger, a "
    "backfill, a `retry` of a failed run, or a `skip`ped slot.",
    "reason": "Extension: why a slot was skipped, or `superseded` for a retry dropped because the task's next "
    "slot fired first (null: neither).",
    "scheduledFor": "Extension: the slot, epoch ms (null: a manual trigger).",
    "missedCount": "Extension: slots a catch-up run covers.",
    "startedAt": "Extension: epoch ms a worker started it.",
    "attempt": "Extension: which run of its slot this is: 1, then 2, 3, ... for retries.",
    "retryOf": "Extension: a retry's first execution of the chain (null: a first attempt).",
    "resumeAt": "When a retry waiting for its delay may start (ISO date; null: not waiting).",
    "inputTokens": "Extension: model input tokens used.",
    "outputTokens": "Extension: model output tokens used.",
    "modelRequests": "Extension: model requests made.",
}
_BOT_FIELDS = {
    "backstory": "The system prompt.",
    "model": "`provider:model` (`openai:gpt-4o-mini`, `anthropic:...`) or `test`, the offline model that calls "
    "each ability once. Empty: the server's default model.",
    "visibility": "Stored and answered (compatibility).",
    "abilities": "Extension: the bot's tools, at most 64; each checked when written (see `Ability`).",
    "meta": _META,
}
_RESPONSE_BOT_FIELDS = {**_BOT_FIELDS, "abilities": "Extension: the bot's tools, as written (see `Ability`)."}

#: schema name -> field -> description
FIELD_DOCS: dict[str, dict[str, str]] = {
    "TaskWrite": _TASK_FIELDS,
    "TaskImport": {"status": "Ignored (run state).", "outcome": "Ignored (run state).", **_STATE_FIELDS},
    "BotWrite": _BOT_FIELDS,
    "ContactWrite": {"fingerprint": "Minted on create when not sent.", "meta": _META},
    "ConversationWrite": {"messages": "Create only: the conversation's first messages, in order.", "meta": _META},
    "PreviewBody": {
        "schedule": _SCHEDULE,
        "timezone": "IANA timezone name (default UTC).",
        "take": "How many run times.",
        "after": "Epoch ms; run times after it (default now).",
    },
    "PauseBody": {"reason": "Why (shown as `pauseReason`).", "until": "Epoch ms in the future; none: until resumed."},
    "BackfillBody": {"from": "Epoch ms, the first slot taken (inclusive).", "to": "Epoch ms, not later than now."},
    "SubscribeBody": {"historyLength": "Stored events to replay first (0: live events only)."},
    "Task": {**_ANSWERED_TASK_FIELDS, **_STATE_FIELDS},
    "TaskExport": {k: v for k, v in _ANSWERED_TASK_FIELDS.items() if k not in TASK_EXPORT_OMIT},
    "TaskExecution": _EXECUTION_FIELDS,
    "RetryPolicy": {
        "maxAttempts": "Runs per slot at most, the first included (2-10).",
        "initialDelayMs": "The delay before the first retry is drawn from [0, this] (at least 1 s).",
        "maxDelayMs": "The delays grow by `multiplier` up to this (at least `initialDelayMs`).",
        "multiplier": "How much the delay bound grows per attempt (1-10).",
    },
    "Bot": _RESPONSE_BOT_FIELDS,
}


def _literal(struct: type[msgspec.Struct], field: str) -> list[str | None]:
    """The values of the ``Literal`` a Struct's field takes."""
    todo = [get_type_hints(struct)[field]]
    while todo:
        hint = todo.pop()
        if get_origin(hint) is Literal:
            return list(get_args(hint))
        todo += get_args(hint)
    raise AssertionError(f"{struct.__name__}.{field} is not a Literal")


#: resource name -> wire field -> its values (None: null too) in responses
RESPONSE_ENUMS: dict[str, dict[str, list[str | None]]] = {
    "task": {
        "status": [ExecStatus.IDLE.value, ExecStatus.RUNNING.value],
        "outcome": [o.value for o in Outcome],
        "overlapPolicy": [p.value for p in OverlapPolicy],
        "misfirePolicy": [p.value for p in MisfirePolicy],
    },
    "execution": {
        "status": [s.value for s in ExecStatus],
        "outcome": [o.value for o in Outcome],
        "trigger": [k.value for k in RunKind],
        "reason": [*(r.value for r in SkipReason), SUPERSEDED, None],
    },
    "bot": {"visibility": [*_literal(BotWrite, "visibility"), None]},
    "message": {"type": _literal(ConversationMessage, "type")},
}
