"""Schedule parsing and fire-time computation (pure: no clock reads, no I/O).

A task's ``schedule`` text is one of:

* ``never`` -- the task never fires on its own.
* a named interval, wall-clock aligned in the task's timezone (exact, lowercase match):
  ``quarterhourly`` (``*/15 * * * *``), ``halfhourly`` (``*/30 * * * *``), ``hourly`` (``0 * * * *``),
  ``twicedaily`` (``0 0,12 * * *``), ``daily`` (``0 0 * * *``), ``twiceweekly`` (``0 0 * * 0,3``),
  ``weekly`` (``0 0 * * 0``, Sunday midnight), ``twicemonthly`` (``0 0 1,15 * *``),
  ``monthly`` (``0 0 1 * *``).
* ``HH:MM`` (hour 0-23 with one or two digits, minute with two digits): daily at that local time.
* a 5-field cron expression (minute hour day-of-month month day-of-week), evaluated with
  :mod:`cronsim` (Vixie/Debian semantics: ``16-16`` is ``{16}``; day-of-month and day-of-week are
  AND-ed when either field starts with ``*``, otherwise OR-ed; ``7`` is Sunday; names such as
  ``MON`` and ``JAN``, and cronsim's ``L``, ``LW`` and ``#`` extensions are accepted). The nicknames
  ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight`` and ``@hourly``
  map to their 5-field forms; ``@reboot`` and 6/7-field forms are rejected.
* a one-shot date: ISO 8601 (``2025-12-25``, ``2025-12-25T10:00``, ``2025-12-25T10:00:00.000Z``,
  ``2025-12-25 10:00:00+02:00``), RFC 2822 (``Wed, 25 Dec 2025 10:00:00 GMT``) or another
  JavaScript-``Date``-style form with a 4-digit year and a full date (``December 25, 2025 10:00:00``).
  A date without an offset is wall time in the task's timezone; a date without a time is midnight.
  The instant is stored in UTC, truncated to milliseconds.

Daylight-saving rule (applies to cron-derived schedules and to one-shot local dates alike):

* A local time that does not exist (spring-forward gap) fires at the first valid instant after the
  gap, i.e. at the transition instant. Example: ``30 2 * * *`` in America/New_York on 2026-03-08
  fires at 03:00 EDT = 07:00Z.
* A fixed local time that occurs twice (fall-back) fires once, at its first occurrence. Example:
  ``30 1 * * *`` in America/New_York on 2026-11-01 fires at 01:30 EDT = 05:30Z only.
* Expressions whose minute or hour field starts with ``*`` (``*/15 * * * *``, ``0 * * * *``,
  ``*/5 9 * * *``) run on real elapsed time: slots inside a gap simply do not exist and slots in a
  repeated hour fire in both folds (``*/15 * * * *`` fires every 15 real minutes throughout).

This is cronsim's behaviour; one-shot dates follow the same rule (gap -> transition instant,
ambiguous -> ``fold=0``).

This module is the public entry: it recognises the form and dispatches. Cron validation and
evaluation live in :mod:`agentcron.schedule_cron`, one-shot dates in :mod:`agentcron.schedule_dates`.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from agentcron.schedule_cron import fire_times, validate_cron
from agentcron.schedule_dates import parse_date
from agentcron.schedule_errors import ScheduleError, invalid

__all__ = [
    "NAMED_INTERVALS",
    "CRON_NICKNAMES",
    "Schedule",
    "ScheduleError",
    "next_run",
    "parse_schedule",
    "parse_timezone",
    "upcoming",
]


NAMED_INTERVALS: dict[str, str] = {
    "quarterhourly": "*/15 * * * *",
    "halfhourly": "*/30 * * * *",
    "hourly": "0 * * * *",
    "twicedaily": "0 0,12 * * *",
    "daily": "0 0 * * *",
    "twiceweekly": "0 0 * * 0,3",
    "weekly": "0 0 * * 0",
    "twicemonthly": "0 0 1,15 * *",
    "monthly": "0 0 1 * *",
}

CRON_NICKNAMES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_UTC_ZONE = zoneinfo.ZoneInfo("UTC")


# --------------------------------------------------------------------------- timezones


@functools.cache
def _available_timezones() -> frozenset[str]:
    # "localtime" is a host-specific alias some systems ship, not an IANA name.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules"})


def parse_timezone(name: str | None) -> zoneinfo.ZoneInfo:
    """Return the IANA timezone called ``name``; ``None`` or ``""`` means UTC.

    Raises:
        ScheduleError: ``"Invalid timezone: '<name>' is not an IANA timezone name"`` when the name
            is unknown, malformed or not an IANA zone (e.g. ``posix/...`` or ``localtime``).
    """
    if name is None or name == "":
        return _UTC_ZONE
    message = f"Invalid timezone: {name!r} is not an IANA timezone name"
    if name not in _available_timezones():
        raise ScheduleError(message + ' (e.g. "Europe/London", "America/New_York" or "UTC")')
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(message) from exc


# --------------------------------------------------------------------------- Schedule


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule.

    Attributes:
        kind: ``"never"``, ``"cron"`` (named intervals, ``HH:MM``, nicknames and cron) or ``"once"``.
        source: the schedule text as given.
        cron: for ``kind == "cron"`` the 5-field expression evaluated, else ``None``.
        at: for ``kind == "once"`` the aware UTC instant (millisecond precision), else ``None``.
    """

    kind: Literal["never", "cron", "once"]
    source: str
    cron: str | None
    at: datetime | None


