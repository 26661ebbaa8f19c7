"""The served OpenAPI document matches what the API really does."""

from __future__ import annotations

import re

import httpx

from agentcron.api.app import create_app
from agentcron.api.context import AppContext
from agentcron.clock import SystemClock
from agentcron.config import Settings
from tests.conftest import Server

API = "/api/v1"


def _doc(c: httpx.Client) -> dict:  # type: ignore[type-arg]
    r = c.get(f"{API}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    return r.json()  # type: ignore[no-any-return]


def test_every_api_route_is_documented(sqlite_server: Server) -> None:
    app = create_app(AppContext(Settings(), None, SystemClock(), None, None))  # type: ignore[arg-type]  # routes only
    with sqlite_server.client() as c:
        paths = _doc(c)["paths"]
    served = set()
    for route in app.routes:
        if not route.path.startswith(API) or route.path.endswith("openapi.json"):
            continue
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}:
            served.add((re.sub(r"\{(\w+):str\}", "{}", route.path), method.lower()))
    documented = {(re.sub(r"\{\w+\}", "{}", p), m) for p, ops in paths.items() for m in ops}
    assert served == documented


def test_documented_shapes_equal_real_responses(sqlite_server: Server) -> None:
    with sqlite_server.client(sqlite_server.account()) as c:
        schemas = _doc(c)["components"]["schemas"]
        bot = c.post(f"{API}/bot/create", json={"name": "b"}).json()["id"]
        contact = c.post(f"{API}/contact/create", json={"name": "c"}).json()["id"]
        task = c.post(f"{API}/task/create", json={"name": "t", "botId": bot, "contactId": contact}).json()["id"]
        conv = c.post(f"{API}/conversation/create", json={"botId": bot, "messages": [{"type": "user", "text": "hi"}]})
        c.post(f"{API}/task/{task}/trigger", json={})
        for name, path in (
            ("Task", f"task/{task}/fetch"),
            ("Bot", f"bot/{bot}/fetch"),
            ("Contact", f"contact/{contact}/fetch"),
            ("Conversation", f"conversation/{conv.json()['id']}/fetch"),
        ):
            item = c.get(f"{API}/{path}").json()
            assert set(item) == set(schemas[name]["properties"]) == set(schemas[name]["required"]), name
        ex = c.get(f"{API}/task/{task}/execution/list").json()["items"][0]
        assert set(ex) == set(schemas["TaskExecution"]["properties"])
        msg = c.get(f"{API}/conversation/{conv.json()['id']}/message/list").json()["items"][0]
        assert set(msg) == set(schemas["Message"]["properties"])
        # Every documented write field is one the API accepts (an unknown field would be refused by name).
        for field in schemas["TaskWrite"]["properties"]:
            r = c.post(f"{API}/task/create", json={field: None})
            assert "unknown field" not in r.text.lower(), (field, r.text)
