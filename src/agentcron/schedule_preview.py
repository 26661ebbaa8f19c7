"""A schedule's next runs as an operator sees them: instant, local time, and what daylight saving time
does to each run (pure: the caller passes ``after``).

Per run, ``dst`` is:

* ``"gap"`` when the run's nominal local time does not exist that day (clocks spring forward) and the run
  moves to the first instant after the gap, as the DST rule of `agentcron.schedule` says. Schedules whose
  minute or hour field is a wildcard run on real time: their slots inside a gap do not exist, and no run
  is moved, so none of their runs is a ``gap``.
* ``"fold"`` when the run's local wall time occurs twice that day (clocks fall back).
* ``None`` otherwise.

Each DST effect also gets one sentence for ``warnings``, naming the zone, the local date, the nominal time
and what happens.
"""

from __future__ import annotations

import itertools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim

from agentcron.schedule import Schedule, iter_runs, parse_schedule, parse_timezone
from agentcron.schedule_dates import wall_time

_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class PreviewRun:
    run_at: int  #: epoch ms
    local_time: str  #: ISO 8601 with the offset, in the schedule's timezone
    dst: str | None  #: "gap", "fold" or None
    warning: str | None  #: the DST effect in one sentence, when there is one


def preview(
    schedule: str | None, timezone: str | None, after_ms: int, take: int, until_ms: int | None = None
) -> list[PreviewRun]:
    """The first ``take`` runs strictly after ``after_ms`` (and not after ``until_ms``). An empty schedule
    or ``never`` has none; a one-shot date at most one. Raises `ScheduleError` (``Invalid schedule: ...``
    / ``Invalid timezone: ...``) as task create does."""
    tz = parse_timezone(timezone)
    text = (schedule or "").strip()
    if not text:
        return []
    parsed = parse_schedule(text, tz)
    after = datetime.fromtimestamp(after_ms / 1000, UTC)
    runs: Iterator[datetime] = itertools.islice(iter_runs(parsed, tz, after), max(0, take))
    if until_ms is not None:
        until = datetime.fromtimestamp(until_ms / 1000, UTC)
        runs = itertools.takewhile(lambda r: r <= until, runs)
    return [_classify(parsed, tz, run) for run in runs]


def warnings_of(runs: list[PreviewRun]) -> list[str]:
    """One sentence per distinct DST effect among ``runs``, in run order."""
    return list(dict.fromkeys(r.warning for r in runs if r.warning))


def _classify(schedule: Schedule, tz: zoneinfo.ZoneInfo, run: datetime) -> PreviewRun:
    local = run.astimezone(tz)
    iso = local.isoformat(timespec="seconds")
    run_ms = round(run.timestamp() * 1000)
    naive = local.replace(tzinfo=None)
    zone = tz.key or str(tz)
    day = naive.date().isoformat()
    if _occurs_twice(naive, tz):
        which = "first" if local.fold == 0 else "second"
        return PreviewRun(
            run_ms,
            iso,
            "fold",
            f"{naive:%H:%M} occurs twice in {zone} on {day} (clocks go back); "
            f"this run is at the {which} {naive:%H:%M} ({iso})",
        )
    nominal = _moved_from_gap(schedule, tz, run, naive)
    if nominal is not None:
        return PreviewRun(
            run_ms,
            iso,
            "gap",
            f"{nominal:%H:%M} does not exist in {zone} on {day}; that run happens at {naive:%H:%M}",
        )
    return PreviewRun(run_ms, iso, None, None)


def _occurs_twice(naive: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """Whether this wall time names two instants in ``tz`` (a fall-back hour)."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    # both must be real: round trip through UTC to the same wall time (a gap gives two offsets too)
    return all(d.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive for d in (first, second))


def _moved_from_gap(schedule: Schedule, tz: zoneinfo.ZoneInfo, run: datetime, naive: datetime) -> datetime | None:
    """The nominal wall time this run stands for when it was moved out of a spring-forward gap, else None."""
    before = (run - _MS).astimezone(tz)
    after_offset, before_offset = run.astimezone(tz).utcoffset(), before.utcoffset()
    if before_offset is None or after_offset is None or after_offset <= before_offset:
        return None  # the run is not at the instant the clocks jump forward
    gap_start = before.replace(tzinfo=None) + _MS  # first wall time that does not exist
    if schedule.kind == "once":
        wall = wall_time(schedule.source)
        return wall if wall is not None and gap_start <= wall < naive else None
    if schedule.cron is None:
        return None
    minute, hour = schedule.cron.split()[:2]
    if minute.startswith("*") or hour.startswith("*"):
        return None  # real-time schedule: slots in the gap do not exist, none is moved
    # The expression on wall time alone (as if the zone had no DST): its first time in the gap, if any.
    wall_clock = CronSim(schedule.cron, (gap_start - timedelta(minutes=1)).replace(tzinfo=UTC))
    first = next(wall_clock).replace(tzinfo=None)
    return first if gap_start <= first < naive else None


def dst_warnings(schedule: str | None, timezone: str | None, now_ms: int, days: int = 366) -> list[str]:
    """The DST effects on the schedule's runs in the next ``days`` (the warnings task create and update
    answer with). Only the hours around the zone's transitions are looked at, so the cost does not grow
    with how often the schedule runs. Raises `ScheduleError` as `preview` does."""
    tz = parse_timezone(timezone)
    if not (schedule or "").strip():
        return []
    found: list[str] = []
    for jump in _transitions(tz, now_ms, now_ms + days * 86_400_000):
        start = max(now_ms, jump - _AROUND_MS)
        found += warnings_of(preview(schedule, timezone, start - 1, _AROUND_TAKE, jump + _AROUND_MS))
    return list(dict.fromkeys(found))


#: hours looked at on each side of a transition (no zone shifts its clocks by more than two hours)
_AROUND_MS = 3 * 3_600_000
#: runs previewed around a transition: every minute of the window
_AROUND_TAKE = 2 * 3 * 60 + 1


def _transitions(tz: zoneinfo.ZoneInfo, start_ms: int, end_ms: int) -> list[int]:
    """The instants (epoch ms, whole seconds) in ``[start_ms, end_ms)`` at which ``tz`` changes its offset."""

    def offset(ms: int) -> timedelta | None:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).utcoffset()

    out: list[int] = []
    step = 86_400_000
    at, current = start_ms, offset(start_ms)
    while at < end_ms:
        nxt = min(at + step, end_ms)
        if offset(nxt) != current:
            lo, hi = at // 1000, nxt // 1000  # bisect to the second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid * 1000) == current:
                    lo = mid
                else:
                    hi = mid
            out.append(hi * 1000)
            current = offset(nxt)
        at = nxt
    return out
