"""Each ability type's ``config`` in the OpenAPI document: built from the key lists, limits and defaults of
`agentcron.engine.ability_config`, whose parsers check a bot when it is written and when it runs. The document
fails to build when the types or the keys documented here differ from the parsers' (tests/test_openapi.py also
probes each documented range and default against the parsers)."""

from __future__ import annotations

from typing import Any

from agentcron.engine import ability_config as ac
from agentcron.engine.mcp_servers import VARIABLE as MCP_SERVERS_VARIABLE


def _n(kind: str, description: str, **more: Any) -> dict[str, Any]:
    """A nullable key (null means the same as absent: the default)."""
    return {"type": [kind, "null"], "description": description, **more}


def _url(what: str) -> dict[str, Any]:
    return _n(
        "string", f'An absolute http(s) URL (`""` is the same as unset): {what}', examples=["https://example.com/"]
    )


_STRINGS = {"type": ["object", "null"], "additionalProperties": {"type": "string"}}
_NOT_IN_FORM = "Not in this form: null or empty only."
_MAX_BYTES = _n(
    "integer",
    "The most bytes of a response body read; the rest is cut.",
    minimum=1,
    maximum=ac.MAX_MAX_BYTES,
    default=ac.DEFAULT_MAX_BYTES,
)
_TIMEOUT = _n(
    "number",
    "Seconds one tool call may take.",
    exclusiveMinimum=0,
    maximum=ac.MAX_MCP_TIMEOUT_S,
    default=ac.DEFAULT_MCP_TIMEOUT_S,
)


def _mcp_config() -> dict[str, Any]:
    server = {
        "type": "string",
        "minLength": 1,
        "description": f"The name of a stdio MCP server the operator declared ({MCP_SERVERS_VARIABLE}). A bot "
        "never chooses a program, its arguments or its directory: `command` and `cwd` are refused.",
    }
    env = {
        **_STRINGS,
        "description": "Environment variables for the server: only the names its `tenantEnv` lets bots set.",
    }
    url = {"type": "string", "minLength": 1, "description": "The http(s) URL of an MCP server (streamable HTTP)."}
    headers = {**_STRINGS, "description": "Headers sent with every request to the server."}
    unset = {"enum": [None, ""], "description": _NOT_IN_FORM}
    empty = {"type": ["object", "null"], "maxProperties": 0, "description": _NOT_IN_FORM}
    return {
        "description": "Either `server` (a declared stdio server, with `env`) or `url` (a remote server, with "
        "`headers`), not both; `timeout` in either.",
        "oneOf": [
            {
                "title": "Declared stdio server",
                "type": "object",
                "properties": {"server": server, "env": env, "timeout": _TIMEOUT, "url": unset, "headers": empty},
                "required": ["server"],
                "additionalProperties": False,
            },
            {
                "title": "Remote server over streamable HTTP",
                "type": "object",
                "properties": {"url": url, "headers": headers, "timeout": _TIMEOUT, "server": unset, "env": empty},
                "required": ["url"],
                "additionalProperties": False,
            },
        ],
    }


def _config_schemas() -> dict[str, dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {
        "time": {
            "timezone": _n(
                "string",
                "The IANA timezone the tool tells the time in unless the model asks for another.",
                default="UTC",
                examples=["Europe/Berlin"],
            )
        },
        "fetch": {"maxBytes": _MAX_BYTES, "url": _url("pins the URL (the model does not choose it).")},
        "http": {
            "url": _url("pins the URL (the model does not choose it)."),
            "method": _n(
                "string",
                "Pins the method (any letter case); unset: the model chooses, default POST.",
                enum=[*ac.METHODS, None],
            ),
            "headers": {**_STRINGS, "description": "Headers sent with every request."},
            "maxBytes": _MAX_BYTES,
        },
        "wait": {
            "maxSeconds": _n(
                "number",
                "The longest one wait may be.",
                minimum=0,
                maximum=ac.MAX_WAIT_S,
                default=ac.DEFAULT_MAX_WAIT_S,
            ),
            "seconds": _n(
                "number",
                "The wait the offline `test` model asks for (default 1, or `maxSeconds` when that is less).",
                minimum=0,
                maximum=ac.MAX_WAIT_S,
                default=1,
            ),
        },
    }
    out = {kind: {"type": "object", "properties": props, "additionalProperties": False} for kind, props in keys.items()}
    out["mcp"] = _mcp_config()
    return out


ABILITY_DOCS = {
    "time": "Tells the current time in a timezone.",
    "fetch": "HTTP GET of a web page, HTML reduced to text, size-capped.",
    "http": "An HTTP request (a webhook) with a JSON body.",
    "wait": "Pauses the run for a while (cancellable).",
    "mcp": "Every tool of an MCP server: one the operator declared (stdio), or a remote one over HTTP.",
}


def config_keys(schema: dict[str, Any]) -> set[str]:
    """Every key a config schema names (in any of its forms)."""
    found = set(schema.get("properties", {}))
    for branch in schema.get("oneOf", []):
        found |= set(branch.get("properties", {}))
    return found


def ability_schemas(base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``Ability`` (a ``oneOf`` on ``type``) and per type ``Ability<Type>`` and ``Ability<Type>Config``, from
    ``base``, msgspec's schema of the `Ability` Struct (its ``name`` and ``description``)."""
    configs = _config_schemas()
    if set(configs) != set(ac.TYPES) or set(ABILITY_DOCS) != set(ac.TYPES):
        raise AssertionError(f"ability types documented: {sorted(configs)}; the engine's: {sorted(ac.TYPES)}")
    out: dict[str, dict[str, Any]] = {}
    mapping: dict[str, str] = {}
    for kind in ac.ABILITY_TYPES:
        spec, config, title = ac.TYPES[kind], configs[kind], f"Ability{kind.capitalize()}"
        if config_keys(config) != set(spec.keys):
            raise AssertionError(f"{kind} config keys documented: {sorted(config_keys(config))}; parsed: {spec.keys}")
        refused = (
            f" Refused with a message saying what to do instead: {', '.join(spec.refused)}." if spec.refused else ""
        )
        out[f"{title}Config"] = {
            "title": f"{title}Config",
            **config,
            "description": f"The `config` of an ability of type `{kind}`: every key optional, null the same as absent. "
            f"{config.get('description', '')}{refused}".strip(),
        }
        out[title] = {
            "title": title,
            "description": f"`{kind}`: {ABILITY_DOCS[kind]}",
            "type": "object",
            "properties": {
                "type": {"type": "string", "const": kind},
                "name": {
                    **base["properties"]["name"],
                    "description": "The tool's name the model sees (default: the type; an `mcp` ability's name "
                    "prefixes its tools).",
                },
                "description": {**base["properties"]["description"], "description": "The tool's description."},
                "config": {"$ref": f"#/components/schemas/{title}Config", "default": {}},
            },
            "required": ["type"],
            "additionalProperties": False,
        }
        mapping[kind] = f"#/components/schemas/{title}"
    out["Ability"] = {
        "title": "Ability",
        "description": "One tool a bot may use (extension), selected by `type`: "
        + ", ".join(f"`{k}`" for k in ac.ABILITY_TYPES)
        + ". A bot whose ability has another type, or a config that cannot work, is refused when written (400 "
        "naming the field and what is accepted). `config` is free JSON: nested at most 32 levels.",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    return out
