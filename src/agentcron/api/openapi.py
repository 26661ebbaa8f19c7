"""The OpenAPI 3.1 document, generated from the same definitions the API runs on (request Structs, resource
field tables, list filters, the ability parsers), so it cannot drift from the wire format. What it says in
words (summaries, descriptions, enums of response fields, ability configs) is in `agentcron.api.openapi_docs`."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import msgspec

from agentcron import __version__
from agentcron.api import openapi_webhooks as hooks
from agentcron.api.openapi_abilities import ability_schemas
from agentcron.api.openapi_docs import (
    DOCUMENT,
    EXAMPLES,
    FIELD_DOCS,
    OPERATIONS,
    RESPONSE_ENUMS,
    TAGS,
    answer_schemas,
    error_description,
)
from agentcron.api.paging import TAKE_LIMIT
from agentcron.api.resources import CONVERSATIONS
from agentcron.api.schemas import (
    BackfillBody,
    BotWrite,
    ContactWrite,
    ConversationWrite,
    PauseBody,
    PreviewBody,
    SubscribeBody,
    TaskImport,
    TaskWrite,
)
from agentcron.api.tasks import TASK_FILTERS
from agentcron.api.webhooks import WebhookCreate, WebhookUpdate
from agentcron.store.resources import BOT, CONTACT, CONVERSATION, EXECUTION, MESSAGE, TASK, TASK_EXPORT_OMIT, Resource
from agentcron.store.webhooks import DELIVERY, WEBHOOK

_OPERATIONS = {**OPERATIONS, **hooks.OPERATIONS}
_EXAMPLES = {**EXAMPLES, **hooks.EXAMPLES}
_RESPONSE_ENUMS = {**RESPONSE_ENUMS, **hooks.RESPONSE_ENUMS}

_KIND_SCHEMA = {
    "json": {},
    "bool": {"type": ["boolean", "null"]},
    "iso": {"type": ["string", "null"], "format": "date-time"},
    "text": {"type": "string"},
}


#: JSON fields of responses with a schema of their own (a request Struct's)
_JSON_REFS = {"retryPolicy": "RetryPolicy"}


def _resource_schema(res: Resource) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in res.fields:
        if f.wire in _JSON_REFS:
            props[f.wire] = {"anyOf": [{"$ref": f"#/components/schemas/{_JSON_REFS[f.wire]}"}, {"type": "null"}]}
        elif f.kind in _KIND_SCHEMA:
            props[f.wire] = _KIND_SCHEMA[f.kind]
        elif f.wire.endswith("At") or f.wire in ("sessionDuration", "maxTime", "scheduledFor", "pausedUntil"):
            epoch = f.wire.endswith("At") or f.wire in ("scheduledFor", "pausedUntil")
            props[f.wire] = {
                "type": ["integer", "null"],
                "description": "epoch milliseconds" if epoch else "milliseconds",
            }
        elif f.wire in (
            "maxIterations",
            "missedCount",
            "attempt",
            "attempts",
            "statusCode",
            "inputTokens",
            "outputTokens",
            "modelRequests",
            "pauseAfterFailures",
            "consecutiveFailures",
        ):
            props[f.wire] = {"type": ["integer", "null"]}
        else:
            props[f.wire] = {"type": ["string", "null"]}
    for wire, values in _RESPONSE_ENUMS.get(res.name, {}).items():
        props[wire] = {"type": ["string", "null"] if None in values else "string", "enum": values}
    for required in ("id", "createdAt", "updatedAt"):
        props[required] = {
            **props[required],
            "type": props[required]["type"][0]
            if isinstance(props[required]["type"], list)
            else props[required]["type"],
        }
    return {"type": "object", "properties": props, "required": [f.wire for f in res.fields]}


def _budget_fields(schemas: dict[str, Any]) -> None:
    """A task's ``tokenBudget`` is a `TokenBudgetBody` (or null); tasks read (not exports) also carry the
    computed ``tokensUsed`` and ``budgetResetsAt``."""
    budget = {"anyOf": [{"$ref": "#/components/schemas/TokenBudgetBody"}, {"type": "null"}]}
    for name in ("Task", "TaskExport"):
        schemas[name]["properties"]["tokenBudget"] = budget
    task = schemas["Task"]
    task["properties"]["tokensUsed"] = {"type": ["integer", "null"]}
    task["properties"]["budgetResetsAt"] = {"type": ["integer", "null"], "description": "epoch milliseconds"}


def _list_schema(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": ref}}, "cursor": {"type": "string"}},
        "required": ["items", "cursor"],
    }


_STATUSES = ("400", "401", "404", "405", "408", "413", "415", "429", "503")
#: one shared response per error status (``components.responses``), referred to by every operation
_ERROR_RESPONSES = {
    f"Error{status}": {
        "description": error_description(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for status in _STATUSES
}


def _error(status: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/Error{status}"}


def _json(name: str) -> dict[str, Any]:
    """A 200 answer of one JSON schema."""
    return {"description": "OK", "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


_ID = _json("IdResult")


#: what any operation may answer besides its success, all in the JSON error envelope: 405 for another
#: method, 408 for a request that did not arrive in time, 413 for a body over the limit, 415 for a body
#: type not taken, 429 for an account over its limits, 503 beyond the server's connection cap
_ERRORS = {status: _error(status) for status in _STATUSES}


def _op(
    op_id: str, ok: dict[str, Any], body: str | None = None, params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    tag, summary, description = _OPERATIONS[op_id]
    op: dict[str, Any] = {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "responses": {"200": ok, **_ERRORS},
    }
    if body:
        media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{body}"}}
        if op_id in _EXAMPLES:
            media["example"] = _EXAMPLES[op_id]
        op["requestBody"] = {"content": {"application/json": media}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_LIST_PARAMS = [
    {
        "name": "cursor",
        "in": "query",
        "description": "where the page starts: the cursor the previous page answered (an id this API returned)",
        "schema": {"type": "string"},
    },
    {
        "name": "order",
        "in": "query",
        "description": "asc: oldest first; desc (the default, also for any other value): newest first",
        "schema": {"type": "string", "enum": ["asc", "desc"]},
    },
    {
        "name": "take",
        "in": "query",
        "description": (
            "items wanted: a JSON page holds at most 100 (follow cursor), a JSONL / CSV / SSE stream up to take; "
            "0 or absent: 100 (JSON) or all (streams); below 1: 1"
        ),
        "schema": {"type": "integer", "minimum": -TAKE_LIMIT, "maximum": TAKE_LIMIT},
    },
]


def _filters(names: Iterable[str], resource: str) -> list[dict[str, Any]]:
    """The query parameters of a list's equality filters (``parse_list_query``: comma lists)."""
    out = []
    for name in names:
        values = _RESPONSE_ENUMS.get(resource, {}).get(name)
        listed = f": {', '.join(str(v) for v in values)}" if values else ""
        text = f"only items whose {name} is one of these, comma-separated{listed}"
        out.append({"name": name, "in": "query", "description": text, "schema": {"type": "string"}})
    return out


