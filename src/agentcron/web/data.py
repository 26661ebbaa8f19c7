"""Import and export of tasks: downloads in the formats of ``task/export`` and an upload checked row by row
(``task/import``'s rules, `agentcron.api.imports.import_file`) before anything is written."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from agentcron.api.imports import IMPORT_MAX_BODY, import_file
from agentcron.api.paging import respond_list
from agentcron.api.tasks import TASKS, export_pages
from agentcron.api.wire import json_response
from agentcron.errors import ApiError
from agentcron.store.base import ListQuery
from agentcron.web.access import checked_form, viewer

FORMATS = {"json": "json", "jsonl": "jsonl", "csv": "csv"}
#: the largest JSON download, in tasks (an import takes at most 10,000 rows)
JSON_MAX = 10_000


@get("/app/export", name="console-export")
async def export_page(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    return Template("export.html", context={"csrf": who.csrf, "section": "Export"})


@get(["/app/export.json", "/app/export.jsonl", "/app/export.csv"], name="console-export-file")
async def export_file(request: Request[Any, Any, Any]) -> Response[Any]:
    """Every task of the account as a file: ``json`` (``{"items": [...]}``), ``jsonl`` or ``csv``, the
    formats of ``task/export``, which ``task/import`` and the Import page read back."""
    who = await viewer(request)
    fmt = FORMATS[request.url.path.rsplit(".", 1)[-1]]
    fetch = export_pages(who.ctx, who.account_id)
    if fmt == "json":
        items: list[dict[str, Any]] = []
        query = ListQuery(take=100)
        while len(items) < JSON_MAX:
            page = await fetch(query)
            items.extend(page)
            if len(page) < query.take:
                break
            query.after = (page[-1]["createdAt"], page[-1]["id"])
        response: Response[Any] = json_response({"items": items})
    else:
        response = await respond_list(request, fmt, fetch, ListQuery(take=100), None, yaml_meta=True)
    response.headers["content-disposition"] = f'attachment; filename="agentcron-tasks.{fmt}"'
    return response


@get("/app/import", name="console-import")
async def import_page(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    return Template("import.html", context={"csrf": who.csrf, "section": "Import", "result": None})


def sniff(name: str, body: bytes) -> str:
    """The format of an uploaded file: by its extension, else by its first character."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in ("json", "jsonl", "csv"):
        return ext
    if ext == "ndjson":
        return "jsonl"
    head = body.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "jsonl" if body.strip().count(b"\n") else "json"
    return "csv"


@post("/app/import", name="console-import-file", request_max_body_size=IMPORT_MAX_BODY, status_code=200)
async def import_upload(request: Request[Any, Any, Any]) -> Template:
    """Check (``action=check``: a dry run) or import the uploaded file; the result lists every bad row."""
    who, form = await checked_form(request)
    upload = form.get("file")
    dry_run = form.get("action") != "import"
    context: dict[str, Any] = {"csrf": who.csrf, "section": "Import", "dry_run": dry_run}
    if not isinstance(upload, UploadFile) or not upload.filename:
        context["result"] = {"problem": "Choose a file first: a JSON, JSONL or CSV export of tasks."}
        return Template("import.html", context=context, status_code=400)
    body = await upload.read()
    fmt = sniff(upload.filename, body)
    try:
        outcome = await import_file(who.ctx, TASKS, who.account_id, fmt, body, dry_run=dry_run)
    except ApiError as e:
        context["result"] = {"problem": e.message}
        return Template("import.html", context=context, status_code=e.status)
    context["result"] = {
        "file": upload.filename,
        "format": fmt,
        "total": outcome.total,
        "errors": sorted(outcome.errors.items()),
        "imported": len(outcome.ids),
    }
    return Template("import.html", context=context, status_code=400 if outcome.errors else 200)


def data_routes() -> list[Any]:
    return [export_page, export_file, import_page, import_upload]
