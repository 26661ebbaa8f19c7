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
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Literal

from cronsim import CronSim, CronSimError
from dateutil import parser as _dateutil_parser

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


class ScheduleError(ValueError):
    """Raised for an invalid schedule or timezone; ``str(e)`` is the full user-facing message."""


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
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"})


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


def _invalid(message: str) -> ScheduleError:
    return ScheduleError(f"Invalid schedule: {message}")


def _generic_error(text: str) -> ScheduleError:
    return _invalid(f"{text!r} is not a named interval, a 5-field cron expression, HH:MM or a date")


_HHMM_LIKE = re.compile(r"[0-9]{1,2}:[0-9]{1,2}")
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_CRON_TOKEN = re.compile(r"[0-9A-Za-z*/,#?\-]+")
# A token that plausibly is a cron field (has a digit, "*" or "?", or is made of 3-letter names),
# used only to choose between "wrong number of fields" and the generic message.
_CRON_FIELD_LIKE = re.compile(r".*[0-9*?].*|[A-Za-z]{3}(?:[-,][A-Za-z]{3})*")


def _parse(text: str, tz: zoneinfo.ZoneInfo) -> Schedule:
    stripped = text.strip()
    if not stripped:
        raise _invalid("the schedule is empty")

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
            raise _invalid("'@reboot' is not supported (tasks have no boot event)")
        raise _invalid(f"{stripped!r} is not a known cron nickname (use one of {', '.join(CRON_NICKNAMES)})")

    if _HHMM_LIKE.fullmatch(stripped):
        return Schedule("cron", text, _parse_hhmm(stripped), None)

    tokens = stripped.split()
    cron_like = all(_CRON_TOKEN.fullmatch(t) for t in tokens)
    if len(tokens) == 5 and cron_like:
        expr = " ".join(tokens)
        try:
            _validate_cron(expr)
        except ScheduleError:
            # Something like "Wed, 25 Dec 2025 GMT" is five cron-looking tokens but a date.
            at = _try_parse_date(stripped, tz, quiet=True)
            if at is not None:
                return Schedule("once", text, None, at)
            raise
        return Schedule("cron", text, expr, None)

    at = _try_parse_date(stripped, tz, quiet=False)
    if at is not None:
        return Schedule("once", text, None, at)

    if cron_like and all(_CRON_FIELD_LIKE.fullmatch(t) for t in tokens) and (len(tokens) >= 2 or "*" in stripped):
        n = len(tokens)
        extra = " (seconds and year fields are not supported)" if n in (6, 7) else ""
        raise _invalid(
            f"a cron expression needs exactly 5 fields (minute hour day-of-month month day-of-week), "
            f"{stripped!r} has {n}{extra}"
        )
    raise _generic_error(stripped)


def _parse_hhmm(text: str) -> str:
    m = _HHMM.fullmatch(text)
    if m is None:
        raise _invalid(f"{text!r} is not a valid time of day; use HH:MM with a two-digit minute (e.g. 09:05)")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23:
        raise _invalid(f"{text!r} is not a valid time of day: hour {hour} is out of range 0-23")
    if minute > 59:
        raise _invalid(f"{text!r} is not a valid time of day: minute {minute} is out of range 0-59")
    return f"{minute} {hour} * * *"


# --------------------------------------------------------------------------- cron validation

_CRON_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_NUMBER = re.compile(r"[0-9]+")
# A fixed reference instant for "does this expression ever fire" (pure: no clock read). Every
# valid expression repeats within cronsim's 50-year search window (Feb 29 on a given weekday
# recurs at most 40 years apart), so the answer does not depend on the reference.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


