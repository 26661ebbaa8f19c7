"""Templates and the filters they use: instants in a zone, "5 min ago", durations, schedules in words."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from agentcron.schedule_words import schedule_in_words

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@functools.lru_cache(maxsize=512)
def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA zone ``name``, or None when it is empty or unknown (callers then show UTC)."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def when(ms: int | None, tz: str | None = None, seconds: bool = False) -> str:
    """``ms`` as local wall time in zone ``tz`` (UTC when none): ``2026-03-08 03:00 EDT``; "" for None."""
    if ms is None:
        return ""
    at = datetime.fromtimestamp(ms / 1000, zone(tz) or UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def ago(ms: int | None, now: int) -> str:
    """How long before ``now`` ``ms`` was ("5 min ago", "just now"), or after it ("in 2 h"); "" for None."""
    if ms is None:
        return ""
    delta = (now - ms) // 1000
    future = delta < 0
    s = abs(delta)
    if s < 45:
        return "in a moment" if future else "just now"
    if s < 3600:
        text = f"{max(1, round(s / 60))} min"
    elif s < 86_400:
        text = f"{round(s / 3600)} h"
    else:
        days = round(s / 86_400)
        text = f"{days} day{'s' if days != 1 else ''}"
    return f"in {text}" if future else f"{text} ago"


def duration(ms: int | None) -> str:
    """A duration in words: ``850 ms``, ``12.4 s``, ``3 min 5 s``, ``2 h 4 min``; "" for None."""
    if ms is None or ms < 0:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    s = ms // 1000
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def local_input(ms: int | None, tz: str | None) -> str:
    """``ms`` as the value of a ``datetime-local`` input in zone ``tz`` (``2026-03-08T02:30``)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, zone(tz) or UTC).strftime("%Y-%m-%dT%H:%M")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates ship in the package: no stat of each file on every render
    )
    env.filters.update(when=when, duration=duration, words=schedule_in_words, local_input=local_input)
    env.globals.update(ago=ago)
    return env


def template_config() -> TemplateConfig[Any]:
    """Litestar's Jinja2 engine over the console's templates."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