def parse_schedule(text: str, tz: zoneinfo.ZoneInfo) -> Schedule:
    """Parse schedule ``text`` for a task whose timezone is ``tz``.

    ``tz`` only affects one-shot dates written without an offset (read as wall time in ``tz``);
    cron-style schedules are stored as expressions and evaluated in the task's timezone by
    :func:`next_run`. Leading/trailing whitespace is ignored; names are case-sensitive.

    Results are cached per ``(text, tz.key)``.

    Raises:
        ScheduleError: message starts with ``"Invalid schedule: "`` and says what is wrong
            (unknown name, wrong number of cron fields, out-of-range cron value, a cron
            expression that never fires, an impossible date, ...).
    """
    if tz.key is None:
        return _parse(text, tz)
    return _parse_cached(text, tz.key)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str, tz_key: str) -> Schedule:
    return _parse(text, zoneinfo.ZoneInfo(tz_key))


def _generic_error(text: str) -> ScheduleError:
    return invalid(f"{text!r} is not a named interval, a 5-field cron expression, HH:MM or a date")


_HHMM_LIKE = re.compile(r"[0-9]{1,2}:[0-9]{1,2}")
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_CRON_TOKEN = re.compile(r"[0-9A-Za-z*/,#?\-]+")
# A token that plausibly is a cron field (has a digit, "*" or "?", or is made of 3-letter names),
# used only to choose between "wrong number of fields" and the generic message.
_CRON_FIELD_LIKE = re.compile(r".*[0-9*?].*|[A-Za-z]{3}(?:[-,][A-Za-z]{3})*")


