"""The composition root: builds every component of a process, typed and before anything starts, wires
the observers of the lifecycle signals, then serves.

With the api role the process serves HTTP (uvicorn, in this process's event loop) while the other roles
run beside it; without it, the roles run headless until SIGTERM/SIGINT. Either way shutdown is graceful:
stop firing and claiming, let runs finish for ``shutdown_grace_ms``, then hand unfinished runs back to the
queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import shlex
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from agentcron import __version__
from agentcron.api.app import create_app
from agentcron.api.context import AppContext
from agentcron.clock import Clock, OffsetClock, SystemClock
from agentcron.config import DEFAULT_DATABASE_URL, ConfigError, Settings
from agentcron.deliverer import Deliverer
from agentcron.domain import Job, RunResult
from agentcron.engine import mcp_servers
from agentcron.engine.ability_config import ABILITY_TYPES
from agentcron.engine.agent import AgentRunner
from agentcron.engine.net import AllowList
from agentcron.engine.runner import Emit, Runner
from agentcron.events import EventBus, open_event_bus
from agentcron.events.lifecycle import OP_END, RunEvents
from agentcron.health import Probes, handler
from agentcron.janitor import Janitor
from agentcron.observers import logs
from agentcron.observers import webhooks as webhook_observer
from agentcron.observers.metrics import HttpMetrics, Metrics
from agentcron.observers.runbook import RunBook
from agentcron.scheduler import Scheduler
from agentcron.serving import deadline_protocol
from agentcron.signals import (
    ExecutionsCanceled,
    ExecutionsFinished,
    ExecutionsQueued,
    OperationEnded,
    RunsReaped,
    ScheduleChanged,
    Signals,
    SlotsSkipped,
    TaskPaused,
    TasksResumed,
)
from agentcron.store.base import Store, open_store
from agentcron.web.render import template_config
from agentcron.web.routes import error_page, web_routes
from agentcron.worker import Worker

log = logging.getLogger("agentcron")


class ObservedRunner:
    """A `Runner` that also emits `OperationEnded` for each operation its runs end (model requests, tool
    calls), for the observers that count and log them, leaving the engine untouched."""

    __slots__ = ("runner", "signals")

    def __init__(self, runner: Runner, signals: Signals) -> None:
        self.runner = runner
        self.signals = signals

    async def run(self, job: Job, emit: Emit) -> RunResult:
        signals = self.signals

        async def observed(type_: str, data: dict[str, Any]) -> None:
            if type_ == OP_END:
                signals.emit(OperationEnded(job, data))
            await emit(type_, data)

        return await self.runner.run(job, observed)


@dataclass
class Services:
    """Everything one process runs, built by `Services.build`; `start` and `stop` run the roles."""

    settings: Settings
    clock: Clock
    store: Store
    signals: Signals
    events: EventBus
    run_events: RunEvents
    worker: Worker | None
    scheduler: Scheduler | None
    janitor: Janitor | None
    #: None when built without observers (``observe=False``)
    metrics: Metrics | None = None
    #: the webhook deliverer (the ``deliverer`` role)
    deliverer: Deliverer | None = None
    _delivering: asyncio.Task[None] | None = None
    _loops: list[asyncio.Task[None]] = field(default_factory=list)
    _ticking: asyncio.Task[None] | None = None
    _started: bool = False
    _stopping: bool = False

    @classmethod
    async def build(
        cls, settings: Settings, clock: Clock, runner: Runner, store: Store | None = None, *, observe: bool = True
    ) -> Services:
        """Open the store (migrating it) unless one is given, and build the roles of ``settings.roles``.
        With ``observe`` (the default) the log lines and metrics of the lifecycle signals are wired; without,
        none are (benchmarks compare the two)."""
        if store is None:
            store = await open_store(
                settings.database_url,
                pool_size=settings.database_pool_size,
                read_connections=settings.database_read_connections or None,
            )
        store.budgets.account_cap = settings.account_tokens_per_day
        signals = Signals()
        events = open_event_bus(store, clock, settings)
        roles = settings.roles
        concurrent = store.caps.concurrent_writes
        # The begins and ends of runs on their streams (it acts only where runs start, end or are reaped).
        run_events = RunEvents(events, store.events, signals)
        worker = None
        if "worker" in roles:
            if observe:
                runner = ObservedRunner(runner, signals)
            worker = Worker(store.runs, settings, clock, runner, run_events, signals, concurrent)
        scheduler = Scheduler(store, settings, clock, signals, local=worker) if "scheduler" in roles else None
        janitor = Janitor(store.housekeeping, settings, clock, signals) if "scheduler" in roles else None
        metrics = Metrics(clock, ABILITY_TYPES) if observe else None
        deliverer = None
        if "deliverer" in roles:
            # Firing first: with a scheduler in this process, deliveries slow down while it catches up.
            busy = (lambda: scheduler.behind) if scheduler is not None else None
            deliverer = Deliverer(store.webhooks, settings, clock, signals, busy=busy)
        services = cls(
            settings, clock, store, signals, events, run_events, worker, scheduler, janitor, metrics, deliverer
        )
        services._wire()
        return services

    def _observe(self, metrics: Metrics) -> None:
        """The log lines and metrics of the lifecycle signals."""
        book = RunBook(limit=max(10_000, 4 * self.settings.worker_concurrency))
        logs.connect(self.signals, book, self.settings)
        metrics.connect(self.signals, book)
        book.connect(self.signals)  # last: it forgets ended runs once the others have read them
        hooks = webhook_observer.connect(self.signals, metrics)
        d = self.deliverer
        if d is not None:
            hooks.track_in_flight(lambda: d.in_flight)
        w = self.worker
        if w is not None:
            metrics.track_running(lambda: w.capacity.active)
        subscribers = getattr(self.events, "subscribers", None)
        if isinstance(subscribers, dict):
            metrics.track_subscribers(lambda: sum(map(len, subscribers.values())))

    def _wire(self) -> None:
        """In-process reactions to what this process's API, scheduler and janitor do (other processes
        notice the same through their poll)."""
        if self.metrics is not None:
            self._observe(self.metrics)
        w, s = self.worker, self.scheduler
        if w is not None:
            self.signals.connect(ExecutionsQueued, lambda _: w.wake.set())
            self.signals.connect(ExecutionsCanceled, lambda sig: w.cancel_local(sig.execution_ids))
            self.signals.connect(RunsReaped, lambda sig: w.cancel_local(sig.execution_ids))
        if s is not None:
            self.signals.connect(ScheduleChanged, lambda _: s.wake.set())
        d = self.deliverer
        if d is not None:  # what may have written webhook deliveries (other processes' writes: by polling)
            for kind in (ExecutionsFinished, ExecutionsCanceled, SlotsSkipped, RunsReaped, TaskPaused, TasksResumed):
                self.signals.connect(kind, lambda _: d.wake.set())

    def context(self) -> AppContext:
        """What the API's handlers see."""
        return AppContext(self.settings, self.store, self.clock, self.signals, self.events)

    def probes(self) -> Probes:
        return Probes(self.store, self.metrics, self.not_ready, self.clock, self.settings.misfire_grace_ms)

    def not_ready(self) -> str | None:
        """Why this process's roles are not (all) running, or None when they are."""
        if self._stopping:
            return "shutting down"
        if not self._started:
            return "starting"
        if self.scheduler is not None and (self._ticking is None or self._ticking.done()):
            return "the scheduler has stopped"
        if any(t.done() for t in self._loops):
            return "the scheduler's janitor has stopped"
        if self.deliverer is not None and (self._delivering is None or self._delivering.done()):
            return "the webhook deliverer has stopped"
        w = self.worker
        if w is not None:
            # (the worker's loops: claims and heartbeats, and its outcome writer)
            loops: list[asyncio.Task[None] | None] = [*w._loops, w._writer]
            if not w._loops or any(t is None or t.done() for t in loops):
                return "the worker has stopped"
        return None

    async def start(self) -> None:
        await self.events.start()
        await self.run_events.start()
        if self.worker is not None:
            self.worker.start()
        if self.scheduler is not None:
            self._ticking = asyncio.create_task(self.scheduler.run())
            self._loops.append(self._ticking)
        if self.janitor is not None:
            self._loops.append(asyncio.create_task(self.janitor.run()))
        if self.deliverer is not None:
            self._delivering = asyncio.create_task(self.deliverer.run())
        self._started = True
        # Everything loaded so far (modules, app, pools) lives for the whole process: move it out of the
        # cyclic GC's generations so full collections stay short (they showed as latency spikes).
        gc.freeze()

    def quiesce(self) -> None:
        """Stop firing, housekeeping and claiming new runs; runs in flight go on (a shutdown has begun)."""
        self._stopping = True
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.janitor is not None:
            self.janitor.stopping = True
        if self.worker is not None:
            self.worker.capacity.stopping = True
        if self.deliverer is not None:
            self.deliverer.stopping = True
            self.deliverer.wake.set()

    async def stop(self) -> None:
        """Graceful: quiesce, let a tick in flight commit (its runs reach the worker before its shutdown
        takes stock), then shut the worker down (runs finish or are handed back), then close."""
        self.quiesce()
        if self._ticking is not None:
            await asyncio.wait([self._ticking], timeout=self.settings.shutdown_grace_ms / 1000)
        if self.worker is not None:
            await self.worker.shutdown(self.settings.shutdown_grace_ms)
        if self.deliverer is not None:
            if self._delivering is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._delivering
            await self.deliverer.stop()
        for t in self._loops:
            t.cancel()
        for t in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.run_events.close()
        await self.events.close()
        await self.store.close()