def _check_ranges(parts: list[str]) -> None:
    """Friendly messages for numeric values cronsim would reject with a terse 'Bad <field>'."""
    for (name, lo, hi), field in zip(_CRON_FIELDS, parts, strict=True):
        for term in field.split(","):
            base, _, step = term.partition("/")
            if _NUMBER.fullmatch(step) and int(step) == 0:
                raise _invalid(f"cron field {name!r} step 0 is invalid (must be at least 1)")
            if name == "day-of-week":
                base = base.partition("#")[0]
                if base.endswith("L"):
                    base = base[:-1]
            pieces = base.split("-")
            for piece in pieces:
                if _NUMBER.fullmatch(piece):
                    value = int(piece)
                    if not lo <= value <= hi:
                        raise _invalid(f"cron field {name!r} value {value} is out of range {lo}-{hi}")
            if len(pieces) == 2 and all(_NUMBER.fullmatch(p) for p in pieces):
                start, end = int(pieces[0]), int(pieces[1])
                if end < start:
                    raise _invalid(f"cron field {name!r} range {start}-{end} is reversed (ranges do not wrap around)")


def _validate_cron(expr: str) -> None:
    parts = expr.split()
    _check_ranges(parts)
    try:
        it = CronSim(expr, _REFERENCE)
    except CronSimError as exc:
        raise _cronsim_error(parts, exc) from exc
    except (ValueError, IndexError, AssertionError, TypeError) as exc:  # defensive: cronsim internals
        raise _invalid(f"{expr!r} is not a valid cron expression") from exc
    try:
        next(it)
    except StopIteration as exc:
        raise _invalid("cron expression never fires") from exc


def _cronsim_error(parts: list[str], exc: CronSimError) -> ScheduleError:
    message = str(exc)
    for index, (name, _, _) in enumerate(_CRON_FIELDS):
        if message == f"Bad {name}":
            field = parts[index]
            if name == "day-of-month":
                # cronsim also says "Bad day-of-month" for a valid day that no selected month has
                # (e.g. "0 0 30 2 *"): distinguish that from a malformed field.
                try:
                    CronSim(f"0 0 {field} * *", _REFERENCE)
                except CronSimError:
                    pass
                else:
                    return _invalid("cron expression never fires")
            return _invalid(f"cron field {name!r} has an invalid value {field!r}")
    return _invalid(f"{' '.join(parts)!r} is not a valid cron expression ({message})")


# --------------------------------------------------------------------------- one-shot dates

_ISO = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]+))?)?"
    r"(?P<z>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?",
    re.IGNORECASE,
)
_RFC_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_RFC_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_RFC2822 = re.compile(
    rf"(?:{_RFC_DAY}\s*,\s*)?[0-9]{{1,2}}\s+{_RFC_MONTH}\s+[0-9]{{4}}\s+[0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}})?"
    r"(?:\s+(?P<zone>UT|UTC|GMT|Z|[ECMP][SD]T|[+-][0-9]{4}))?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])")
_JS_COMMENT = re.compile(r"\s*\([^()]*\)\s*$")
# JavaScript reads "GMT+0200" as UTC+2 while dateutil uses POSIX (inverted) signs: rewrite it.
_GMT_OFFSET = re.compile(r"\b(?:GMT|UTC|UT)\s*([+-])([0-9]{1,2})(?::?([0-9]{2}))?\b", re.IGNORECASE)
_ABBREVIATIONS: dict[str, int] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}  # fmt: skip