_PAUSED = {
    "name": "paused",
    "in": "query",
    "description": "true: only paused tasks; false: only tasks not paused (extension)",
    "schema": {"type": "string", "enum": ["true", "false"]},
}


def _ok(ref: str) -> dict[str, Any]:
    return {
        "description": "OK",
        "content": {
            "application/json": {"schema": {"$ref": ref}},
            "application/jsonl": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }


def _import_op(schemas: dict[str, Any]) -> dict[str, Any]:
    """``task/import`` (extension): what ``task/export`` writes, by Content-Type; row errors by index."""
    schemas["ImportResult"] = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/IdResult"}},
        },
        "required": ["count", "items"],
    }
    schemas["ImportError"] = {
        "type": "object",
        "description": "400 for bad rows: each bad row's 0-based index in the file and create's message for it",
        "properties": {
            **schemas["Error"]["properties"],
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "message": {"type": "string"}},
                    "required": ["index", "message"],
                },
            },
        },
        "required": ["message", "code"],
    }
    row = {"$ref": "#/components/schemas/TaskImport"}
    text = {"type": "string"}
    op = _op(
        "taskImport",
        {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportResult"}}},
        },
    )
    op["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": row},
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": row}},
                            "required": ["items"],
                        },
                    ]
                }
            },
            "application/jsonl": {"schema": text},
            "text/csv": {"schema": text},
        },
    }
    op["responses"].pop("404")
    op["responses"]["400"] = {
        "description": "Bad rows (errors) or a file that is not one of the formats",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportError"}}},
    }
    return op