def process_clock(settings: Settings) -> Clock:
    return OffsetClock(settings.clock_offset_ms) if settings.clock_offset_ms else SystemClock()


@dataclass
class Listeners:
    """The sockets a process serves on, bound before anything starts (a port in use stops the process
    with one clear line rather than after start-up): the API's and the health server's."""

    api: socket.socket | None = None
    health: socket.socket | None = None

    def close(self) -> None:
        for sock in (self.api, self.health):
            if sock is not None:
                sock.close()


class PortInUse(Exception):
    pass


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not listening yet). Raises `PortInUse`, or `OSError` for an
    address that cannot be bound here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use") from None
        raise
    sock.set_inheritable(True)
    return sock


def bind_listeners(settings: Settings) -> Listeners:
    """Bind the API port (with the api role) and the health port (when set). Raises `PortInUse`/`OSError`."""
    out = Listeners()
    try:
        if "api" in settings.roles:
            out.api = bind(settings.host, settings.port)
        if settings.health_port:
            out.health = bind(settings.host, settings.health_port)
    except BaseException:
        out.close()
        raise
    return out


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def account_command(settings: Settings, environ: dict[str, str] | None = None) -> str:
    """The exact ``agentcron account create NAME`` for the database in use, without printing a password:
    ``--database-url URL`` unless it is the default; for a URL holding a password, ``"$AGENTCRON_DATABASE_URL"``
    when that variable names it, else the URL with the password masked (``***``, for the reader to put back)."""
    import os

    env = os.environ if environ is None else environ
    url = settings.database_url
    if url == DEFAULT_DATABASE_URL:
        return "agentcron account create NAME"
    shown = logs.redact_url(url)
    if shown == url:
        return f"agentcron account create NAME --database-url {shlex.quote(url)}"
    if env.get("AGENTCRON_DATABASE_URL") == url:
        return 'agentcron account create NAME --database-url "$AGENTCRON_DATABASE_URL"'
    return f"agentcron account create NAME --database-url {shlex.quote(shown)} (with the password in place of ***)"


