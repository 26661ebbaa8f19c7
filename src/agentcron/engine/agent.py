"""The model-backed runner: runs a task's bot as a pydantic-ai agent.

- System prompt: the bot's ``backstory`` plus a short note on running unattended. Instruction: the task's
  name and description (`TaskConfig.instruction`). Tools: the bot's abilities (`abilities.build`) plus
  ``report_failure(reason)``, with which the agent marks the run as failed.
- ``maxIterations`` bounds model requests (0/null or below 10: 1000, as the contract's runtime default);
  reaching it ends the run as a failure saying so. ``maxCalls`` bounds tool calls (0/null: 10,000, the
  contract's default; ``report_failure`` is not counted): the call that would exceed it is not made and
  the run ends as a failure naming the limit. Token budgets (`Job.allowances`) are checked before each
  model request: once the tokens used in the period plus the run's own reach a budget's limit, the run
  ends as a failure with the budget's sentence (``Token budget reached: <used> of <limit> tokens this
  <period>``). A run stopped by a limit keeps its conversation and token counts. Wall time is bounded by
  the worker (the job's deadline also stops model retries that would outlast it).
- Outcome: ``success`` with the agent's final answer as the summary, unless the agent called
  ``report_failure``, a tool's last call failed (a tool error the agent did not recover from by calling it
  again successfully), a limit was reached or the model failed (after retries): then ``failure``.
- Events: every model request and tool call is an ``operationBegin``/``operationEnd`` pair with
  ``data = {"id": "<execution>-<n>", "action": {"id", "kind": "function", "name", "input"}}``, and
  ``result`` or ``error`` on the end. Tools are named as the model sees them; model requests are named
  ``model:<provider:model>`` (``model:test``) with action id ``model-<n>`` and ``input`` ``{"messages": n}``
  (kind ``function`` too: the contract has no kind for model calls, and a client tells them apart by the
  ``model:`` prefix). A failed run also emits ``error`` ``{code, message}``.
- Conversation: the instruction (``user``), the agent's text (``bot``), each tool call and result
  (``activity``), returned in `RunResult.messages` with token usage.
- Interrupted (cancel, time limit, shutdown): raises `RunInterrupted` carrying the conversation and token
  usage so far (see `agentcron.engine.runner`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic_ai import Agent, Tool, ToolFailed, capture_run_messages
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, ModelRetry, UsageLimitExceeded, UserError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import RunContext
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool
from pydantic_ai.usage import UsageLimits

from agentcron.config import Settings
from agentcron.domain import Allowance, Job, Outcome, RunInterrupted, RunResult
from agentcron.engine import abilities as ab
from agentcron.engine import mcp_servers, net
from agentcron.engine.models import (
    ModelConfigError,
    ModelSpec,
    RetryingModel,
    build_model,
    parse_model,
    vendor_message,
)
from agentcron.engine.runner import Emit
from agentcron.engine.toolenv import AbilityConfigError, ToolEnv

log = logging.getLogger("agentcron.engine")

DEFAULT_MAX_ITERATIONS = 1000
MIN_MAX_ITERATIONS = 10
#: the contract's default ``maxCalls`` (also what 0 and null mean)
DEFAULT_MAX_CALLS = 10_000
REPORT_FAILURE = "report_failure"
#: Largest string put in an event payload (events are persisted and fanned out).
EVENT_TEXT = 2000
SUMMARY_CHARS = 4000
RUNTIME_NOTE = (
    "You are running a scheduled task on your own: no one reads your replies until the run is over. "
    "Use your tools as the task needs. If the task cannot be done, call report_failure with the reason. "
    "End with a short summary of what you did and found."
)


def max_iterations(value: int | None) -> int:
    """The model-request limit of a run: the task's ``maxIterations``, or the default when it is unset
    or below the minimum."""
    if isinstance(value, int) and value >= MIN_MAX_ITERATIONS:
        return value
    return DEFAULT_MAX_ITERATIONS


def max_calls(value: int | None) -> int:
    """The tool-call limit of a run: the task's ``maxCalls``, or the default when it is unset or 0."""
    if isinstance(value, int) and value > 0:
        return value
    return DEFAULT_MAX_CALLS


