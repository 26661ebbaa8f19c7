"""Prometheus metrics of one process (a registry of its own), fed from the lifecycle signals, plus the
HTTP wrapper (`HttpMetrics`) counting requests by route template and writing the access log.

Labels are small closed sets: triggers, outcomes, skip reasons, providers, ability types, HTTP methods,
route templates and statuses. Never a task, account or execution id.

The numbers are plain Python numbers (`Series`, `Buckets`), exposed through a collector of the registry
when scraped: counting a run or a request is an attribute increment, not a lock and a label lookup
(prometheus_client's own metrics cost several times more, which a burst of ten thousand runs, or the API
at 20k requests/s, would feel). Everything that counts runs on the process's event loop thread, and so
does a scrape: nothing here needs a lock.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from agentcron.clock import Clock
from agentcron.domain import ExecStatus, Job, RunKind, SkipReason
from agentcron.observers.runbook import UNKNOWN, RunBook
from agentcron.signals import (
    ExecutionsCanceled,
    ExecutionsFinished,
    ExecutionsStarted,
    OperationEnded,
    RunsHandedBack,
    RunsReaped,
    Signals,
    SlotsSkipped,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
TRIGGERS = tuple(k.value for k in RunKind if k != RunKind.SKIP) + (UNKNOWN,)
OUTCOMES = ("success", "failure", "canceled")
#: the providers a bot's model may name (`agentcron.engine.models.parse_model`); anything else counts as other
PROVIDERS = frozenset({"openai", "anthropic", "test"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: route label of a request no route matched (404, or 405 for a path without the method)
UNMATCHED = "unmatched"

#: seconds; runs last from milliseconds (a no-op bot) to the 15-minute floor of ``maxTime`` and beyond
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)
#: seconds a slot's run started after its time
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

access_log = logging.getLogger("agentcron.access")


class Series:
    """One counter or gauge value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Buckets:
    """One histogram: counts per bucket (``le`` each bound, then +Inf), their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class Family:
    """A metric and its series by label values (``kind``: counter, gauge or histogram)."""

    __slots__ = ("name", "doc", "kind", "labels", "bounds", "series", "function")

    def __init__(
        self, name: str, doc: str, kind: str, labels: Sequence[str] = (), bounds: Sequence[float] = ()
    ) -> None:
        self.name = name
        self.doc = doc
        self.kind = kind
        self.labels = tuple(labels)
        self.bounds = tuple(bounds)
        self.series: dict[tuple[str, ...], Any] = {}
        #: a gauge read when scraped
        self.function: Callable[[], float] | None = None

    def __call__(self, *values: str) -> Any:
        """The series of these label values (made on first use): a `Series`, or `Buckets`."""
        s = self.series.get(values)
        if s is None:
            s = self.series[values] = Buckets(self.bounds) if self.kind == "histogram" else Series()
        return s

    def collect(self) -> Metric:
        if self.kind == "histogram":
            h = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
            edges = [*(floatToGoString(b) for b in self.bounds), "+Inf"]  # type: ignore[no-untyped-call]
            for values, b in self.series.items():
                total, cumulative = 0, []
                for edge, count in zip(edges, b.counts, strict=True):
                    total += count
                    cumulative.append((edge, float(total)))
                h.add_metric(values, cumulative, b.sum)
            return h
        if self.kind == "counter":
            c = CounterMetricFamily(self.name, self.doc, labels=self.labels)
            for values, v in self.series.items():
                c.add_metric(values, v.value)
            return c
        g = GaugeMetricFamily(self.name, self.doc, labels=self.labels)
        if self.function is not None:
            g.add_metric((), float(self.function()))
        else:
            for values, v in self.series.items():
                g.add_metric(values, v.value)
        return g


class Metrics:
    """The process's metrics. `connect` them to the signals (before the `RunBook` they read)."""

    def __init__(self, clock: Clock, ability_types: Iterable[str] = ()) -> None:
        self.clock = clock
        self.ability_types = frozenset(ability_types)
        self.book: RunBook | None = None
        self.families: list[Family] = []
        f = self._family
        self.started = f(
            "agentcron_executions_started",
            "Executions this process's worker started, by trigger",
            "counter",
            ["trigger"],
        )
        self.finished = f(
            "agentcron_executions_finished",
            "Executions ended, by trigger and outcome: runs of this process's worker that finished, and "
            "executions this process cancelled or reaped (trigger unknown when another process ran it)",
            "counter",
            ["trigger", "outcome"],
        )
        self.skipped = f(
            "agentcron_slots_skipped", "Slots recorded as skipped instead of run, by reason", "counter", ["reason"]
        )
        self.duration = f(
            "agentcron_execution_duration_seconds",
            "How long the bot of a finished run ran, by outcome",
            "histogram",
            ["outcome"],
            DURATION_BUCKETS,
        )
        self.lateness = f(
            "agentcron_fire_lateness_seconds",
            "How long after its slot a scheduled run started (first attempts)",
            "histogram",
            bounds=LATENESS_BUCKETS,
        )
        self.running = f("agentcron_executions_running", "Runs this process's worker is running now", "gauge")
        self.queued = f(
            "agentcron_executions_queued",
            "Executions waiting in the queue (the whole database, read when scraped)",
            "gauge",
        )
        self.overdue = f(
            "agentcron_tasks_overdue",
            "Tasks whose next slot is more than the misfire grace past and has not fired (the whole database, "
            "read when scraped)",
            "gauge",
        )
        self.model_requests = f(
            "agentcron_model_requests",
            "Model requests of runs, by provider and result",
            "counter",
            ["provider", "result"],
        )
        self.model_tokens = f(
            "agentcron_model_tokens",
            "Model tokens used by runs, by direction (input, output)",
            "counter",
            ["direction"],
        )
        self.tool_calls = f(
            "agentcron_tool_calls", "Tool calls of runs, by ability type and result", "counter", ["ability", "result"]
        )
        self.reaped = f(
            "agentcron_runs_reaped", "Running executions this process ended as failures: their lease lapsed", "counter"
        )
        self.handed_back = f(
            "agentcron_runs_handed_back", "Running executions handed back to the queue at shutdown", "counter"
        )
        self.subscribers = f("agentcron_event_subscribers", "Live event streams this process serves", "gauge")
        self.http_requests = f(
            "agentcron_http_requests",
            "HTTP requests answered, by method, route template and status",
            "counter",
            ["method", "route", "status"],
        )
        self.http_duration = f(
            "agentcron_http_request_duration_seconds",
            "Time to answer an HTTP request (a stream: until it ended), by route template",
            "histogram",
            ["route"],
            HTTP_BUCKETS,
        )
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        # The series every scrape shows from the start (0 until something happens), looked up once.
        self._started = {t: self.started(t) for t in TRIGGERS}
        self._finished: dict[tuple[str, str], Series] = {
            (t, o): self.finished(t, o) for t in TRIGGERS for o in OUTCOMES
        }
        self._duration = {o: self.duration(o) for o in OUTCOMES}
        self._skipped = {str(r): self.skipped(str(r)) for r in SkipReason}
        self._lateness = self.lateness()
        self._tokens = (self.model_tokens("input"), self.model_tokens("output"))
        self._reaped = self.reaped()
        self._handed_back = self.handed_back()
        self._queued = self.queued()
        self.running()  # (0 in a process without a worker)
        self.subscribers()  # (0 in a process without the API)
        self._overdue = self.overdue()

    def _family(
        self, name: str, doc: str, kind: str, labels: Sequence[str] = (), bounds: Sequence[float] = ()
    ) -> Family:
        family = Family(name, doc, kind, labels, bounds)
        self.families.append(family)
        return family

    def collect(self) -> Iterator[Metric]:
        """(The registry's collector interface.)"""
        for family in self.families:
            yield family.collect()

    # -- what the runtime provides ----------------------------------------------------------------------

    def track_running(self, count: Callable[[], float]) -> None:
        self.running.function = count

    def track_subscribers(self, count: Callable[[], float]) -> None:
        self.subscribers.function = count

    def set_counts(self, queued: int, overdue: int) -> None:
        """What the database holds (read when scraped)."""
        self._queued.value = float(queued)
        self._overdue.value = float(overdue)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    # -- observers --------------------------------------------------------------------------------------

    def connect(self, signals: Signals, book: RunBook | None = None) -> None:
        self.book = book
        signals.connect(ExecutionsStarted, self.on_started)
        signals.connect(ExecutionsFinished, self.on_finished)
        signals.connect(ExecutionsCanceled, self.on_canceled)
        signals.connect(SlotsSkipped, self.on_skipped)
        signals.connect(RunsReaped, self.on_reaped)
        signals.connect(RunsHandedBack, self.on_handed_back)
        signals.connect(OperationEnded, self.on_operation)

    def _end(self, execution_id: str, outcome: str) -> Series:
        book = self.book
        trigger = UNKNOWN if book is None else book.trigger(execution_id)
        series = self._finished.get((trigger, outcome))
        if series is None:
            series = self._finished[(trigger, outcome)] = self.finished(trigger, outcome)
        return series

    def on_started(self, sig: ExecutionsStarted) -> None:
        now = self.clock.now_ms()
        started = self._started
        lateness = self._lateness
        schedule = RunKind.SCHEDULE
        for job in sig.jobs:
            series = started.get(job.kind)
            if series is None:
                series = started[job.kind] = self.started(str(job.kind))
            series.value += 1
            if job.kind == schedule and job.scheduled_for is not None and job.attempt == 1:
                lateness.observe(max(0, now - job.scheduled_for) / 1000)

    def on_finished(self, sig: ExecutionsFinished) -> None:
        canceled = ExecStatus.CANCELED
        durations = self._duration
        finished = self._finished
        started = self.book.runs if self.book is not None else {}
        for run in sig.runs:
            r = run.result
            outcome = "canceled" if r.status == canceled else str(r.outcome)
            job = started.get(r.execution_id)
            series = finished.get((UNKNOWN if job is None else str(job.kind), outcome))
            if series is None:
                series = self._end(r.execution_id, outcome)
            series.value += 1
            buckets = durations.get(outcome)
            if buckets is not None:
                buckets.observe(run.duration_ms / 1000)

    def on_canceled(self, sig: ExecutionsCanceled) -> None:
        for execution_id in sig.execution_ids:
            self._end(execution_id, "canceled").value += 1

    def on_reaped(self, sig: RunsReaped) -> None:
        self._reaped.value += len(sig.execution_ids)
        for execution_id in sig.execution_ids:
            self._end(execution_id, "failure").value += 1

    def on_handed_back(self, sig: RunsHandedBack) -> None:
        self._handed_back.value += len(sig.execution_ids)

    def on_skipped(self, sig: SlotsSkipped) -> None:
        skipped = self._skipped
        for run in sig.runs:
            reason = str(run.reason) if run.reason is not None else UNKNOWN
            series = skipped.get(reason)
            if series is None:
                series = skipped[reason] = self.skipped(reason)
            series.value += 1

    def on_operation(self, sig: OperationEnded) -> None:
        data = sig.data
        action = data.get("action")
        name = str(action.get("name") or "") if isinstance(action, dict) else ""
        result = "failure" if data.get("error") is not None else "success"
        if name.startswith("model:"):
            provider = name[6:].split(":", 1)[0]
            self.model_requests(provider if provider in PROVIDERS else "other", result).value += 1
            usage = data.get("result")
            if isinstance(usage, dict):
                for series, field in zip(self._tokens, ("inputTokens", "outputTokens"), strict=True):
                    n = usage.get(field)
                    if isinstance(n, int) and n > 0:
                        series.value += n
            return
        self.tool_calls(self.ability_of(sig.job, name), result).value += 1

    def ability_of(self, job: Job, tool: str) -> str:
        """The ability type behind a tool name as the model saw it (abilities are named after their
        ``name``, default their type, repeats suffixed ``_2``...; an ``mcp`` ability brings its server's
        tools). A type we do not know counts as ``other``."""
        if tool == "report_failure":
            return tool
        mcp = False
        for ability in job.bot.abilities if job.bot is not None else ():
            if not isinstance(ability, dict):
                continue
            kind = ability.get("type")
            if kind == "mcp":
                mcp = True
                continue
            base = str(ability.get("name") or kind)
            if tool == base or (tool.startswith(base + "_") and tool[len(base) + 1 :].isdigit()):
                return str(kind) if kind in self.ability_types else "other"
        return "mcp" if mcp and "mcp" in self.ability_types else "other"


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpMetrics:
    """ASGI wrapper: counts each HTTP request by method, route template (Litestar's, ids never) and status,
    times it by route, and with ``access`` writes a line per request to ``agentcron.access`` (method, path
    without its query, status, duration, client address; never a header)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access
        #: route -> method -> status -> (its count, its route's durations)
        self._children: dict[str, dict[str, dict[int, tuple[Series, Buckets]]]] = {}
        self._routes: dict[str, str] = {}  # path template -> route label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        def send_(message: MutableMapping[str, Any]) -> Awaitable[None]:
            # (a plain function handing back the server's awaitable: no coroutine of its own per message)
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, send_)
        finally:
            self.record(scope, status, time.perf_counter() - started)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        template: str | None = scope.get("path_template")
        if template is None:
            route = UNMATCHED
        else:
            known = self._routes.get(template)
            route = known if known is not None else self._routes.setdefault(template, _route_label(template))
        method = scope["method"]
        if method not in METHODS:
            method = "OTHER"  # (a client may send any token as a method: one label for them all)
        by_method = self._children.get(route)
        if by_method is None:
            by_method = self._children[route] = {}
        by_status = by_method.get(method)
        if by_status is None:
            by_status = by_method[method] = {}
        children = by_status.get(status)
        if children is None:
            m = self.metrics
            children = by_status[status] = (m.http_requests(method, route, str(status)), m.http_duration(route))
        children[0].value += 1
        children[1].observe(seconds)
        if self.access:
            client = scope.get("client")
            access_log.info(
                "%s %s %d %.1f ms",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={
                    "fields": {
                        "event": "http.request",
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "durationMs": round(seconds * 1000, 2),
                        "client": client[0] if client else None,
                    }
                },
            )


def _route_label(template: str) -> str:
    """``/api/v1/task/{task_id:str}/fetch`` -> ``/api/v1/task/{task_id}/fetch``."""
    out = []
    for part in template.split("/"):
        if part.startswith("{") and ":" in part:
            part = part.split(":", 1)[0] + "}"
        out.append(part)
    return "/".join(out)
