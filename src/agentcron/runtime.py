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
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from agentcron.api.app import create_app
from agentcron.api.context import AppContext
from agentcron.clock import Clock, OffsetClock, SystemClock
from agentcron.config import ConfigError, Settings
from agentcron.engine import mcp_servers
from agentcron.engine.agent import AgentRunner
from agentcron.engine.net import AllowList
from agentcron.engine.runner import Runner
from agentcron.events import EventBus, open_event_bus
from agentcron.events.lifecycle import RunEvents
from agentcron.janitor import Janitor
from agentcron.observers.logs import connect as observe_logs
from agentcron.scheduler import Scheduler
from agentcron.serving import deadline_protocol
from agentcron.signals import ExecutionsCanceled, ExecutionsQueued, RunsReaped, ScheduleChanged, Signals
from agentcron.store.base import Store, open_store
from agentcron.worker import Worker

log = logging.getLogger("agentcron")


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
    _loops: list[asyncio.Task[None]] = field(default_factory=list)
    _ticking: asyncio.Task[None] | None = None

    @classmethod
    async def build(cls, settings: Settings, clock: Clock, runner: Runner, store: Store | None = None) -> Services:
        """Open the store (migrating it) unless one is given, and build the roles of ``settings.roles``."""
        if store is None:
            store = await open_store(
                settings.database_url,
                pool_size=settings.database_pool_size,
                read_connections=settings.database_read_connections or None,
            )
        signals = Signals()
        events = open_event_bus(store, clock, settings)
        roles = settings.roles
        concurrent = store.caps.concurrent_writes
        # The begins and ends of runs on their streams (it acts only where runs start, end or are reaped).
        run_events = RunEvents(events, store.events, signals)
        worker = None
        if "worker" in roles:
            worker = Worker(store.runs, settings, clock, runner, run_events, signals, concurrent)
        scheduler = Scheduler(store, settings, clock, signals, local=worker) if "scheduler" in roles else None
        janitor = Janitor(store.housekeeping, settings, clock, signals) if "scheduler" in roles else None
        services = cls(settings, clock, store, signals, events, run_events, worker, scheduler, janitor)
        services._wire()
        return services

    def _wire(self) -> None:
        """In-process reactions to what this process's API, scheduler and janitor do (other processes
        notice the same through their poll)."""
        observe_logs(self.signals)
        w, s = self.worker, self.scheduler
        if w is not None:
            self.signals.connect(ExecutionsQueued, lambda _: w.wake.set())
            self.signals.connect(ExecutionsCanceled, lambda sig: w.cancel_local(sig.execution_ids))
            self.signals.connect(RunsReaped, lambda sig: w.cancel_local(sig.execution_ids))
        if s is not None:
            self.signals.connect(ScheduleChanged, lambda _: s.wake.set())

    def context(self) -> AppContext:
        """What the API's handlers see."""
        return AppContext(self.settings, self.store, self.clock, self.signals, self.events)

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
        # Everything loaded so far (modules, app, pools) lives for the whole process: move it out of the
        # cyclic GC's generations so full collections stay short (they showed as latency spikes).
        gc.freeze()

    def quiesce(self) -> None:
        """Stop firing, housekeeping and claiming new runs; runs in flight go on (a shutdown has begun)."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.janitor is not None:
            self.janitor.stopping = True
        if self.worker is not None:
            self.worker.capacity.stopping = True

    async def stop(self) -> None:
        """Graceful: quiesce, let a tick in flight commit (its runs reach the worker before its shutdown
        takes stock), then shut the worker down (runs finish or are handed back), then close."""
        self.quiesce()
        if self._ticking is not None:
            await asyncio.wait([self._ticking], timeout=self.settings.shutdown_grace_ms / 1000)
        if self.worker is not None:
            await self.worker.shutdown(self.settings.shutdown_grace_ms)
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


async def run_headless(services: Services) -> None:
    """Run the scheduler and/or worker roles without HTTP until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await services.start()
    try:
        await stop.wait()
    finally:
        await services.stop()


async def run_http(services: Services) -> None:
    """Serve the API (and run the other roles of this process) until SIGTERM or SIGINT."""
    s = services.settings
    app = create_app(services.context())
    config = uvicorn.Config(
        app,
        host=s.host,
        port=s.port,
        http=deadline_protocol(s.request_timeout_ms / 1000, s.max_connections),
        access_log=False,
        log_level="warning",
        lifespan="off",
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
    try:
        await server.serve()
    finally:
        await services.stop()


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main())
    else:
        uvloop.run(main())


def check_settings(settings: Settings) -> None:
    """The settings whose syntax belongs to the engine, checked before anything starts. Raises
    `ConfigError` naming the variable."""
    mcp_servers.declared(settings)  # read once, now: an unusable declaration stops the process here
    try:
        AllowList.parse(settings.http_allow)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def serve(settings: Settings, runner: Runner | None = None) -> int:
    try:
        check_settings(settings)
    except ConfigError as e:
        print(f"agentcron: {e}", file=sys.stderr, flush=True)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    roles = ",".join(sorted(settings.roles))
    if "api" not in settings.roles:
        print(f"agentcron running roles {roles} on {settings.database_url}", file=sys.stderr, flush=True)
    else:
        print(
            f"agentcron listening on http://{settings.host}:{settings.port} (roles {roles}, "
            f"database {settings.database_url})\n"
            "Get an API secret: agentcron account create NAME"
            + (f" --database-url {settings.database_url}" if settings.database_url.startswith("sqlite") else ""),
            file=sys.stderr,
            flush=True,
        )

    async def main() -> None:
        services = await Services.build(settings, process_clock(settings), runner or AgentRunner(settings))
        await (run_http(services) if "api" in settings.roles else run_headless(services))

    _run(main)
    return 0
