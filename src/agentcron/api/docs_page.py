"""The interactive API reference at ``/api/v1/docs``: a small page of our own (``static/docs.*``: no
third-party code, nothing from another host, so it works offline) that loads ``/api/v1/openapi.json`` and
renders every operation, its parameters, bodies, answers and schemas, with a form to send each one to this
server using a secret typed into the page (kept in the browser tab's session storage)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron.errors import not_found

#: the page's own files, by the name they are served under (``/api/v1/docs/<name>``)
ASSETS = {"docs.js": "text/javascript", "docs.css": "text/css"}
#: the page and its files load only from this server
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def _read(name: str) -> bytes:
    return resources.files("agentcron.api").joinpath("static", name).read_bytes()


@get("/api/v1/docs", include_in_schema=False)
async def docs_page() -> Response[bytes]:
    return Response(
        _read("docs.html"),
        media_type="text/html",
        headers={"content-security-policy": CSP, "cache-control": "no-cache"},
    )


@get("/api/v1/docs/{name:str}", include_in_schema=False)
async def docs_asset(name: FromPath[str]) -> Response[bytes]:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise not_found()
    return Response(
        _read(name),
        media_type=media_type,
        headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )


def docs_routes() -> list[HTTPRouteHandler]:
    return [docs_page, docs_asset]
