"""Models: ``provider:model`` strings to pydantic-ai models, the offline ``test`` model, and retries.

A bot's ``model`` is ``provider:name``, optionally followed by ChatBotKit-style parameters the SDKs build
from a model object (``gpt-4o-mini/temperature=0.5/maxTokens=500``):
- ``openai:<name>``: OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio) through
  ``Settings.openai_base_url`` / ``openai_api_key``;
- ``anthropic:<name>``: needs the optional ``anthropic`` extra;
- ``test``: the built-in offline model (no key, deterministic): it calls each tool once with valid
  arguments, one tool per request, then answers with a summary naming the task.
A bare name is read as ``openai:`` for ``gpt-*``, ``o1``/``o3``/``o4``/``chatgpt-*`` and as ``anthropic:``
for ``claude-*``; an empty model uses ``Settings.default_model``.

Provider SDK retries are off (``max_retries=0``): `RetryingModel` retries rate limits, 5xx, timeouts and
connection errors itself, with exponential backoff (or the provider's Retry-After when longer), within the
run's deadline.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestTimeout,
    ModelServerError,
    ModelUnavailableError,
)
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from agentcron.config import Settings

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 120.0
_PARAMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "temperature": ("temperature", float),
    "maxTokens": ("max_tokens", int),
    "max_tokens": ("max_tokens", int),
    "topP": ("top_p", float),
    "top_p": ("top_p", float),
    "seed": ("seed", int),
    "presencePenalty": ("presence_penalty", float),
    "frequencyPenalty": ("frequency_penalty", float),
}


#: The model strings `parse_model` takes, as error messages list them.
ACCEPTED_MODELS = "openai:<model>, anthropic:<model>, test"
_OPENAI_COMPATIBLE = (
    "openai:<model> also serves OpenAI-compatible servers such as Ollama or vLLM, with AGENTCRON_OPENAI_BASE_URL"
)


class ModelConfigError(ValueError):
    """The bot's model cannot be used here; the message says why and what to set."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    provider: str  # openai | anthropic | test
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.provider if self.provider == "test" else f"{self.provider}:{self.name}"


def parse_model(raw: str) -> ModelSpec:
    """Parse ``provider:name[/param=value...]``. Raises `ModelConfigError` for an unknown provider or a
    malformed string; the API calls it when a bot is written (whether a key is configured is left to the run)."""
    text = raw.strip()
    segments = text.split("/")
    params: dict[str, Any] = {}
    while len(segments) > 1 and "=" in segments[-1]:
        key, _, value = segments.pop().partition("=")
        if key in _PARAMS:
            setting, convert = _PARAMS[key]
            try:
                params[setting] = convert(value)
            except ValueError:
                raise ModelConfigError(f"model parameter {key}={value!r} is not a number") from None
    head = "/".join(segments).strip()
    if not head:
        raise ModelConfigError("the bot has no model")
    provider, sep, name = head.partition(":")
    if not sep:
        name, lower = head, head.lower()
        if lower == "test":
            provider = "test"
        elif lower.startswith(("gpt-", "gpt4", "o1", "o3", "o4", "chatgpt-")):
            provider = "openai"
        elif lower.startswith("claude"):
            provider = "anthropic"
        else:
            raise ModelConfigError(
                f"unknown model {head!r}: write it as provider:model; accepted: {ACCEPTED_MODELS} "
                f"({_OPENAI_COMPATIBLE})"
            )
    provider = provider.strip().lower()
    if provider not in ("openai", "anthropic", "test"):
        raise ModelConfigError(
            f"unknown model provider {provider!r} in {head!r}; accepted: {ACCEPTED_MODELS} ({_OPENAI_COMPATIBLE})"
        )
    if provider != "test" and not name.strip():
        raise ModelConfigError(f"model {head!r} names no model after the provider; accepted: {ACCEPTED_MODELS}")
    return ModelSpec(provider, name.strip(), params)


def _model_settings(spec: ModelSpec, settings: Settings) -> ModelSettings:
    ms: dict[str, Any] = {"max_retries": 0, "timeout": settings.model_timeout_ms / 1000}
    ms.update(spec.params)
    return cast(ModelSettings, ms)


