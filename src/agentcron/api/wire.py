"""Wire helpers shared by every resource: JSON bodies in and out, the error envelope, Accept negotiation."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response.base import ASGIResponse

from agentcron.errors import CODES, ApiError

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
JSON = "application/json"
JSONL = "application/jsonl"


def json_response(data: Any, status: int = 200) -> Response[bytes]:
    return Response(content=_encoder.encode(data), status_code=status, media_type=JSON)


def json_asgi(data: Any) -> ASGIResponse:
    """`json_response` for hot read paths: a finished ASGI response, which Litestar sends as is instead of
    converting a `Response` per request (measurably faster on ``task/{id}/fetch``). The handler must
    be annotated ``-> ASGIResponse`` for Litestar to pick that path."""
    return ASGIResponse(body=_encoder.encode(data), media_type=JSON)


def encode(data: Any) -> bytes:
    return _encoder.encode(data)


def error_body(status: int, message: str, code: str | None = None) -> Response[bytes]:
    body = {"message": message, "code": code or CODES.get(status, f"ERROR_{status}")}
    return Response(content=_encoder.encode(body), status_code=status, media_type=JSON)


async def read_body(request: Request[Any, Any, Any], type_: type[T]) -> T:
    """Decode the request body into ``type_``. An empty body reads as ``{}``.

    Raises `ApiError` 400 with msgspec's explanation (which field, what was expected) on bad JSON,
    wrong types, out-of-range values or unknown fields.
    """
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    try:
        # strict=False accepts integral floats (10.0) and numeric strings for ints, as the reference
        # server's Joi validation does: PyPI chatbotkit round-trips every number as a float.
        body = msgspec.json.decode(raw, type=type_, strict=False)
    except msgspec.ValidationError as e:
        raise ApiError(400, f"Invalid request body: {e}") from None
    except msgspec.DecodeError as e:
        raise ApiError(400, f"Invalid JSON body: {e}") from None
    # PostgreSQL text and jsonb cannot hold NUL: refuse it on every backend (cheap pre-check first).
    if b"\\u0000" in raw and has_nul(msgspec.json.decode(raw)):
        raise ApiError(400, "Invalid request body: strings must not contain NUL (\\u0000)")
    return body


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


FORMATS = {
    "": "json",
    "*/*": "json",
    "application/json": "json",
    "application/*": "json",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "text/csv": "csv",
    "text/event-stream": "sse",
}


def negotiate(request: Request[Any, Any, Any]) -> str:
    """The response format chosen by the first Accept value: json, jsonl, csv or sse.

    Raises `ApiError` 400 ``Unsupported accept header`` for anything else (as the reference server)."""
    accept = request.headers.get("accept", "")
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    fmt = FORMATS.get(first)
    if fmt is None:
        raise ApiError(400, f"Unsupported accept header: {first!r}")
    return fmt


def handle_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return error_body(exc.status, exc.message, exc.code)


def handle_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    messages = {
        404: "Not found",
        405: "Method not allowed",
        413: "Request body too large",
    }
    message = messages.get(status) or (exc.detail if isinstance(exc.detail, str) else "Bad request")
    return error_body(status, message)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    request.logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_body(500, "Internal server error")
