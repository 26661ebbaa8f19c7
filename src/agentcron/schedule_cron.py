"""5-field cron expressions: validation with friendly messages, and fire times (pure: no clock reads).

Expressions are evaluated with :mod:`cronsim` (Vixie/Debian semantics); :mod:`agentcron.schedule`
documents the accepted forms and the daylight-saving rule, which is cronsim's.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

from cronsim import CronSim, CronSimError

from agentcron.schedule_errors import ScheduleError, invalid

__all__ = ["fire_times", "validate_cron"]

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
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu"})


# --------------------------------------------------------------------------- validation


def validate_cron(expr: str) -> None:
    """Check a whitespace-normalised 5-field expression.

    Raises:
        ScheduleError: ``"Invalid schedule: ..."`` naming the bad field and value, or saying the
            expression never fires.
    """
    parts = expr.split()
    _check_ranges(parts)
    try:
        it = CronSim(expr, _REFERENCE)
    except CronSimError as exc:
        raise _cronsim_error(parts, exc) from exc
    except (ValueError, IndexError, AssertionError, TypeError) as exc:  # defensive: cronsim internals
        raise invalid(f"{expr!r} is not a valid cron expression") from exc
    try:
        next(it)
    except StopIteration as exc:
        raise invalid("cron expression never fires") from exc


def _check_ranges(parts: list[str]) -> None:
    """Friendly messages for numeric values cronsim would reject with a terse 'Bad <field>'."""
    for (name, lo, hi), field in zip(_CRON_FIELDS, parts, strict=True):
        for term in field.split(","):
            base, _, step = term.partition("/")
            if _NUMBER.fullmatch(step) and int(step) == 0:
                raise invalid(f"cron field {name!r} step 0 is invalid (must be at least 1)")
            if name == "day-of-week":
                base = base.partition("#")[0]
                if base.endswith("L"):
                    base = base[:-1]
            pieces = base.split("-")
            for piece in pieces:
                if _NUMBER.fullmatch(piece):
                    value = int(piece)
                    if not lo <= value <= hi:
                        raise invalid(f"cron field {name!r} value {value} is out of range {lo}-{hi}")
            if len(pieces) == 2 and all(_NUMBER.fullmatch(p) for p in pieces):
                start, end = int(pieces[0]), int(pieces[1])
                if end < start:
                    raise invalid(f"cron field {name!r} range {start}-{end} is reversed (ranges do not wrap around)")


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
                    return invalid("cron expression never fires")
            return invalid(f"cron field {name!r} has an invalid value {field!r}")
    return invalid(f"{' '.join(parts)!r} is not a valid cron expression ({message})")


# --------------------------------------------------------------------------- fire times


def fire_times(expr: str, tz: zoneinfo.ZoneInfo, after_utc: datetime) -> Iterator[datetime]:
    """Yield the fire instants of ``expr`` in ``tz`` strictly after the aware UTC ``after_utc``.

    Instants are aware UTC, whole minutes, strictly increasing; the iteration ends when cronsim
    finds nothing within its 50-year search window, or at the end of year 9999 (`datetime.max`).
    """
    # cronsim skips its wall-time DST handling only for datetime.UTC itself; the UTC aliases have
    # no transitions, so they are evaluated as datetime.UTC.
    zone: tzinfo = UTC if tz.key in _UTC_KEYS else tz
    last = after_utc
    try:
        sim = CronSim(expr, after_utc.astimezone(zone))
    except OverflowError:  # `after` is a local time past year 9999: nothing fires later
        return
    while True:
        try:
            fire = next(sim)
            instant = fire.astimezone(UTC).replace(second=0, microsecond=0)
        except (StopIteration, OverflowError):  # OverflowError: the search ran past year 9999
            return
        # Fixed-time expressions are iterated on naive wall time (cronsim's DST handling), so an
        # `after` in the second fold of a repeated hour, or two slots collapsing onto the end of a
        # gap, can yield instants not later than the previous one: skip them. Progress is
        # guaranteed because wall time strictly increases and cronsim gives up after 50 years.
        if instant <= last:
            continue
        last = instant
        yield instant
