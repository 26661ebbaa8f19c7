"""The served OpenAPI document matches what the API really does."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.specs.openapi.definitions import OPENAPI_31

from agentcron.api.app import create_app
from agentcron.api.context import AppContext
from agentcron.api.openapi import openapi_document
from agentcron.api.openapi_abilities import config_keys
from agentcron.clock import SystemClock
from agentcron.config import Settings
from agentcron.domain import ExecStatus, MisfirePolicy, Outcome, OverlapPolicy, RunKind, SkipReason
from agentcron.engine import ability_config as ac
from agentcron.store.notices import EVENT_TYPES
from tests.conftest import Server

API = "/api/v1"
DOCS = f"{API}/docs"


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
        if not route.path.startswith(API) or route.path.endswith("openapi.json") or route.path.startswith(DOCS):
            continue  # (the document and its reference page are not operations of the API)
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


# -- the document -----------------------------------------------------------------------------------------

METHODS = ("get", "post", "put", "patch", "delete")


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def _validator(doc: dict[str, Any], ref: str) -> jsonschema.Draft202012Validator:
    """A validator of the document's schema at ``ref`` (its own ``$ref`` s resolved in the document)."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator({"$ref": "urn:doc" + ref}, registry=registry)


def test_the_document_is_valid_openapi_3_1(sqlite_server: Server) -> None:
    with sqlite_server.client() as c:
        doc = _doc(c)
    assert doc == openapi_document()
    assert doc["openapi"] == "3.1.0"
    errors = [
        f"{list(e.path)}: {e.message[:300]}" for e in jsonschema.Draft202012Validator(OPENAPI_31).iter_errors(doc)
    ]
    assert not errors, errors
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)  # (raises naming what is wrong)
        _validator(doc, f"#/components/schemas/{name}").is_valid({})  # every $ref in it resolves
    for ref in re.findall(r'"\$ref": "([^"]+)"', str(doc).replace("'", '"')):
        assert ref.startswith("#/components/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]


def test_every_operation_has_a_summary_a_description_and_its_errors() -> None:
    doc = openapi_document()
    tags = {t["name"] for t in doc["tags"]}
    ops = _operations(doc)
    assert len(ops) >= 30
    summaries = set()
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("summary", "").strip() and len(op["summary"]) <= 60, where
        assert len(op.get("description", "").strip()) >= 40, where
        assert op["tags"] and set(op["tags"]) <= tags, where
        summaries.add(op["summary"])
        # the error statuses every operation may answer (an import has no id to miss: no 404)
        expected = {"400", "401", "405", "413", "429"} | ({"404"} if op["operationId"] != "taskImport" else set())
        assert expected <= set(op["responses"]), where
        for status, response in op["responses"].items():
            response = (
                doc["components"]["responses"][response["$ref"].split("/")[-1]] if "$ref" in response else response
            )
            assert response["description"].strip(), (where, status)
    assert len(summaries) == len(ops)  # each operation its own summary


def _values(schema: dict[str, Any]) -> list[Any] | None:
    """The values an enum-typed schema lists (``enum`` or ``const``, through msgspec's nullable anyOf)."""
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    for branch in schema.get("anyOf", []):
        found = _values(branch)
        if found is not None:
            return found + [None]
    return None


#: fields named like these hold one of a fixed set of values wherever they appear
ENUM_NAMES = {"status", "outcome", "trigger", "reason", "overlapPolicy", "misfirePolicy", "visibility", "type", "dst"}
#: (schema, field) pairs that are free strings on purpose
NOT_ENUMS = {
    ("TaskImport", "status"): "ignored on import: any text a task/list row holds",
    ("TaskImport", "outcome"): "ignored on import",
    ("PauseBody", "reason"): "why a person paused a task, in their words",
}


def test_every_enum_typed_field_lists_its_values() -> None:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    unlisted = []

    def walk(name: str, schema: dict[str, Any]) -> None:
        for field, sub in schema.get("properties", {}).items():
            if field in ENUM_NAMES and (name, field) not in NOT_ENUMS and _values(sub) is None:
                unlisted.append(f"{name}.{field}")
            walk(f"{name}.{field}", sub.get("items", sub))
        for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
            walk(name, branch)

    for name, schema in schemas.items():
        walk(name, schema)
    assert not unlisted, unlisted
    # ... and the values are the domain's
    expected: dict[tuple[str, str], list[Any]] = {
        ("Task", "status"): ["idle", "running"],
        ("Task", "outcome"): [o.value for o in Outcome],
        ("Task", "overlapPolicy"): [p.value for p in OverlapPolicy],
        ("Task", "misfirePolicy"): [p.value for p in MisfirePolicy],
        ("TaskExecution", "status"): [s.value for s in ExecStatus],
        ("TaskExecution", "outcome"): [o.value for o in Outcome],
        ("TaskExecution", "trigger"): [k.value for k in RunKind],
        ("TaskExecution", "reason"): [*(r.value for r in SkipReason), "superseded", None],
        ("Bot", "visibility"): ["private", "protected", "public", None],
        ("TaskWrite", "overlapPolicy"): [p.value for p in OverlapPolicy],
        ("TaskWrite", "misfirePolicy"): [p.value for p in MisfirePolicy],
        ("ExecutionEnd", "outcome"): [o.value for o in Outcome],
        ("WebhookDelivery", "status"): ["pending", "delivered", "failed"],
        ("WebhookDelivery", "eventType"): list(EVENT_TYPES),
    }
    for (name, field), values in expected.items():
        assert sorted(map(str, _values(schemas[name]["properties"][field]) or [])) == sorted(map(str, values)), field
    message_types = _values(schemas["ConversationMessage"]["properties"]["type"]) or []
    assert sorted(schemas["Message"]["properties"]["type"]["enum"]) == sorted(message_types)
    # An ability's type: the discriminator maps every type the engine has, and nothing else.
    ability = schemas["Ability"]
    assert ability["discriminator"]["propertyName"] == "type"
    assert list(ability["discriminator"]["mapping"]) == list(ac.ABILITY_TYPES)
    assert [ref["$ref"] for ref in ability["oneOf"]] == list(ability["discriminator"]["mapping"].values())
    # enum-typed query parameters
    for path, _, op in _operations(doc):
        for p in op.get("parameters", []):
            if p["name"] in ("order", "paused"):
                assert p["schema"]["enum"], (path, p["name"])
            if p["name"] in ("status", "outcome"):  # comma lists: the values are in the description
                assert any(v in p["description"] for v in ("idle", "success", "delivered")), (path, p)


def test_an_unknown_ability_type_is_refused_naming_the_valid_ones(sqlite_server: Server) -> None:
    with sqlite_server.client(sqlite_server.account()) as c:
        r = c.post(f"{API}/bot/create", json={"abilities": [{"type": "search"}]})
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert message.startswith("Invalid abilities[0].type: unknown ability type 'search'"), message
    assert all(kind in message for kind in ac.ABILITY_TYPES), message
    assert ac.unknown_type("search") in openapi_document()["paths"][f"{API}/bot/create"]["post"]["description"]


# -- ability configs against the parsers ---------------------------------------------------------------------

#: a config that makes each type's parser accept a key alone (mcp needs a server or a url)
BASE = {"mcp": {"url": "https://example.com/mcp"}}


def _accepts(kind: str, config: dict[str, Any]) -> bool:
    try:
        ac.check_abilities([{"type": kind, "config": {**BASE.get(kind, {}), **config}}])
    except ac.ConfigProblem:
        return False
    return True


def _forms(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return schema.get("oneOf", [schema])


def test_ability_config_schemas_cover_every_key_the_parsers_take() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for kind, spec in ac.TYPES.items():
        title = f"Ability{kind.capitalize()}"
        config = schemas[f"{title}Config"]
        assert config_keys(config) == set(spec.keys), kind
        ability = schemas[title]
        assert ability["properties"]["type"]["const"] == kind
        assert ability["properties"]["config"]["$ref"] == f"#/components/schemas/{title}Config"
        for form in _forms(config):
            assert form["additionalProperties"] is False, kind
        # what the schema closes off, the parser refuses
        assert not _accepts(kind, {"bogus": 1}), kind
        for refused in spec.refused:
            assert not _accepts(kind, {refused: "x"}), (kind, refused)
    # the MCP forms: a declared server, or a URL; not both, not neither
    mcp = schemas["AbilityMcpConfig"]
    assert [f["required"] for f in mcp["oneOf"]] == [["server"], ["url"]]
    assert not _accepts("mcp", {"url": None})
    assert not _accepts("mcp", {"server": "s"})  # (none is declared here)
    assert _accepts("mcp", {"headers": {"a": "b"}}) and not _accepts("mcp", {"env": {"A": "b"}})


def _snake(key: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), key)


PARSED = {"time": ac.parse_time, "fetch": ac.parse_fetch, "http": ac.parse_http, "wait": ac.parse_wait}


def test_ability_config_ranges_and_defaults_are_the_parsers() -> None:
    schemas = openapi_document()["components"]["schemas"]
    probed = 0
    for kind in ac.TYPES:
        for form in _forms(schemas[f"Ability{kind.capitalize()}Config"]):
            if "server" in form.get("required", []):
                continue  # (needs a declared server; the URL form carries the same timeout)
            for key, prop in form["properties"].items():
                where = f"{kind}.{key}"
                if "null" in prop.get("type", []):
                    assert _accepts(kind, {key: None}), where  # null: the default
                low, high = prop.get("minimum"), prop.get("maximum")
                if high is not None:
                    probed += 1
                    assert _accepts(kind, {key: high}) and not _accepts(kind, {key: high + 1}), where
                if low is not None:
                    assert _accepts(kind, {key: low}) and not _accepts(kind, {key: low - 1}), where
                if "exclusiveMinimum" in prop:
                    edge = prop["exclusiveMinimum"]
                    assert not _accepts(kind, {key: edge}) and _accepts(kind, {key: edge + 0.5}), where
                if "integer" in prop.get("type", []):
                    assert not _accepts(kind, {key: 1.5}), where
                if "number" in prop.get("type", []) or "integer" in prop.get("type", []):
                    assert not _accepts(kind, {key: "1"}) and not _accepts(kind, {key: True}), where
                if "string" in prop.get("type", []) and "enum" not in prop:
                    assert not _accepts(kind, {key: 1}), where
                for value in prop.get("enum", []):
                    assert _accepts(kind, {key: value}), (where, value)
                if "enum" in prop:
                    assert not _accepts(kind, {key: "NOT-A-VALUE"}), where
                for example in prop.get("examples", []):
                    assert _accepts(kind, {key: example}), (where, example)
                if "default" in prop and kind in PARSED:
                    parsed = getattr(PARSED[kind]({}), _snake(key))
                    assert (
                        math.isclose(parsed, prop["default"])
                        if isinstance(parsed, float)
                        else parsed == prop["default"]
                    ), where
    timeout = schemas["AbilityMcpConfig"]["oneOf"][1]["properties"]["timeout"]
    assert ac.parse_mcp({"url": "https://example.com/"}).timeout == timeout["default"]
    assert probed >= 5


def test_request_examples_fit_their_schemas_and_are_accepted(sqlite_server: Server) -> None:
    doc = openapi_document()
    sent = 0
    with sqlite_server.client(sqlite_server.account()) as c:
        for path, method, op in _operations(doc):
            media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" not in media:
                continue
            _validator(doc, media["schema"]["$ref"]).validate(media["example"])
            if "{" not in path:
                r = c.request(method, path, json=media["example"])
                assert r.status_code == 200, (path, r.text)
                sent += 1
    assert sent >= 5


# -- the reference page --------------------------------------------------------------------------------------


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append((tag, value))


def test_the_reference_page_is_served_with_local_assets_only(sqlite_server: Server) -> None:
    host = urlsplit(sqlite_server.url).netloc
    with sqlite_server.client() as c:  # (no secret: the page and the document are public)
        page = c.get(DOCS)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        parser = _Refs()
        parser.feed(page.text)
        assets = [ref for tag, ref in parser.refs if tag in ("script", "link") and not ref.startswith("data:")]
        assert {f"{DOCS}/docs.js", f"{DOCS}/docs.css"} <= set(assets), parser.refs
        texts = {DOCS: page.text}  # the page's own files, scanned for other hosts below
        for ref in assets + [a for _, a in parser.refs if a.startswith("/")]:
            assert ref.startswith("/") and not ref.startswith("//"), ref  # same host
            r = c.get(ref)
            assert r.status_code == 200, ref
            if ref in assets:
                texts[ref] = r.text
        assert c.get(f"{DOCS}/docs.js").headers["content-type"].startswith("text/javascript")
        assert c.get(f"{DOCS}/docs.css").headers["content-type"].startswith("text/css")
        assert c.get(f"{DOCS}/nope.js").status_code == 404
        assert c.get(f"{DOCS}/..%2Fopenapi.py").status_code == 404
    for ref, text in texts.items():
        for url in re.findall(r"(?:https?:)?//[\w.-]+(?::\d+)?", text):
            assert urlsplit(url if ":" in url.split("//")[0] else "http:" + url).netloc == host, (ref, url)
    script = texts[f"{DOCS}/docs.js"]
    assert '"/api/v1/openapi.json"' in script and "fetch(" in script


@pytest.mark.parametrize("name", ["docs.html", "docs.js", "docs.css"])
def test_the_page_files_are_package_data(name: str) -> None:
    from importlib import resources

    assert resources.files("agentcron.api").joinpath("static", name).is_file()