def _parse(text: str, tz: zoneinfo.ZoneInfo) -> Schedule:
    stripped = text.strip()
    if not stripped:
        raise invalid("the schedule is empty")

    if stripped == "never":
        return Schedule("never", text, None, None)
    named = NAMED_INTERVALS.get(stripped)
    if named is not None:
        return Schedule("cron", text, named, None)

    if stripped.startswith("@"):
        nick = CRON_NICKNAMES.get(stripped)
        if nick is not None:
            return Schedule("cron", text, nick, None)
        if stripped == "@reboot":
            raise invalid("'@reboot' is not supported (tasks have no boot event)")
        raise invalid(f"{stripped!r} is not a known cron nickname (use one of {', '.join(CRON_NICKNAMES)})")

    if _HHMM_LIKE.fullmatch(stripped):
        return Schedule("cron", text, _parse_hhmm(stripped), None)

    tokens = stripped.split()
    cron_like = all(_CRON_TOKEN.fullmatch(t) for t in tokens)
    if len(tokens) == 5 and cron_like:
        expr = " ".join(tokens)
        try:
            validate_cron(expr)
        except ScheduleError:
            # Something like "25 Dec 2025 10 PM" is five cron-looking tokens but a date.
            at = parse_date(stripped, tz, quiet=True)
            if at is not None:
                return Schedule("once", text, None, at)
            raise
        return Schedule("cron", text, expr, None)

    at = parse_date(stripped, tz, quiet=False)
    if at is not None:
        return Schedule("once", text, None, at)

    if cron_like and all(_CRON_FIELD_LIKE.fullmatch(t) for t in tokens) and (len(tokens) >= 2 or "*" in stripped):
        n = len(tokens)
        extra = " (seconds and year fields are not supported)" if n in (6, 7) else ""
        raise invalid(
            f"a cron expression needs exactly 5 fields (minute hour day-of-month month day-of-week), "
            f"{stripped!r} has {n}{extra}"
        )
    raise _generic_error(stripped)


def _parse_hhmm(text: str) -> str:
    m = _HHMM.fullmatch(text)
    if m is None:
        raise invalid(f"{text!r} is not a valid time of day; use HH:MM with a two-digit minute (e.g. 09:05)")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23:
        raise invalid(f"{text!r} is not a valid time of day: hour {hour} is out of range 0-23")
    if minute > 59:
        raise invalid(f"{text!r} is not a valid time of day: minute {minute} is out of range 0-59")
    return f"{minute} {hour} * * *"


# --------------------------------------------------------------------------- fire times


def next_run(schedule: Schedule, tz: zoneinfo.ZoneInfo, after: datetime) -> datetime | None:
    """Return the first fire instant strictly after ``after``, as an aware UTC datetime.

    ``after`` must be timezone-aware (any zone). Cron schedules are evaluated in ``tz`` under the
    module's DST rule and return whole minutes (``second == microsecond == 0``). ``never`` returns
    None; ``once`` returns ``schedule.at`` if it is later than ``after``, else None. A cron
    expression with no fire time within cronsim's 50-year search window also returns None.

    Raises:
        ValueError: ``after`` is naive.
    """
    for instant in _iter_runs(schedule, tz, after):
        return instant
    return None


def upcoming(schedule: Schedule, tz: zoneinfo.ZoneInfo, after: datetime, limit: int) -> list[datetime]:
    """Return up to ``limit`` fire instants strictly after ``after``, increasing, as aware UTC.

    Same semantics as :func:`next_run` (which equals ``upcoming(...)[0]`` when there is one);
    ``limit <= 0`` gives ``[]``. Cost is proportional to ``limit``.

    Raises:
        ValueError: ``after`` is naive.
    """
    result: list[datetime] = []
    if limit <= 0:
        _check_aware(after)
        return result
    for instant in _iter_runs(schedule, tz, after):
        result.append(instant)
        if len(result) >= limit:
            break
    return result


def iter_runs(schedule: Schedule, tz: zoneinfo.ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every fire instant strictly after ``after``, lazily (the caller decides when to stop)."""
    return _iter_runs(schedule, tz, after)


def _check_aware(after: datetime) -> None:
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("`after` must be a timezone-aware datetime")


def _iter_runs(schedule: Schedule, tz: zoneinfo.ZoneInfo, after: datetime) -> Iterator[datetime]:
    _check_aware(after)
    after_utc = after.astimezone(UTC)
    if schedule.kind == "never":
        return
    if schedule.kind == "once":
        if schedule.at is not None and schedule.at > after_utc:
            yield schedule.at
        return
    if schedule.cron is None:  # pragma: no cover - Schedule built by hand
        raise ValueError("cron schedule without an expression")

    yield from fire_times(schedule.cron, tz, after_utc)
