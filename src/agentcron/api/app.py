"""The Litestar application: routes, the error envelope, body limits and the landing page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.logging.config import LoggingConfig
from litestar.response.base import ASGIResponse
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler, ExceptionHandler

from agentcron import __version__
from agentcron.api.context import AppContext
from agentcron.api.control import control_routes
from agentcron.api.docs_page import docs_routes
from agentcron.api.openapi import openapi_document
from agentcron.api.resources import resource_routes
from agentcron.api.runs import run_routes
from agentcron.api.schedules import schedule_routes
from agentcron.api.subscribe import subscribe
from agentcron.api.tasks import task_routes
from agentcron.api.webhooks import webhook_routes
from agentcron.api.wire import handle_api_error, handle_http_exception, handle_unexpected, json_asgi, json_response
from agentcron.errors import ApiError, not_found
from agentcron.health import Probes, ready_body
from agentcron.observers.metrics import CONTENT_TYPE

_LANDING = """<!doctype html><html><head><meta charset="utf-8"><title>agentcron</title></head>
<body style="font-family:system-ui;max-width:40em;margin:3em auto">
<h1>agentcron {version}</h1>
<p>AI agents as scheduled or on-demand tasks, behind a ChatBotKit-compatible Tasks API.</p>
<ul><li>API base: <code>/api/v1</code> (bearer secret; create one with
<code>agentcron account create NAME</code>)</li>
<li>Console: <a href="/app/">/app/</a> (sign in with an API secret)</li>
<li>OpenAPI document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></li></ul>
</body></html>"""


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def landing(request: Request[Any, Any, Any]) -> str:
    if "application/json" in request.headers.get("accept", ""):
        return Response(  # type: ignore[return-value]
            content=b'{"name":"agentcron","version":"' + __version__.encode() + b'","docs":"/api/v1/openapi.json"}',
            media_type="application/json",
        )
    return _LANDING.format(version=__version__)


@get("/healthz", include_in_schema=False)
async def healthz() -> ASGIResponse:
    """Liveness, without touching the database (also the bare baseline of bench/api.py, so it answers
    through the same response path as ``task/{id}/fetch``)."""
    return json_asgi({"ok": True, "version": __version__})


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> ASGIResponse:
    """Readiness: 200 when the database answers and this process's roles run, else 503 with the reason
    (`agentcron.health`)."""
    probes: Probes | None = request.app.state.get("probes")
    status, body = ready_body(None if probes is None else await probes.ready())
    return ASGIResponse(body=body, status_code=status, media_type=MediaType.JSON)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> ASGIResponse:
    """This process's metrics in the Prometheus text format."""
    probes: Probes | None = request.app.state.get("probes")
    text = None if probes is None else await probes.render_metrics()
    if text is None:
        raise not_found("Not found: this process keeps no metrics")
    return ASGIResponse(body=text, media_type=CONTENT_TYPE)


@get("/api/v1/openapi.json", include_in_schema=False)
async def openapi_json() -> Response[bytes]:
    return json_response(openapi_document())


def create_app(
    ctx: AppContext,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    probes: Probes | None = None,
    template_config: TemplateConfig[Any] | None = None,
    pages: tuple[str, ExceptionHandler[Any]] | None = None,
) -> Litestar:
    """The app serving ``ctx`` (built by the composition root, `agentcron.runtime.Services`); ``probes``
    answer ``/readyz`` and ``/metrics``; ``extra_routes`` and ``template_config`` carry the console
    (`agentcron.web`), which the composition root adds, and ``pages`` (path prefix, handler) answers the
    HTTP errors of paths under that prefix that no route matched (the console's 404 page, not JSON)."""

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if pages is not None and request.url.path.startswith(pages[0]):
            return pages[1](request, exc)
        return handle_http_exception(request, exc)

    app = Litestar(
        route_handlers=[
            landing,
            healthz,
            readyz,
            metrics,
            openapi_json,
            *docs_routes(),
            *task_routes(),
            *run_routes(),
            *control_routes(),
            *schedule_routes(),
            subscribe,
            *resource_routes(),
            *webhook_routes(),
            *extra_routes,
        ],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: http_error,
            Exception: handle_unexpected,
        },
        request_max_body_size=ctx.settings.max_body_bytes,
        template_config=template_config,
        openapi_config=None,
        # The process configures logging (`agentcron.observers.logs.setup`): Litestar's logger only propagates.
        logging_config=LoggingConfig(
            configure_root_logger=False,
            disable_existing_loggers=False,
            handlers={},
            formatters={},
            loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
        ),
        debug=False,
    )
    app.state.ctx = ctx
    app.state.probes = probes
    return app