class _UnknownAbbreviation(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _dateutil_tzinfos(name: str | None, offset: int | None) -> tzinfo | None:
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    if name is None:
        return None
    hours = _ABBREVIATIONS.get(name.upper())
    if hours is None:
        raise _UnknownAbbreviation(name)
    return timezone(timedelta(hours=hours))


def _try_parse_date(text: str, tz: zoneinfo.ZoneInfo, *, quiet: bool) -> datetime | None:
    """Return the UTC instant for a one-shot date, or None if ``text`` is not a date at all.

    Raises ScheduleError (unless ``quiet``) for something that is clearly a date but invalid.
    """
    try:
        parsed = _parse_date(text)
        if parsed is None:
            return None
        return _to_utc_ms(parsed, tz)
    except ScheduleError:
        if quiet:
            return None
        raise
    except (ValueError, OverflowError) as exc:
        if quiet:
            return None
        raise _invalid(f"{text!r} is not a valid date ({exc})") from exc


def _parse_date(text: str) -> datetime | None:
    m = _ISO.fullmatch(text)
    if m is not None:
        return _iso_datetime(m)
    m = _RFC2822.fullmatch(text)
    if m is not None:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None and m.group("zone") is not None:
            parsed = parsed.replace(tzinfo=UTC)  # "-0000": UTC, local offset unknown (RFC 2822 3.3)
        return parsed
    return _dateutil_datetime(text)


def _iso_datetime(m: re.Match[str]) -> datetime:
    fraction = m.group("f") or ""
    microsecond = int((fraction + "000000")[:6])
    zone: tzinfo | None = None
    z = m.group("z")
    if z is not None:
        if z.upper() == "Z":
            zone = UTC
        else:
            hh, mm = int(z[1:3]), int(z[-2:]) if len(z) > 3 else 0
            if hh > 23 or mm > 59:
                raise ValueError(f"UTC offset {z} is out of range")
            delta = timedelta(hours=hh, minutes=mm)
            zone = timezone(-delta if z[0] == "-" else delta)
    return datetime(
        int(m.group("y")),
        int(m.group("mo")),
        int(m.group("d")),
        int(m.group("h") or 0),
        int(m.group("mi") or 0),
        int(m.group("s") or 0),
        microsecond,
        tzinfo=zone,
    )


def _dateutil_datetime(text: str) -> datetime | None:
    # Guard the lenient parser: a 4-digit year and something besides digits must be present,
    # so "5", "tomorrow" or "every tuesday" never become dates.
    if not _YEAR.search(text) or text.isdigit():
        return None
    cleaned = _JS_COMMENT.sub("", text)
    cleaned = _GMT_OFFSET.sub(lambda g: f" {g.group(1)}{int(g.group(2)):02d}{g.group(3) or '00'}", cleaned)
    try:
        first = _dateutil_parser.parse(cleaned, default=datetime(2000, 1, 1), tzinfos=_dateutil_tzinfos)
        second = _dateutil_parser.parse(cleaned, default=datetime(2004, 2, 2), tzinfos=_dateutil_tzinfos)
    except _UnknownAbbreviation as exc:
        raise _invalid(f"{text!r} uses an unknown timezone abbreviation {exc.name!r}") from exc
    except _dateutil_parser.ParserError as exc:
        template = str(exc.args[0]) if exc.args else ""
        if template.startswith(("Unknown string format", "String does not contain a date")):
            return None
        raise _invalid(f"{text!r} is not a valid date ({template.removesuffix(': %s')})") from exc
    except (ValueError, OverflowError, TypeError):
        return None
    if first.date() != second.date():
        raise _invalid(f"{text!r} is not a full date (year, month and day are required)")
    return first


def _to_utc_ms(value: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    utc = value.astimezone(UTC) if value.tzinfo is not None else _localize(value, tz)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _localize(naive: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """Wall time in ``tz`` -> UTC. Ambiguous: first occurrence. Gap: the transition instant."""
    first = naive.replace(tzinfo=tz, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == naive:
        return utc
    # In a gap the two folds map to instants on either side of the transition.
    other = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo_s = math.floor(min(utc, other).timestamp())
    hi_s = math.ceil(max(utc, other).timestamp())
    before = _offset_at(lo_s, tz)
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset_at(mid, tz) == before:
            lo_s = mid
        else:
            hi_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def _offset_at(epoch_s: int, tz: zoneinfo.ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(tz).utcoffset()


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

    zone: tzinfo = UTC if tz.key in _UTC_KEYS else tz
    sim = CronSim(schedule.cron, after_utc.astimezone(zone))
    last = after_utc
    while True:
        try:
            fire = next(sim)
        except StopIteration:
            return
        instant = fire.astimezone(UTC).replace(second=0, microsecond=0)
        # Fixed-time expressions are iterated on naive wall time (cronsim's DST handling), so an
        # `after` in the second fold of a repeated hour, or two slots collapsing onto the end of a
        # gap, can yield instants not later than the previous one: skip them. Progress is
        # guaranteed because wall time strictly increases and cronsim gives up after 50 years.
        if instant <= last:
            continue
        last = instant
        yield instant