class _Stopped(Exception):
    """A limit the engine enforces itself (``maxCalls``, a token budget) ends the run: raised out of the
    agent from a tool call or a model request, and recorded as a failure with ``summary``."""

    def __init__(self, code: str, summary: str) -> None:
        super().__init__(summary)
        self.code = code
        self.summary = summary


def _clip(value: Any, limit: int = EVENT_TEXT) -> Any:
    """``value`` made small enough for an event: long strings cut, containers cut recursively."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {str(k): _clip(v, limit) for k, v in itertools.islice(value.items(), 50)}
    if isinstance(value, list | tuple):
        return [_clip(v, limit) for v in value[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clip(ab.result_text(value), limit)


@dataclass
class _RunState:
    execution_id: str
    emit: Emit
    model_label: str
    max_calls: int = DEFAULT_MAX_CALLS
    allowances: tuple[Allowance, ...] = ()
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    requests: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failure_reason: str | None = None
    #: tool name -> error of its last call (None when the last call succeeded)
    last_error: dict[str, str | None] = field(default_factory=dict)

    def op_id(self) -> str:
        return f"{self.execution_id}-{next(self.seq)}"

    def result(self, outcome: Outcome, summary: str, messages: list[tuple[str, str]]) -> RunResult:
        """A run's result with the usage counted so far."""
        return RunResult(outcome, summary, messages, self.input_tokens, self.output_tokens, self.requests)

    async def begin(self, op: str, action_id: str, name: str, input_: Any) -> dict[str, Any]:
        data = {"id": op, "action": {"id": action_id, "kind": "function", "name": name, "input": _clip(input_)}}
        await self.emit("operationBegin", data)
        return data

    async def end(self, data: dict[str, Any], *, result: Any = None, error: str | None = None) -> None:
        if error is not None:
            await self.emit("operationEnd", {**data, "error": _clip(error)})
        else:
            await self.emit("operationEnd", {**data, "result": _clip(result)})


class _ObservedModel(WrapperModel):
    """Emits an operation per model request and counts usage (kept even when the run fails)."""

    def __init__(self, wrapped: Model, state: _RunState) -> None:
        super().__init__(wrapped)
        self.state = state

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        st = self.state
        run_tokens = st.input_tokens + st.output_tokens
        for budget in st.allowances:
            if budget.reached(run_tokens):
                raise _Stopped("TOKEN_BUDGET", budget.sentence(run_tokens))
        st.requests += 1
        op = await st.begin(st.op_id(), f"model-{st.requests}", f"model:{st.model_label}", {"messages": len(messages)})
        try:
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        except ModelAPIError as e:
            await st.end(op, error=vendor_message(e))
            raise
        st.input_tokens += response.usage.input_tokens
        st.output_tokens += response.usage.output_tokens
        text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        calls = [p.tool_name for p in response.parts if isinstance(p, ToolCallPart)]
        await st.end(
            op,
            result={
                "text": text or None,
                "toolCalls": calls,
                "inputTokens": response.usage.input_tokens,
                "outputTokens": response.usage.output_tokens,
            },
        )
        return response


@dataclass
class _ObservedTools(WrapperToolset[Any]):
    """Emits an operation per tool call; turns unexpected tool exceptions into failed tool results."""

    state: _RunState | None = None

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        st = self.state
        assert st is not None
        if name != REPORT_FAILURE:
            if st.calls >= st.max_calls:
                raise _Stopped(
                    "MAX_CALLS", f"Run ended: maxCalls ({st.max_calls} tool calls) reached before the agent finished."
                )
            st.calls += 1
        op = await st.begin(st.op_id(), ctx.tool_call_id or name, name, tool_args)
        try:
            result = await self.wrapped.call_tool(name, tool_args, ctx, tool)
        except (ToolFailed, ModelRetry) as e:
            st.last_error[name] = e.message
            await st.end(op, error=e.message)
            raise
        except Exception as e:  # a tool bug or an unexpected library error: the model sees it as a failure
            message = f"{type(e).__name__}: {e}"
            log.info("tool %s failed: %s", name, message)
            st.last_error[name] = message
            await st.end(op, error=message)
            raise ToolFailed(message) from e
        if name != REPORT_FAILURE:
            st.last_error[name] = None
        await st.end(op, result=ab.result_text(result))
        return result


