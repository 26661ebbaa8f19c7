"""The console's Bots and Contacts pages over real HTTP (both backends)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

from tests.http_helpers import API
from tests.web_helpers import Console
from tests.web_helpers import console as console  # the fixture


def _errors(html: str) -> dict[str, str]:
    return {k: unescape(v) for k, v in re.findall(r'id="error-(\w+)"[^>]*>([^<]*)<', html)}


def test_bots_list_create_edit(console: Callable[[], Console]) -> None:
    con = console()
    page = con.web.get("/app/bots").text
    assert 'id="bot-rows"' in page and "No bots yet" in page and 'href="/app/bots/new"' in page
    form = con.web.get("/app/bots/new").text
    for field in ("name", "model", "abilities", "description"):
        assert f'<label for="{field}">' in form
    assert "Create bot</button>" in form
    refused = {
        "model": ({"model": "nope:x"}, "Invalid model"),
        "abilities": ({"abilities": '[{"type": "zzz"}]'}, "Invalid abilities[0].type"),
    }
    for field, (data, message) in refused.items():
        r = con.post("/app/bots/new", name="B", **{"model": "test", "abilities": "[]", **data})
        assert r.status_code == 400 and message in _errors(r.text)[field], field
    r = con.post("/app/bots/new", name="B", model="test", abilities="not json")
    assert r.status_code == 400 and "not JSON" in _errors(r.text)["abilities"]
    assert con.api.get(f"{API}/bot/list").json()["items"] == []
    r = con.post("/app/bots/new", name="Helper", model="test", abilities='[{"type": "wait", "config": {"seconds": 1}}]')
    assert r.status_code == 303
    bot = con.api.get(f"{API}/bot/list").json()["items"][0]
    assert (bot["name"], bot["model"], bot["abilities"][0]["type"]) == ("Helper", "test", "wait")
    page = con.web.get("/app/bots").text
    assert f'id="bot-{bot["id"]}"' in page and "Helper" in page
    edit = con.web.get(f"/app/bots/{bot['id']}/edit").text
    assert 'value="Helper"' in edit and "Save bot</button>" in edit and "&#34;wait&#34;" in edit
    r = con.post(f"/app/bots/{bot['id']}/edit", name="Helper 2", model="", abilities="[]", description="d")
    assert r.status_code == 303
    bot = con.api.get(f"{API}/bot/{bot['id']}/fetch").json()
    assert (bot["name"], bot["abilities"], bot["description"]) == ("Helper 2", [], "d")


def test_contacts_and_tenancy(console: Callable[[], Console]) -> None:
    mine, theirs = console(), console()
    assert "No contacts yet" in mine.web.get("/app/contacts").text
    contact = mine.api.post(f"{API}/contact/create", json={"name": "Ada", "email": "ada@example.com"}).json()["id"]
    page = mine.web.get("/app/contacts").text
    assert f'id="contact-{contact}"' in page and "ada@example.com" in page and 'id="contact-rows"' in page
    assert f"contact-{contact}" not in theirs.web.get("/app/contacts").text
    bot = theirs.api.post(f"{API}/bot/create", json={"name": "theirs"}).json()["id"]
    assert mine.web.get(f"/app/bots/{bot}/edit").status_code == 404
    assert mine.post(f"/app/bots/{bot}/edit", name="mine now").status_code == 404
    assert theirs.api.get(f"{API}/bot/{bot}/fetch").json()["name"] == "theirs"
