"""Process wiring: open the store, start the roles this process runs (api, scheduler, worker), serve.

With the api role the process serves HTTP (uvicorn) and runs the other roles inside the app's lifespan;
without it, the roles run headless until SIGTERM/SIGINT. Either way shutdown is graceful: stop firing
and claiming, let runs finish for ``shutdown_grace_ms``, then hand unfinished runs back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from dataclasses import dataclass, field

import uvicorn
from litestar import Litestar

from agentcron.api.app import create_app
from agentcron.api.context import AppContext
from agentcron.clock import Clock, OffsetClock, SystemClock
from agentcron.config import Settings
from agentcron.engine.agent import AgentRunner
from agentcron.engine.runner import BasicRunner, Runner
from agentcron.events import EventBus
from agentcron.janitor import Janitor
from agentcron.scheduler import Scheduler
from agentcron.store.base import open_store
from agentcron.store.runs import RunStore
from agentcron.worker import Worker

log = logging.getLogger("agentcron")


@dataclass
class Roles:
    """The background roles of one process and how they signal each other in-process."""

    ctx: AppContext
    runner: Runner = field(default_factory=BasicRunner)
    scheduler: Scheduler | None = None
    janitor: Janitor | None = None
    worker: Worker | None = None
    events: EventBus | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        ctx, s = self.ctx, self.ctx.settings
        if ctx.store is None:
            ctx.store = await open_store(s.database_url)
        runs = RunStore(ctx.store)
        self.events = EventBus(ctx.store, ctx.clock, s.database_url)
        await self.events.start()
        ctx.services["events"] = self.events
        if "worker" in s.roles:
            self.worker = Worker(runs, s, ctx.clock, self.runner, events=self.events)
            ctx.services["wake_worker"] = self.worker.wake.set
            ctx.services["cancel_local"] = self.worker.cancel_local
            self.worker.start()
        if "scheduler" in s.roles:
            self.scheduler = Scheduler(runs, s, ctx.clock)
            self.janitor = Janitor(runs, s, ctx.clock)
            ctx.services["wake_scheduler"] = self.scheduler.wake.set
            if self.worker is not None:
                self.scheduler.local_worker = self.worker
                self.scheduler.on_fired = self.worker.wake.set
                self.scheduler.on_canceled = self.worker.cancel_local
                self.janitor.on_reaped = self.worker.cancel_local
            self.tasks += [asyncio.create_task(self.scheduler.run()), asyncio.create_task(self.janitor.run())]
        # Everything loaded so far (modules, app, pools) lives for the whole process: move it out of the
        # cyclic GC's generations so full collections stay short (they showed as 100+ ms latency spikes).
        gc.freeze()

    async def stop(self) -> None:
        s = self.ctx.settings
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.janitor is not None:
            self.janitor.stopping = True
        if self.worker is not None:
            await self.worker.shutdown(s.shutdown_grace_ms)
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.events is not None:
            await self.events.close()
        if self.ctx.store is not None:
            await self.ctx.store.close()


def process_clock(settings: Settings) -> Clock:
    return OffsetClock(settings.clock_offset_ms) if settings.clock_offset_ms else SystemClock()


def build_app(settings: Settings, clock: Clock | None = None, runner: Runner | None = None) -> Litestar:
    """The ASGI app for ``settings``: the store opens (and migrates) and the background roles start on
    startup; they stop gracefully on shutdown."""
    ctx = AppContext(settings=settings, store=None, clock=clock or process_clock(settings))  # type: ignore[arg-type]
    roles = Roles(ctx, runner or AgentRunner(settings))
    return create_app(ctx, on_startup=[roles.start], on_shutdown=[roles.stop])


async def run_headless(settings: Settings, runner: Runner | None = None) -> None:
    """Run scheduler and/or worker roles without HTTP until SIGTERM or SIGINT."""
    ctx = AppContext(settings=settings, store=None, clock=process_clock(settings))  # type: ignore[arg-type]
    roles = Roles(ctx, runner or AgentRunner(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await roles.start()
    await stop.wait()
    await roles.stop()


def serve(settings: Settings) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if "api" not in settings.roles:
        print(
            f"agentcron running roles {','.join(sorted(settings.roles))} on {settings.database_url}",
            file=sys.stderr,
            flush=True,
        )
        try:
            import uvloop

            uvloop.run(run_headless(settings))
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            asyncio.run(run_headless(settings))
        return 0
    app = build_app(settings)
    print(
        f"agentcron listening on http://{settings.host}:{settings.port} (roles {','.join(sorted(settings.roles))}, "
        f"database {settings.database_url})\n"
        "Get an API secret: agentcron account create NAME"
        + (f" --database-url {settings.database_url}" if settings.database_url.startswith("sqlite") else ""),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=max(1, settings.shutdown_grace_ms // 1000),
    )
    return 0
