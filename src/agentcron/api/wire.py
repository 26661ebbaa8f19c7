"""Wire helpers shared by every resource: JSON bodies in and out, the error envelope, Accept negotiation."""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import msgspec
import msgspec.inspect
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response.base import ASGIResponse

from agentcron.errors import CODES, ApiError

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
JSON = "application/json"
JSONL = "application/jsonl"

#: how deep free JSON (``meta``, an ability's ``config``: any field typed as a plain object or array) may
#: nest, counting objects and arrays, the field's own value the first level
MAX_DEPTH = 32
#: the largest magnitude of a number in free JSON: a 64-bit float's, which every JSON reader can hold (msgspec
#: refuses a float beyond it as it decodes; this refuses the same magnitude written as an integer)
MAX_NUMBER = int(sys.float_info.max)
_MAX_NUMBER_TEXT = "1.7976931348623157e308"


def json_response(data: Any, status: int = 200) -> Response[bytes]:
    return Response(content=encode(data), status_code=status, media_type=JSON)


def json_asgi(data: Any) -> ASGIResponse:
    """`json_response` for hot read paths: a finished ASGI response, which Litestar sends as is instead of
    converting a `Response` per request (measurably faster on ``task/{id}/fetch``). The handler must
    be annotated ``-> ASGIResponse`` for Litestar to pick that path."""
    return ASGIResponse(body=encode(data), media_type=JSON)


def json_page(items: list[str], cursor: str) -> ASGIResponse:
    """A list page ``{"items": [...], "cursor": ...}`` from items already written as JSON text (by the
    database: `Store.list_page_json`), as a finished ASGI response (see `json_asgi`)."""
    body = b'{"items":[' + ",".join(items).encode() + b'],"cursor":' + _encoder.encode(cursor) + b"}"
    return ASGIResponse(body=body, media_type=JSON)


def encode(data: Any) -> bytes:
    """``data`` as JSON. msgspec recurses once per level, so a value nested near the interpreter's recursion
    limit (a ``meta`` stored before `MAX_DEPTH` was enforced, or written straight to the database) raises
    `RecursionError`; such a value is written by `encode_deep` instead: the same bytes, at any depth."""
    try:
        return _encoder.encode(data)
    except RecursionError:
        return encode_deep(data)


_END = object()


def encode_deep(value: Any) -> bytes:
    """`encode` without recursion: objects and arrays through an explicit stack, everything else by msgspec."""
    out = bytearray()
    stack: list[tuple[Iterator[Any], bool]] = []  # the open containers: members left, whether an object
    while True:
        if isinstance(value, dict):
            out += b"{"
            stack.append((iter(value.items()), True))
        elif isinstance(value, list | tuple):
            out += b"["
            stack.append((iter(value), False))
        else:
            out += _encoder.encode(value)
        while stack:  # the next member to write, closing the containers that have none left
            members, is_object = stack[-1]
            member: Any = next(members, _END)
            if member is _END:
                stack.pop()
                out += b"}" if is_object else b"]"
                continue
            if out[-1] not in b"{[":
                out += b","
            if is_object:
                key, value = member
                out += _encoder.encode(key if isinstance(key, str) else str(key)) + b":"
            else:
                value = member
            break
        else:
            return bytes(out)


def error_body(status: int, message: str, code: str | None = None) -> Response[bytes]:
    body = {"message": message, "code": code or CODES.get(status, f"ERROR_{status}")}
    return Response(content=_encoder.encode(body), status_code=status, media_type=JSON)


async def read_body(request: Request[Any, Any, Any], type_: type[T]) -> T:
    """Decode the request body into ``type_``. An empty body reads as ``{}``.

    Raises `ApiError` 400 with msgspec's explanation (which field, what was expected) on bad JSON,
    wrong types, out-of-range values or unknown fields, and naming the field for free JSON nested deeper than
    `MAX_DEPTH` or holding a number beyond `MAX_NUMBER` (`free_json_problem`), however deep.
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
    except RecursionError:  # (free JSON hundreds of levels deep: msgspec recurses per level)
        raise ApiError(400, too_deep(deep_field(raw))) from None
    problem = free_json_problem(body)
    if problem is not None:
        raise ApiError(400, problem)
    # PostgreSQL text and jsonb cannot hold NUL: refuse it on every backend (cheap pre-check first).
    if b"\\u0000" in raw and has_nul(msgspec.json.decode(raw)):
        raise ApiError(400, "Invalid request body: strings must not contain NUL (\\u0000)")
    return body


def decode_fields(type_: type[T], data: dict[str, Any]) -> T:
    """`read_body` for fields already parsed (the console's forms): the same types, ranges, free-JSON and
    NUL checks, with the same messages. Raises `ApiError` 400."""
    try:
        body = msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as e:
        raise ApiError(400, f"Invalid request body: {e}") from None
    except RecursionError:
        raise ApiError(400, too_deep(BODY)) from None
    problem = free_json_problem(body)
    if problem is not None:
        raise ApiError(400, problem)
    if has_nul(data):
        raise ApiError(400, "Invalid request body: strings must not contain NUL (\\u0000)")
    return body


def free_json_problem(body: Any, prefix: str = "") -> str | None:
    """The message for the first free-JSON value of a decoded body that nests deeper than `MAX_DEPTH` or holds
    a number beyond `MAX_NUMBER` (or a float that is not finite: YAML can write one); None if there is none.

    Free JSON is a field holding a plain object or array (``meta``), also in the structs of a list field
    (``abilities[0].config``). One pass per body: scalar fields are skipped, a container is walked once.
    ``meta`` sent as ``{"$update": {...}}`` is measured from the object merged, which is what is stored."""
    struct: Any = type(body)
    for attr, wire in _container_fields(struct):
        value = getattr(body, attr)
        kind = type(value)
        if kind is not dict and kind is not list:
            continue
        field = prefix + wire
        if kind is list and value and isinstance(value[0], msgspec.Struct):
            for i, item in enumerate(value):
                problem = free_json_problem(item, f"{field}[{i}].")
                if problem is not None:
                    return problem
            continue
        if wire == "meta" and kind is dict and len(value) == 1 and type(value.get("$update")) is dict:
            value = value["$update"]
        problem = free_value_problem(field, value)
        if problem is not None:
            return problem
    return None


@functools.cache
def _container_fields(struct: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(attribute, wire name) of the fields of a Struct type that may hold an object or an array: the only
    ones `free_json_problem` looks at (a body without them costs a dict lookup)."""

    def container(t: msgspec.inspect.Type) -> bool:
        if isinstance(t, msgspec.inspect.UnionType):
            return any(container(member) for member in t.types)
        if isinstance(t, msgspec.inspect.Metadata):  # (a description)
            return container(t.type)
        return isinstance(t, msgspec.inspect.DictType | msgspec.inspect.ListType | msgspec.inspect.AnyType)

    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple((f.name, f.encode_name) for f in info.fields if container(f.type))


def free_value_problem(field: str, value: Any) -> str | None:
    """`free_json_problem` for one value, the field ``field``."""
    if type(value) is not dict and type(value) is not list:
        return None  # (a scalar where free JSON is typed is refused as a wrong type)
    found = _free_json_walk(value, MAX_DEPTH)
    if found is None:
        return None
    path, bad = found
    if isinstance(bad, dict | list):
        return too_deep(field)
    where = field + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in reversed(path))
    shown = f"an integer of {len(str(abs(bad))):,} digits" if isinstance(bad, int) else repr(bad)
    return (
        f"Invalid {where}: {shown} is out of range; numbers in {field} must be finite and within "
        f"±{_MAX_NUMBER_TEXT} (a 64-bit float's range)"
    )


