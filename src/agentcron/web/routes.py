"""The console's routes under ``/app/``: pages, fragments, actions, and its static files.

Console errors are pages, not the API's JSON: an `ApiError` raised by the API functions the console calls
(the same rules as the API) renders as a page saying what went wrong, with the same status; a request
without a valid session goes to the sign-in page. A path under ``/app/`` that names no page gets the
same page (404), not the API's JSON.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.static_files import create_static_files_router

from agentcron.config import Settings
from agentcron.errors import ApiError
from agentcron.web.access import SignInRequired, access_routes, redirect_to_sign_in
from agentcron.web.bots import bot_routes
from agentcron.web.data import data_routes
from agentcron.web.executions import execution_routes
from agentcron.web.render import STATIC
from agentcron.web.session import Sealer
from agentcron.web.task_form import task_form_routes
from agentcron.web.task_page import task_page_routes
from agentcron.web.tasks import tasks_routes
from agentcron.web.webhooks import webhook_routes

_HEADINGS = {400: "That did not work", 403: "Not allowed", 404: "Not found", 429: "Limit reached"}


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A console error as a page (an `ApiError` or an HTTP exception: 404 for a path naming no page)."""
    if isinstance(exc, ApiError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        message = "This page does not exist." if status == 404 else str(exc.detail)
    else:  # pragma: no cover - the app's handler logs unexpected errors
        raise exc
    if status == 404 and message == "Not found":
        message = "There is nothing here: it may have been deleted, or it belongs to another account."
    heading = _HEADINGS.get(status, "Something went wrong")
    csrf = None
    return Template(
        "error.html",
        context={"heading": heading, "message": message, "csrf": csrf},
        status_code=status,
    )


def web_routes(settings: Settings) -> list[Any]:
    """The console's routers (pages and static files), for `agentcron.api.app.create_app`'s extra routes."""
    pages = Router(
        path="/",
        route_handlers=[
            *access_routes(),
            *tasks_routes(),
            *task_form_routes(),
            *task_page_routes(),
            *execution_routes(),
            *bot_routes(),
            *data_routes(),
            *webhook_routes(),
        ],
        exception_handlers={
            SignInRequired: redirect_to_sign_in,
            ApiError: error_page,
            HTTPException: error_page,
        },
        opt={"sealer": Sealer.from_settings(settings)},
        include_in_schema=False,
    )
    static = create_static_files_router(path="/app/static", directories=[STATIC], name="console-static")
    return [pages, static]