def build_model(
    spec: ModelSpec,
    settings: Settings,
    sample_args: dict[str, dict[str, Any]],
    task_label: str,
    closers: list[Callable[[], Awaitable[None]]],
    ssl_context: ssl.SSLContext | None = None,
) -> Model:
    """The pydantic-ai model for ``spec``; what must be closed after the run is appended to ``closers``.
    Raises `ModelConfigError` when the model cannot be built here."""
    if spec.provider == "test":
        return offline_model(sample_args, task_label)
    if spec.provider == "openai":
        from openai import AsyncOpenAI, OpenAIError
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        base_url = settings.openai_base_url or None
        key = settings.openai_api_key or ("not-needed" if base_url else None)
        import httpx2

        http = httpx2.AsyncClient(verify=ssl_context or True, timeout=settings.model_timeout_ms / 1000)
        closers.append(http.aclose)
        try:
            client = AsyncOpenAI(
                base_url=base_url,
                api_key=key,
                max_retries=0,
                timeout=settings.model_timeout_ms / 1000,
                http_client=http,
            )
        except OpenAIError:
            raise ModelConfigError(
                f"model {spec.label} needs an API key: set AGENTCRON_OPENAI_API_KEY (or OPENAI_API_KEY), or "
                "AGENTCRON_OPENAI_BASE_URL for a local OpenAI-compatible server"
            ) from None
        closers.append(client.close)
        return OpenAIChatModel(
            spec.name, provider=OpenAIProvider(openai_client=client), settings=_model_settings(spec, settings)
        )
    if spec.provider == "anthropic":
        try:
            from pydantic_ai.models.anthropic import AnthropicModel
            from pydantic_ai.providers.anthropic import AnthropicProvider
        except ImportError:
            raise ModelConfigError(
                f"model {spec.label} needs the optional anthropic support: pip install 'agentcron[anthropic]'"
            ) from None
        try:
            provider = AnthropicProvider(api_key=settings.anthropic_api_key or None)
        except Exception as e:  # the provider raises UserError without a key
            raise ModelConfigError(
                f"model {spec.label} needs an API key: set AGENTCRON_ANTHROPIC_API_KEY ({e})"
            ) from None
        closers.append(provider.client.close)
        return AnthropicModel(spec.name, provider=provider, settings=_model_settings(spec, settings))
    raise ModelConfigError(f"unknown model provider {spec.provider!r}")  # pragma: no cover - parse_model rejects


# -- the offline test model ---------------------------------------------------------------------------------


def sample_from_schema(schema: dict[str, Any]) -> Any:
    """A minimal value valid for a JSON schema (required properties only)."""
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample_from_schema(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: sample_from_schema(props.get(k) or {}) for k in schema.get("required") or []}
    return {"string": "test", "integer": 1, "number": 1, "boolean": True, "array": [], "null": None}.get(
        str(kind), "test"
    )


def _called(messages: list[ModelMessage]) -> set[str]:
    return {
        p.tool_name for m in messages if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, ToolCallPart)
    }


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]


def offline_model(sample_args: dict[str, dict[str, Any]], task_label: str, skip: frozenset[str] = frozenset()) -> Model:
    """The offline model: each tool (except ``skip``) once, in the order the agent lists them, one per
    request; then a summary naming the task and what each tool returned."""
    skipped = skip | {"report_failure"}

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        called = _called(messages)
        for tool in info.function_tools:
            if tool.name not in skipped and tool.name not in called:
                args = sample_args.get(tool.name)
                if args is None:
                    args = sample_from_schema(tool.parameters_json_schema)
                return ModelResponse(parts=[ToolCallPart(tool.name, json.dumps(args))])
        notes = []
        for r in _returns(messages):
            body = r.content if isinstance(r.content, str) else r.model_response_str()
            text = body if r.outcome == "success" else f"failed: {body}"
            notes.append(f"{r.tool_name}: {' '.join(text.split())[:120]}")
        return ModelResponse(
            parts=[TextPart(f"Completed task '{task_label}'" + (f" ({'; '.join(notes)})" if notes else ""))]
        )

    return FunctionModel(respond, model_name="test")


# -- retries ------------------------------------------------------------------------------------------------


def retryable(e: BaseException) -> bool:
    if isinstance(
        e, ModelRateLimitError | ModelServerError | ModelUnavailableError | ModelConnectionError | ModelRequestTimeout
    ):
        return True
    return isinstance(e, ModelHTTPError) and (e.status_code in (408, 409, 429) or e.status_code >= 500)


def vendor_message(e: ModelAPIError) -> str:
    """The provider's own error message where it sent one, else the exception's."""
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            body = inner["message"]
        elif isinstance(body.get("message"), str):
            body = body["message"]
    status = f"HTTP {e.status_code}: " if isinstance(e, ModelHTTPError) else ""
    if isinstance(body, str) and body:
        return f"{status}{body}"
    return f"{status}{e.message}" if not isinstance(e, ModelHTTPError) else e.message


class RetryingModel(WrapperModel):
    """Retries a failed request after transient errors, with exponential backoff, until ``retries`` are used
    or the next attempt would start after ``deadline`` (``time.monotonic()``); then re-raises the error."""

    def __init__(
        self,
        wrapped: Model,
        *,
        retries: int,
        base_delay: float,
        deadline: float | None = None,
    ) -> None:
        super().__init__(wrapped)
        self.retries = retries
        self.base_delay = base_delay
        self.deadline = deadline
        self.attempts = 0

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        attempt = 0
        while True:
            self.attempts += 1
            try:
                return await self.wrapped.request(messages, model_settings, model_request_parameters)
            except ModelAPIError as e:
                if not retryable(e) or attempt >= self.retries:
                    raise
                delay = min(MAX_BACKOFF_S, self.base_delay * 2**attempt)
                if e.retry_after is not None:
                    delay = max(delay, min(float(e.retry_after), MAX_RETRY_AFTER_S))
                if self.deadline is not None and time.monotonic() + delay >= self.deadline:
                    raise
                attempt += 1
                await asyncio.sleep(delay)