def _free_json_walk(value: dict[str, Any] | list[Any], levels: int) -> tuple[list[str | int], Any] | None:
    """None if ``value`` nests at most ``levels`` deep (itself the first) and every number in it is in range;
    else the path to the offender (innermost key first) and the offender: the first container one level too
    deep, or the number."""
    if levels == 0:
        return [], value
    members: Any = value.items() if type(value) is dict else enumerate(value)
    for key, v in members:
        kind = type(v)
        if kind is dict or kind is list:
            found = _free_json_walk(v, levels - 1)
        elif kind is int:
            found = ([], v) if v > MAX_NUMBER or v < -MAX_NUMBER else None
        elif kind is float:
            found = None if math.isfinite(v) else ([], v)
        else:
            continue
        if found is not None:
            found[0].append(key)
            return found
    return None


#: the field `deep_path` names when it cannot tell one
BODY = "request body"


def too_deep(field: str) -> str:
    if field == BODY:  # (`deep_path` could not tell the field)
        return (
            f"Invalid {BODY}: nested deeper than {MAX_DEPTH} levels; free JSON (meta, an ability's config) nests at "
            f"most {MAX_DEPTH} levels deep"
        )
    return (
        f"Invalid {field}: nested deeper than {MAX_DEPTH} levels; objects and arrays may nest at most {MAX_DEPTH} "
        f"levels deep, counting {field} itself"
    )


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def deep_path(raw: bytes, limit: int = MAX_DEPTH + 4) -> list[str | int] | None:
    """The keys and indices leading to the first object or array of the JSON text ``raw`` nested more than
    ``limit`` deep (the document itself at depth 1), found without recursion (for a text msgspec could not
    decode for its depth); None if there is none, or the text is not JSON enough to tell."""
    path: list[Any] = []  # per open container: the key or index of the member being read
    in_object: list[bool] = []
    last_string = b'""'
    for match in _TOKEN.finditer(raw):
        token = match.group()
        char = token[:1]
        if char == b'"':
            last_string = token
        elif char in (b"{", b"["):
            if len(path) >= limit:
                return list(path)
            in_object.append(char == b"{")
            path.append(0)
        elif char in (b"}", b"]"):
            if not path:
                return None
            path.pop()
            in_object.pop()
        elif not path:
            return None
        elif char == b":":
            if in_object[-1]:
                try:
                    path[-1] = str(msgspec.json.decode(last_string))
                except msgspec.DecodeError:
                    path[-1] = last_string.decode(errors="replace")
        elif not in_object[-1]:  # a comma between array members
            path[-1] += 1
    return None


def deep_field(raw: bytes) -> str:
    """The free-JSON field of a request body nested too deep to decode, by `deep_path`."""
    return free_field(deep_path(raw) or [])


def free_field(path: Sequence[str | int]) -> str:
    """The free-JSON field a path into a body leads through: ``meta``, or ``abilities[0].config`` for a field
    of a struct in a list (`BODY` if the path does not start with a field)."""
    if not path or not isinstance(path[0], str):
        return BODY
    if len(path) > 2 and isinstance(path[1], int) and isinstance(path[2], str):
        return f"{path[0]}[{path[1]}].{path[2]}"
    return path[0]


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
    store = getattr(request.app.state, "ctx", None) and request.app.state.ctx.store
    if store is not None and store.db.sql.is_foreign_key_violation(exc):
        # The only foreign keys a request can break name the account: it was deleted after this request
        # authenticated (a secret is re-read at most `AUTH_RECHECK_S` after it was last seen).
        return error_body(401, "Invalid API secret: its account was deleted")
    request.logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_body(500, "Internal server error")