def _webhook_paths(schemas: dict[str, Any], paths: dict[str, Any]) -> None:
    """The webhook resource (extension) and its deliveries."""
    schemas.update(hooks.answer_schemas())
    schemas["Webhook"] = _resource_schema(WEBHOOK)
    schemas["WebhookList"] = _list_schema("#/components/schemas/Webhook")
    schemas["WebhookDelivery"] = _resource_schema(DELIVERY)
    schemas["WebhookDeliveryList"] = _list_schema("#/components/schemas/WebhookDelivery")
    base, wid = "/api/v1/webhook", [_path_param("webhookId")]
    paths[f"{base}/create"] = {"post": _op("webhookCreate", _json("WebhookCreateResult"), "WebhookCreate")}
    paths[f"{base}/list"] = {"get": _op("webhookList", _ok("#/components/schemas/WebhookList"), params=_LIST_PARAMS)}
    paths[f"{base}/{{webhookId}}/fetch"] = {"get": _op("webhookFetch", _json("Webhook"), params=wid)}
    paths[f"{base}/{{webhookId}}/update"] = {"post": _op("webhookUpdate", _ID, "WebhookUpdate", wid)}
    paths[f"{base}/{{webhookId}}/delete"] = {"post": _op("webhookDelete", _ID, params=wid)}
    paths[f"{base}/{{webhookId}}/delivery/list"] = {
        "get": _op(
            "webhookDeliveryList",
            _ok("#/components/schemas/WebhookDeliveryList"),
            params=[*wid, *_LIST_PARAMS, *_filters(("status", "eventType"), "delivery")],
        )
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [
            TaskWrite,
            BotWrite,
            ContactWrite,
            ConversationWrite,
            PauseBody,
            PreviewBody,
            BackfillBody,
            SubscribeBody,
            TaskImport,
            WebhookCreate,
            WebhookUpdate,
        ],
        ref_template="#/components/schemas/{name}",
    )
    schemas: dict[str, Any] = dict(components)
    schemas.update(ability_schemas(schemas["Ability"]))
    schemas.update(answer_schemas())
    task_written = _json("TaskWriteResult")
    task_filters = [*_filters(TASK_FILTERS, "task"), _PAUSED]
    paths: dict[str, Any] = {}
    for res, write, filters in (
        (TASK, "TaskWrite", task_filters),
        (BOT, "BotWrite", []),
        (CONTACT, "ContactWrite", []),
        (CONVERSATION, "ConversationWrite", _filters(CONVERSATIONS.filters, "conversation")),
    ):
        title = res.name.capitalize()
        schemas[title] = _resource_schema(res)
        schemas[f"{title}List"] = _list_schema(f"#/components/schemas/{title}")
        base = f"/api/v1/{res.name}"
        pid = [_path_param(f"{res.name}Id")]
        written = task_written if res is TASK else _ID
        paths[f"{base}/create"] = {"post": _op(f"{res.name}Create", written, write)}
        paths[f"{base}/list"] = {
            "get": _op(f"{res.name}List", _ok(f"#/components/schemas/{title}List"), params=[*_LIST_PARAMS, *filters])
        }
        paths[f"{base}/{{{res.name}Id}}/fetch"] = {
            "get": _op(f"{res.name}Fetch", _ok(f"#/components/schemas/{title}"), params=pid)
        }
        paths[f"{base}/{{{res.name}Id}}/update"] = {"post": _op(f"{res.name}Update", written, write, pid)}
        paths[f"{base}/{{{res.name}Id}}/delete"] = {"post": _op(f"{res.name}Delete", _ID, params=pid)}
    schemas["TaskExecution"] = _resource_schema(EXECUTION)
    schemas["TaskExecutionList"] = _list_schema("#/components/schemas/TaskExecution")
    schemas["Message"] = _resource_schema(MESSAGE)
    schemas["MessageList"] = _list_schema("#/components/schemas/Message")
    tid = [_path_param("taskId")]
    # An export leaves out the run state (`TASK_EXPORT_OMIT`): its own schema, without those fields.
    exported = _resource_schema(TASK)
    exported["properties"] = {k: v for k, v in exported["properties"].items() if k not in TASK_EXPORT_OMIT}
    exported["required"] = [k for k in exported["required"] if k not in TASK_EXPORT_OMIT]
    schemas["TaskExport"] = exported
    _budget_fields(schemas)
    schemas["TaskExportList"] = _list_schema("#/components/schemas/TaskExport")
    paths["/api/v1/task/export"] = {
        "get": _op("taskExport", _ok("#/components/schemas/TaskExportList"), params=[*_LIST_PARAMS, *task_filters])
    }
    paths["/api/v1/contact/{contactId}/task/list"] = {
        "get": _op(
            "contactTaskList",
            _ok("#/components/schemas/TaskList"),
            params=[_path_param("contactId"), *_LIST_PARAMS, *task_filters],
        )
    }
    paths["/api/v1/conversation/{conversationId}/message/list"] = {
        "get": _op(
            "conversationMessageList",
            _ok("#/components/schemas/MessageList"),
            params=[_path_param("conversationId"), *_LIST_PARAMS],
        )
    }
    paths["/api/v1/task/{taskId}/trigger"] = {"post": _op("taskTrigger", _ID, params=tid)}
    paths["/api/v1/task/{taskId}/cancel"] = {"post": _op("taskCancel", _ID, params=tid)}
    paths["/api/v1/task/{taskId}/pause"] = {"post": _op("taskPause", _ID, "PauseBody", tid)}
    preview_ok = _json("SchedulePreview")
    paths["/api/v1/schedule/preview"] = {"post": _op("schedulePreview", preview_ok, "PreviewBody")}
    take = {
        "name": "take",
        "in": "query",
        "description": "how many run times (default 10)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    }
    paths["/api/v1/task/{taskId}/preview"] = {"get": _op("taskPreview", preview_ok, params=[*tid, take])}
    paths["/api/v1/task/{taskId}/resume"] = {"post": _op("taskResume", _ID, params=tid)}
    paths["/api/v1/task/{taskId}/backfill"] = {
        "post": _op("taskBackfill", _json("BackfillResult"), "BackfillBody", tid)
    }
    paths["/api/v1/task/import"] = {"post": _import_op(schemas)}
    paths["/api/v1/task/{taskId}/execution/{executionId}/fetch"] = {
        "get": _op(
            "taskExecutionFetch",
            _ok("#/components/schemas/TaskExecution"),
            params=[*tid, _path_param("executionId")],
        )
    }
    sub = _op(
        "taskSubscribe",
        {
            "description": "JSONL stream of workflow events (history replay first, then live; ping keep-alives)",
            "content": {"application/jsonl": {"schema": {"$ref": "#/components/schemas/TaskEvent"}}},
        },
        params=tid,
    )
    sub["requestBody"] = {
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/SubscribeBody"},
                "example": EXAMPLES["taskSubscribe"],
            }
        }
    }
    paths["/api/v1/task/{taskId}/subscribe"] = {"post": sub}
    paths["/api/v1/task/{taskId}/execution/list"] = {
        "get": _op(
            "taskExecutionList",
            _ok("#/components/schemas/TaskExecutionList"),
            params=[*tid, *_LIST_PARAMS, *_filters(("status", "outcome"), "execution")],  # (as `runs` parses)
        )
    }
    paths["/api/v1/task/{taskId}/execution/{executionId}/cancel"] = {
        "post": _op("taskExecutionCancel", _json("ExecutionCancelResult"), params=[*tid, _path_param("executionId")])
    }
    _webhook_paths(schemas, paths)
    for name, fields in {**FIELD_DOCS, **hooks.FIELD_DOCS}.items():
        props = schemas[name]["properties"]
        for field, text in fields.items():
            props[field] = {**props[field], "description": text}  # (KeyError: a field the API does not have)
    return {
        "openapi": "3.1.0",
        "info": {"title": "agentcron", "version": __version__, "description": DOCUMENT},
        "tags": [*TAGS, hooks.TAG],
        "components": {
            "schemas": schemas,
            "responses": _ERROR_RESPONSES,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
