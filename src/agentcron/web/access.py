"""Who is looking: the signed-in account of a console request, sign-in and sign-out, CSRF checks.

Every console request reads the session cookie and checks its API secret again through the API's own
lookup (`AccountStore.account_for_secret`, re-read from the database at most every 0.5 s), so a revoked
secret or a deleted account ends the session at once. Every POST must carry the session's CSRF token
(form field ``csrf`` or header ``X-CSRF-Token``) and, when the browser sends an ``Origin``, come from
this origin: otherwise 403 and nothing is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.datastructures.multi_dicts import FormMultiDict
from litestar.response import Redirect, Template

from agentcron.api.context import AppContext, ctx_of
from agentcron.errors import ApiError
from agentcron.web.session import COOKIE, MAX_AGE_S, Sealer, same_token

PATH = "/app"
HOME = "/app/tasks"
ENDED = "Your session ended: its API secret was revoked or its account deleted. Sign in with a valid secret."
CSRF_REFUSED = (
    "Refused: this request did not come from a page of this console (its CSRF token is missing or wrong). "
    "Reload the page and try again."
)


class SignInRequired(Exception):
    """The request has no valid session: the console answers with the sign-in page (`redirect_to_sign_in`)."""

    def __init__(self, message: str = "", clear: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.clear = clear


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in console request: the app context, the account, the session's CSRF token, now (ms)."""

    ctx: AppContext
    account_id: str
    csrf: str
    now: int


def sealer_of(request: Request[Any, Any, Any]) -> Sealer:
    sealer: Sealer = request.route_handler.opt["sealer"]
    return sealer


async def viewer(request: Request[Any, Any, Any]) -> Viewer:
    """The signed-in viewer. Raises `SignInRequired` without a valid session, or when its secret no longer
    names an account."""
    ctx = ctx_of(request)
    now = ctx.clock.now_ms()
    value = request.cookies.get(COOKIE)
    data = sealer_of(request).open(value, now) if value else None
    if data is None:
        raise SignInRequired("Your session has expired. Sign in again." if value else "", clear=bool(value))
    account_id = await ctx.store.accounts.account_for_secret(data.s)
    if account_id is None:
        raise SignInRequired(ENDED, clear=True)
    return Viewer(ctx, account_id, data.c, now)


def check_origin(request: Request[Any, Any, Any]) -> None:
    """Raises `ApiError` 403 when the browser says the request comes from another origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise ApiError(403, CSRF_REFUSED)
    elif origin == "null":
        raise ApiError(403, CSRF_REFUSED)


async def checked_form(request: Request[Any, Any, Any]) -> tuple[Viewer, FormMultiDict]:
    """The viewer and the form of a state-changing request. Raises `SignInRequired`, or `ApiError` 403
    without the session's CSRF token (or from another origin)."""
    who = await viewer(request)
    check_origin(request)
    form = await request.form()
    sent = request.headers.get("x-csrf-token") or form.get("csrf")
    if not same_token(sent if isinstance(sent, str) else None, who.csrf):
        raise ApiError(403, CSRF_REFUSED)
    return who, form


def _cleared() -> Cookie:
    """The session cookie, removed."""
    return Cookie(key=COOKIE, value="", path=PATH, max_age=0, expires=0, httponly=True, samesite="strict")


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith(PATH + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def redirect_to_sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """The answer to a request without a valid session: to the sign-in page (htmx: ``HX-Redirect``)."""
    target = "/app/login"
    if request.method == "GET" and request.url.path != target:
        target += "?next=" + request.url.path
    cookies = [_cleared()] if exc.clear else []
    if exc.clear and exc.message:
        target += ("&" if "?" in target else "?") + "ended=1"
    if request.headers.get("hx-request"):
        return Response(b"", status_code=401, headers={"HX-Redirect": target}, cookies=cookies)
    return Redirect(target, status_code=303, cookies=cookies)


@get(f"{PATH}/login", name="console-login")
async def login_page(request: Request[Any, Any, Any]) -> Template:
    ended = request.query_params.get("ended")
    return Template(
        "login.html",
        context={"next": _safe_next(request.query_params.get("next")), "error": ENDED if ended else None},
    )


@post(f"{PATH}/login", name="console-sign-in", status_code=303)
async def sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign in with an API secret: a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
    check_origin(request)
    ctx = ctx_of(request)
    form = await request.form()
    secret = str(form.get("secret") or "").strip()
    target = _safe_next(str(form.get("next") or ""))
    account_id = await ctx.store.accounts.account_for_secret(secret) if secret else None
    if account_id is None:
        error = (
            "Enter an API secret."
            if not secret
            else "That API secret is not valid: check it, or create one with 'agentcron token create ACCOUNT'."
        )
        return Template("login.html", context={"next": target, "error": error}, status_code=401)
    value, _ = sealer_of(request).new(secret, ctx.clock.now_ms())
    cookie = Cookie(
        key=COOKIE,
        value=value,
        path=PATH,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # (uvicorn applies X-Forwarded-Proto from trusted proxies only)
    )
    return Redirect(target, status_code=303, cookies=[cookie])


@post(f"{PATH}/logout", name="console-sign-out", status_code=303)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    await checked_form(request)
    return Redirect("/app/login", status_code=303, cookies=[_cleared()])


def access_routes() -> list[Any]:
    return [login_page, sign_in, sign_out]