def _leaf(e: BaseException) -> BaseException:
    """The first non-group exception of an exception group (task groups wrap errors in them)."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def conversation(messages: list[ModelMessage]) -> list[tuple[str, str]]:
    """The run as conversation messages: user prompt, bot text, tool calls and results as activity."""
    out: list[tuple[str, str]] = []
    for m in messages:
        if isinstance(m, ModelRequest):
            for part in m.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content if isinstance(part.content, str) else ab.result_text(part.content)
                    out.append(("user", content))
                elif isinstance(part, ToolReturnPart):
                    status = "" if part.outcome == "success" else f" ({part.outcome})"
                    body = part.content if isinstance(part.content, str) else part.model_response_str()
                    out.append(("activity", f"{part.tool_name} returned{status}: {ab._cap(body)}"))
                elif isinstance(part, RetryPromptPart) and part.tool_name:
                    out.append(("activity", f"{part.tool_name} was called wrongly: {ab._cap(part.model_response())}"))
        elif isinstance(m, ModelResponse):
            for rpart in m.parts:
                if isinstance(rpart, TextPart) and rpart.content.strip():
                    out.append(("bot", rpart.content))
                elif isinstance(rpart, ToolCallPart):
                    args = json.dumps(rpart.args_as_dict(), ensure_ascii=False, default=str)
                    out.append(("activity", f"called {rpart.tool_name} {ab._cap(args, 4000)}"))
    return out


class AgentRunner:
    """`Runner` running bots as pydantic-ai agents. One instance serves every run of a worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.allow = net.AllowList.parse(settings.http_allow)
        self._ssl: ssl.SSLContext | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """One TLS context for every client of every run (loading the CA store is slow)."""
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def run(self, job: Job, emit: Emit) -> RunResult:
        started = time.monotonic()
        instruction = job.instruction
        if job.bot is None:
            return await self._fail(
                emit, "NO_BOT", "The task has no bot: set botId to run it.", [("user", instruction)]
            )
        raw_model = job.bot.model.strip() or self.settings.default_model
        try:
            spec = parse_model(raw_model)
        except ModelConfigError as e:
            return await self._fail(emit, "MODEL_CONFIG", f"Cannot run the bot's model: {e}.", [("user", instruction)])
        closers: list[Callable[[], Awaitable[None]]] = []
        try:
            return await self._run(job, emit, spec, started, closers)
        finally:
            for close in closers:
                try:
                    await close()
                except Exception:  # closing a client must not change the outcome
                    log.debug("closing a model client failed", exc_info=True)

    async def _run(
        self,
        job: Job,
        emit: Emit,
        spec: ModelSpec,
        started: float,
        closers: list[Callable[[], Awaitable[None]]],
    ) -> RunResult:
        assert job.bot is not None
        instruction = job.instruction
        state = _RunState(job.execution_id, emit, spec.label, max_calls(job.task.max_calls), job.allowances)
        limit = max_iterations(job.task.max_iterations)
        task_label = job.task.label
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(30.0), headers={"user-agent": "agentcron"}, verify=self.ssl_context
        ) as client:
            env = ToolEnv(client, self.allow, mcp_servers.declared(self.settings))
            try:
                built = ab.build(job.bot.abilities, env, reserved={REPORT_FAILURE})
                model = build_model(spec, self.settings, built.sample_args, task_label, closers, self.ssl_context)
            except (AbilityConfigError, ModelConfigError) as e:
                code = "MODEL_CONFIG" if isinstance(e, ModelConfigError) else "ABILITY_CONFIG"
                return await self._fail(emit, code, f"Cannot run the bot: {e}.", [("user", instruction)])

            async def report_failure(reason: str) -> str:
                state.failure_reason = reason
                return "Failure recorded. Now reply with a short summary of what happened."

            own = FunctionToolset[Any](
                [
                    Tool.from_schema(
                        report_failure,
                        name=REPORT_FAILURE,
                        description="Report that the task could not be completed, with the reason.",
                        json_schema={
                            "type": "object",
                            "properties": {"reason": {"type": "string"}},
                            "required": ["reason"],
                            "additionalProperties": False,
                        },
                    )
                ]
            )
            toolsets: list[AbstractToolset[Any]] = [_ObservedTools(ts, state) for ts in [*built.toolsets, own]]
            retrying = RetryingModel(
                model,
                retries=self.settings.model_retries,
                base_delay=self.settings.model_retry_ms / 1000,
                deadline=started + job.deadline.seconds,
            )
            backstory = job.bot.backstory.strip()
            agent = Agent(
                _ObservedModel(retrying, state),
                instructions="\n\n".join(p for p in (backstory, RUNTIME_NOTE) if p),
                toolsets=toolsets,
                retries=2,
            )
            with capture_run_messages() as captured:
                try:
                    result = await agent.run(instruction, usage_limits=UsageLimits(request_limit=limit))
                except asyncio.CancelledError as e:  # a cancel, its time limit or a shutdown
                    raise RunInterrupted(state.result(Outcome.FAILURE, "", conversation(captured))) from e
                except _Stopped as e:
                    return await self._fail(emit, e.code, e.summary, conversation(captured), state)
                except UsageLimitExceeded:
                    return await self._fail(
                        emit,
                        "MAX_ITERATIONS",
                        f"Run ended: maxIterations ({limit} model requests) reached before the agent finished.",
                        conversation(captured),
                        state,
                    )
                except ModelAPIError as e:
                    attempts = retrying.attempts
                    failed = await self._fail(
                        emit,
                        "MODEL_ERROR",
                        f"Model {spec.label} failed"
                        + (f" after {attempts} attempts" if attempts > 1 else "")
                        + f": {vendor_message(e)}",
                        conversation(captured),
                        state,
                    )
                    if e.retry_after is not None:  # the vendor's Retry-After: the task's retry waits for it
                        failed.retry_after_ms = max(0, int(float(e.retry_after) * 1000))
                    return failed
                except (AgentRunError, UserError) as e:
                    return await self._fail(emit, "AGENT_ERROR", f"Run failed: {e}", conversation(captured), state)
                except Exception as e:  # e.g. an MCP server that does not start or dies mid-run
                    leaf = _leaf(e)
                    if isinstance(leaf, _Stopped):  # (raised by one of parallel tool calls)
                        return await self._fail(emit, leaf.code, leaf.summary, conversation(captured), state)
                    log.info("execution %s failed: %r", job.execution_id, e)
                    summary = f"Run failed: {type(leaf).__name__}: {leaf}"
                    return await self._fail(emit, "AGENT_ERROR", summary, conversation(captured), state)
        messages = conversation(captured)
        answer = str(result.output or "").strip()
        failed_tools = {n: err for n, err in state.last_error.items() if err is not None}
        if state.failure_reason is not None:
            summary = answer or f"The agent reported failure: {state.failure_reason}"
            if state.failure_reason not in summary:
                summary += f" (reported failure: {state.failure_reason})"
            return await self._fail(emit, "REPORTED_FAILURE", summary, messages, state)
        if failed_tools:
            errors = "; ".join(f"{n}: {e}" for n, e in failed_tools.items())
            summary = (answer + " " if answer else "") + f"(tool errors: {errors})"
            return await self._fail(emit, "TOOL_ERROR", summary, messages, state)
        return state.result(Outcome.SUCCESS, (answer or f"Completed task '{task_label}'")[:SUMMARY_CHARS], messages)

    @staticmethod
    async def _fail(
        emit: Emit,
        code: str,
        summary: str,
        messages: list[tuple[str, str]],
        state: _RunState | None = None,
    ) -> RunResult:
        summary = summary[:SUMMARY_CHARS]
        await emit("error", {"code": code, "message": summary})
        if state is None:
            result = RunResult(Outcome.FAILURE, summary, messages)
        else:
            result = state.result(Outcome.FAILURE, summary, messages)
        result.error_code = code  # (which failures a task's retryPolicy retries: `agentcron.retries`)
        return result
