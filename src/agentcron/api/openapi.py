"""The OpenAPI 3.1 document, generated from the same definitions the API runs on (request Structs and
resource field tables), so it cannot drift from the wire format."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from agentcron import __version__
from agentcron.api.imports import IMPORT_MAX_BODY, IMPORT_MAX_ROWS
from agentcron.api.paging import TAKE_LIMIT
from agentcron.api.schemas import (
    BackfillBody,
    BotWrite,
    ContactWrite,
    ConversationWrite,
    PauseBody,
    PreviewBody,
    TaskImport,
    TaskWrite,
)
from agentcron.store.resources import BOT, CONTACT, CONVERSATION, EXECUTION, MESSAGE, TASK, TASK_EXPORT_OMIT, Resource

_KIND_SCHEMA = {
    "json": {},
    "bool": {"type": ["boolean", "null"]},
    "iso": {"type": ["string", "null"], "format": "date-time"},
    "text": {"type": "string"},
}


def _resource_schema(res: Resource) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in res.fields:
        if f.kind in _KIND_SCHEMA:
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
            "inputTokens",
            "outputTokens",
            "modelRequests",
        ):
            props[f.wire] = {"type": ["integer", "null"]}
        else:
            props[f.wire] = {"type": ["string", "null"]}
    for required in ("id", "createdAt", "updatedAt"):
        props[required] = {
            **props[required],
            "type": props[required]["type"][0]
            if isinstance(props[required]["type"], list)
            else props[required]["type"],
        }
    return {"type": "object", "properties": props, "required": [f.wire for f in res.fields]}


def _list_schema(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": ref}}, "cursor": {"type": "string"}},
        "required": ["items", "cursor"],
    }


_ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ID = {
    "description": "OK",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IdResult"}}},
}


#: what any operation may answer besides its success, all in the JSON error envelope: 405 for another
#: method, 408 for a request that did not arrive in time, 413 for a body over the limit, 415 for a body
#: type not taken, 429 for an account over its limits, 503 beyond the server's connection cap
_ERRORS = {code: _ERROR for code in ("400", "401", "404", "405", "408", "413", "415", "429", "503")}


def _op(
    op_id: str, ok: dict[str, Any], body: str | None = None, params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "responses": {"200": ok, **_ERRORS}}
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_LIST_PARAMS = [
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {
        "name": "order",
        "in": "query",
        "description": "asc: oldest first; desc (the default, also for any other value): newest first",
        "schema": {"type": "string"},
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
    op["description"] = (
        f"Create a task per row of a task/export file (at most {IMPORT_MAX_ROWS:,} rows, a body of at most "
        f"{IMPORT_MAX_BODY // 2**20} MiB), all or none. JSONL: export's item lines or bare objects. CSV: "
        "export's, meta as YAML, empty cells null."
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
    op["responses"]["413"] = _ERROR
    op["responses"]["415"] = _ERROR
    return op


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [TaskWrite, BotWrite, ContactWrite, ConversationWrite, PauseBody, PreviewBody, BackfillBody, TaskImport],
        ref_template="#/components/schemas/{name}",
    )
    schemas: dict[str, Any] = dict(components)
    schemas["Error"] = {
        "type": "object",
        "properties": {"message": {"type": "string"}, "code": {"type": "string"}},
        "required": ["message", "code"],
    }
    schemas["IdResult"] = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    paths: dict[str, Any] = {}
    for res, write in (
        (TASK, "TaskWrite"),
        (BOT, "BotWrite"),
        (CONTACT, "ContactWrite"),
        (CONVERSATION, "ConversationWrite"),
    ):
        title = res.name.capitalize()
        schemas[title] = _resource_schema(res)
        schemas[f"{title}List"] = _list_schema(f"#/components/schemas/{title}")
        base = f"/api/v1/{res.name}"
        pid = [_path_param(f"{res.name}Id")]
        paths[f"{base}/create"] = {"post": _op(f"{res.name}Create", _ID, write)}
        list_params = [*_LIST_PARAMS, _PAUSED] if res is TASK else _LIST_PARAMS
        paths[f"{base}/list"] = {
            "get": _op(f"{res.name}List", _ok(f"#/components/schemas/{title}List"), params=list_params)
        }
        paths[f"{base}/{{{res.name}Id}}/fetch"] = {
            "get": _op(f"{res.name}Fetch", _ok(f"#/components/schemas/{title}"), params=pid)
        }
        paths[f"{base}/{{{res.name}Id}}/update"] = {"post": _op(f"{res.name}Update", _ID, write, pid)}
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
    schemas["TaskExportList"] = _list_schema("#/components/schemas/TaskExport")
    paths["/api/v1/task/export"] = {
        "get": _op("taskExport", _ok("#/components/schemas/TaskExportList"), params=[*_LIST_PARAMS, _PAUSED])
    }
    paths["/api/v1/contact/{contactId}/task/list"] = {
        "get": _op(
            "contactTaskList",
            _ok("#/components/schemas/TaskList"),
            params=[_path_param("contactId"), *_LIST_PARAMS],
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
    schemas["SchedulePreview"] = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "runAt": {"type": "integer", "description": "epoch milliseconds"},
                        "localTime": {"type": "string", "description": "ISO 8601 with offset, in the timezone"},
                        "dst": {"type": ["string", "null"], "enum": ["gap", "fold", None]},
                    },
                    "required": ["runAt", "localTime", "dst"],
                },
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["items", "warnings"],
    }
    preview_ok = {
        "description": "OK",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SchedulePreview"}}},
    }
    paths["/api/v1/schedule/preview"] = {"post": _op("schedulePreview", preview_ok, "PreviewBody")}
    take = {"name": "take", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}
    paths["/api/v1/task/{taskId}/preview"] = {"get": _op("taskPreview", preview_ok, params=[*tid, take])}
    paths["/api/v1/task/{taskId}/resume"] = {"post": _op("taskResume", _ID, params=tid)}
    counted = {
        "description": "OK",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "count": {"type": "integer"}},
                    "required": ["id", "count"],
                }
            }
        },
    }
    paths["/api/v1/task/{taskId}/backfill"] = {"post": _op("taskBackfill", counted, "BackfillBody", tid)}
    paths["/api/v1/task/import"] = {"post": _import_op(schemas)}
    paths["/api/v1/task/{taskId}/execution/{executionId}/fetch"] = {
        "get": _op(
            "taskExecutionFetch",
            _ok("#/components/schemas/TaskExecution"),
            params=[*tid, _path_param("executionId")],
        )
    }
    schemas["TaskEvent"] = {
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
            "createdAt": {"type": "integer", "description": "epoch milliseconds"},
            "data": {"type": "object"},
        },
        "required": ["type", "createdAt", "data"],
    }
    schemas["ExecutionBegin"] = {
        "type": "object",
        "description": "data of executionBegin (extension): before the execution's first event",
        "properties": {
            "executionId": {"type": "string"},
            "taskId": {"type": "string"},
            "trigger": {"type": "string", "enum": ["schedule", "catchup", "trigger", "backfill"]},
            "scheduledFor": {"type": ["integer", "null"], "description": "the slot, epoch ms (null: manual)"},
            "attempt": {"type": "integer", "description": "1, then + 1 each time the run is handed back"},
        },
        "required": ["executionId", "taskId", "trigger", "scheduledFor", "attempt"],
    }
    schemas["ExecutionEnd"] = {
        "type": "object",
        "description": "data of executionEnd (extension): after the execution's last event",
        "properties": {
            "executionId": {"type": "string"},
            "taskId": {"type": "string"},
            "status": {"type": "string", "enum": ["idle", "canceled"]},
            "outcome": {"type": "string", "enum": ["pending", "success", "failure"]},
            "summary": {"type": "string"},
        },
        "required": ["executionId", "taskId", "status", "outcome", "summary"],
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
                "schema": {
                    "type": "object",
                    "properties": {"historyLength": {"type": "integer", "minimum": 0, "maximum": 1000}},
                }
            }
        }
    }
    paths["/api/v1/task/{taskId}/subscribe"] = {"post": sub}
    paths["/api/v1/task/{taskId}/execution/list"] = {
        "get": _op("taskExecutionList", _ok("#/components/schemas/TaskExecutionList"), params=[*tid, *_LIST_PARAMS])
    }
    paths["/api/v1/task/{taskId}/execution/{executionId}/cancel"] = {
        "post": _op("taskExecutionCancel", _ID, params=[*tid, _path_param("executionId")])
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "agentcron", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
