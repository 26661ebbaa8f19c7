"""In-process cost of the console's Tasks page (100 rows), with its row caches hit and missed.

`bench/console.py` asks for the same 100 rows again and again, so after the first request every row's HTML
comes from the cache of row versions (`agentcron.web.tasks.row_parts`). A page whose rows all changed since
the last one (every task ran, was paused, was edited) misses that cache. This script measures both in one
process, over a real SQLite file of 100 tasks made through the API as `bench/console.py` makes them
(5 schedules, 4 zones, one bot):

- ``json``: what the JSON list does for the same page (`Store.list_page_json` and the join), the baseline;
- ``page, warm``: the Tasks page's Python (the query, the rows, the template), every row cached;
- ``page, cold``: the same with the per-row caches emptied before each page (the caches of values many rows
  share, such as bot names and schedule words, stay: they do not change with a row).

    python bench/console_rows.py [--pages 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import free_port
from api import stop_server
from console import Http, make_tasks, new_secret, start

from agentcron.store.base import ListQuery, open_store
from agentcron.store.migrate import migrate
from agentcron.store.resources import TASK
from agentcron.web import tasks
from agentcron.web.render import environment


def load(db_url: str) -> str:
    """Make 100 tasks through a server's API; return their API secret."""
    secret = new_secret(db_url)
    port = free_port()
    proc = start(db_url, port, Path(db_url.removeprefix("sqlite:///")).with_suffix(".log"), {})
    try:
        api = Http(port, {"authorization": f"Bearer {secret}"})
        make_tasks(api)
        return secret
    finally:
        stop_server(proc)


async def measure(db_url: str, secret: str, pages: int, rounds: int) -> dict[str, list[float]]:
    store = await open_store(db_url, run_migrations=False, pool_size=2)
    account_id = await store.accounts.account_for_secret(secret)
    assert account_id is not None
    template = environment().get_template("tasks.html")
    filters = tasks.TaskFilters(take=100)
    who: Any = SimpleNamespace(ctx=SimpleNamespace(store=store), account_id=account_id, csrf="c", now=0)
    per_row = [getattr(tasks, n) for n in ("row_parts", "_when") if hasattr(tasks, n)]

    async def json_page() -> None:
        page = await store.list_page_json(TASK, account_id, ListQuery(take=100))
        assert page is not None and len(page[0]) == 100
        ",".join(page[0])

    async def html_page(cold: bool) -> None:
        if cold:
            for cache in per_row:
                cache.cache_clear()
        who.now = int(time.time() * 1000)
        html = template.render({**await tasks._list_context(who, filters), "request": None})
        assert html.count('<tr id="task-') == 100

    cells = {"json": json_page, "page, warm": lambda: html_page(False), "page, cold": lambda: html_page(True)}
    out: dict[str, list[float]] = {name: [] for name in cells}
    try:
        for _ in range(rounds):
            for name, run in cells.items():
                await run()
                t0 = time.perf_counter()
                for _ in range(pages):
                    await run()
                out[name].append((time.perf_counter() - t0) / pages * 1000)
    finally:
        await store.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=200, help="pages per cell and round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    db_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='agentcron-console-rows-')) / 'bench.db'}"
    asyncio.run(migrate(db_url))
    out = asyncio.run(measure(db_url, load(db_url), args.pages, args.rounds))
    base = sum(out["json"]) / len(out["json"])
    print(f"Tasks page in-process, 100 rows, {args.rounds} interleaved rounds of {args.pages} pages:\n")
    print("| cell | ms / page, mean | per round | vs JSON |\n|---|---:|---|---:|")
    for name, values in out.items():
        mean = sum(values) / len(values)
        print(f"| {name} | {mean:.2f} | {', '.join(f'{v:.2f}' for v in values)} | {mean / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
