"""One-shot schedule dates: text -> UTC instant (pure: no clock reads, no I/O).

Accepted: ISO 8601, RFC 2822 and other JavaScript-``Date``-style forms with a 4-digit year and a
full date (parsed with python-dateutil). A date without an offset is wall time in the task's
timezone, resolved under the daylight-saving rule :mod:`agentcron.schedule` documents (gap -> the
transition instant, ambiguous -> the first occurrence); a date without a time is midnight. The
instant is truncated to milliseconds.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

from dateutil import parser as _dateutil_parser

from agentcron.schedule_errors import ScheduleError, invalid

__all__ = ["parse_date"]

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


def parse_date(text: str, tz: zoneinfo.ZoneInfo, *, quiet: bool) -> datetime | None:
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
        raise invalid(f"{text!r} is not a valid date ({exc})") from exc


def wall_time(text: str) -> datetime | None:
    """The local wall time a one-shot date names when it has no offset (read in the task's timezone),
    else None (it names an instant, or is not a date)."""
    try:
        parsed = _parse_date(text)
    except (ScheduleError, ValueError, OverflowError, _UnknownAbbreviation):
        return None
    return parsed if parsed is not None and parsed.tzinfo is None else None


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
        raise invalid(f"{text!r} uses an unknown timezone abbreviation {exc.name!r}") from exc
    except _dateutil_parser.ParserError as exc:
        template = str(exc.args[0]) if exc.args else ""
        if template.startswith(("Unknown string format", "String does not contain a date")):
            return None
        raise invalid(f"{text!r} is not a valid date ({template.removesuffix(': %s')})") from exc
    except (ValueError, OverflowError, TypeError):
        return None
    if first.date() != second.date():
        raise invalid(f"{text!r} is not a full date (year, month and day are required)")
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