def _started_lines(settings: Settings, listeners: Listeners) -> None:
    roles = ",".join(r for r in ("api", "scheduler", "worker", "deliverer") if r in settings.roles)
    database = logs.redact_url(settings.database_url)
    url = _url(settings.host, settings.port) if listeners.api is not None else None
    health = _url(settings.host, settings.health_port) if listeners.health is not None else None
    where = f"listening on {url}" if url else "headless (no API)"
    if health:
        where += f", health and metrics on {health}"
    log.info(
        "agentcron %s started: roles %s, database %s, %s",
        __version__,
        roles,
        database,
        where,
        extra={
            "fields": {
                "event": "started",
                "version": __version__,
                "roles": roles,
                "database": database,
                "url": url,
                "healthUrl": health,
            }
        },
    )
    if url:
        log.info("Get an API secret: %s", account_command(settings), extra={"fields": {"event": "hint"}})


async def serve_health(services: Services, sock: socket.socket) -> asyncio.Server:
    return await asyncio.start_server(handler(services.probes()), sock=sock, backlog=128)


async def run_headless(services: Services, listeners: Listeners | None = None) -> None:
    """Run the scheduler and/or worker roles without HTTP until SIGTERM or SIGINT (and the health server
    on ``listeners.health``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await services.start()
    health = None
    if listeners is not None and listeners.health is not None:
        health = await serve_health(services, listeners.health)
    if listeners is not None:
        _started_lines(services.settings, listeners)
    try:
        await stop.wait()
    finally:
        services.quiesce()  # /readyz answers 503 from now on
        await services.stop()
        if health is not None:
            health.close()


async def run_http(services: Services, listeners: Listeners | None = None) -> None:
    """Serve the API (and run the other roles of this process) until SIGTERM or SIGINT, on
    ``listeners.api`` (else bound here), with the health server on ``listeners.health``."""
    s = services.settings
    app: Any = create_app(
        services.context(),
        web_routes(s),
        probes=services.probes(),
        template_config=template_config(),
        pages=("/app/", error_page),
    )
    if services.metrics is not None:
        app = HttpMetrics(app, services.metrics, access=bool(s.access_log))
    config = uvicorn.Config(
        app,
        host=s.host,
        port=s.port,
        http=deadline_protocol(s.request_timeout_ms / 1000, s.max_connections),
        access_log=False,  # (ours, `HttpMetrics`, with AGENTCRON_ACCESS_LOG=1)
        log_config=None,  # uvicorn's loggers go through ours (`observers.logs.setup`)
        log_level="warning",
        lifespan="off",
        ws="none",  # (no websocket routes: an Upgrade request gets our 404, not uvicorn's plain-text 403)
        timeout_graceful_shutdown=max(1, s.shutdown_grace_ms // 1000),
    )
    # Load the server's protocol and middleware now, so that the roles' start (which freezes everything
    # loaded so far out of the cyclic GC) covers them too.
    config.load()
    server = uvicorn.Server(config)

    loop = asyncio.get_running_loop()

    def stop(*_: object) -> None:
        server.should_exit = True
        loop.call_soon_threadsafe(services.quiesce)  # no new runs while uvicorn drains its connections

    # A signal before uvicorn takes over (while the roles start) stops the server as soon as it runs; and
    # uvicorn re-raises the signal that stopped it once it has shut down, which must then only do this
    # again, so that the roles below still stop gracefully.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    await services.start()
    health = None
    if listeners is not None and listeners.health is not None:
        health = await serve_health(services, listeners.health)
    if listeners is not None:
        _started_lines(s, listeners)
    try:
        await server.serve(sockets=[listeners.api] if listeners is not None and listeners.api is not None else None)
    finally:
        await services.stop()
        if health is not None:
            health.close()


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main())
    else:
        uvloop.run(main())


def check_settings(settings: Settings) -> None:
    """The settings whose syntax belongs to the engine or the log, checked before anything starts. Raises
    `ConfigError` naming the variable."""
    mcp_servers.declared(settings)  # read once, now: an unusable declaration stops the process here
    try:
        AllowList.parse(settings.http_allow)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    logs.check(settings)
    if settings.account_tokens_per_day < 0:
        raise ConfigError(
            f"AGENTCRON_ACCOUNT_TOKENS_PER_DAY must be 0 (no cap) or more, not {settings.account_tokens_per_day}"
        )
    if not 0 <= settings.health_port <= 65535:
        raise ConfigError(f"AGENTCRON_HEALTH_PORT must be a port number (0: none), not {settings.health_port}")


def serve(settings: Settings, runner: Runner | None = None) -> int:
    """Run the process's roles until SIGTERM/SIGINT. 0 after a graceful stop; 2 for an unusable setting;
    1 when a port cannot be bound (in use: one line says so)."""
    try:
        check_settings(settings)
    except ConfigError as e:
        print(f"agentcron: {e}", file=sys.stderr, flush=True)
        return 2
    logs.setup(settings)
    try:
        listeners = bind_listeners(settings)
    except PortInUse as e:
        print(f"agentcron: {e}", file=sys.stderr, flush=True)
        return 1
    except OSError as e:
        print(f"agentcron: cannot listen on {settings.host}: {e.strerror or e}", file=sys.stderr, flush=True)
        return 1

    async def main() -> None:
        services = await Services.build(settings, process_clock(settings), runner or AgentRunner(settings))
        await (run_http(services, listeners) if "api" in settings.roles else run_headless(services, listeners))

    try:
        _run(main)
    finally:
        listeners.close()
    log.info("agentcron stopped", extra={"fields": {"event": "stopped"}})
    return 0
