"""Property tests (hypothesis) for schedule parsing and fire times: agentcron.schedule, .schedule_cron,
.schedule_dates and .slots.

* Any text, in any timezone, parses to a `Schedule` or raises `ScheduleError` (nothing else), and so does
  evaluating what parsed, for any ``after`` a task can have (epoch 0 to the end of year 9999).
* Runs are strictly after ``after`` and strictly increasing; cron runs are whole minutes; ``next_run`` is
  the first of ``iter_runs``, chaining ``next_run`` gives the same runs, and the epoch-ms helpers of
  `agentcron.slots` agree with the datetime API.
* Plain 5-field crons agree with `cronsim` run directly: in UTC everywhere, in any zone up to the first run
  a daylight-saving transition touches (there the project's DST rule applies; it is checked separately
  against a brute-force minute-by-minute oracle of the rule documented in `agentcron.schedule`).

Seeded (``derandomize=True``) and bounded so the module runs in a few seconds. No clock reads.
"""

from __future__ import annotations

import functools
import itertools
import string
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from agentcron.schedule import (
    CRON_NICKNAMES,
    NAMED_INTERVALS,
    Schedule,
    ScheduleError,
    iter_runs,
    next_run,
    parse_schedule,
    parse_timezone,
    upcoming,
)
from agentcron.slots import compile_schedule, next_slot, slots_between
from tests.cron_oracle import Matcher

SETTINGS: dict[str, Any] = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
# The largest instant the API accepts for a millisecond field (`after`, `until`, ...): 9999-12-31T23:59:59.999Z.
MAX_MS = 253_402_300_799_999
ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "posixrules"})
# Zones with daylight saving time of every shape: 1 h gaps and folds on either hemisphere, 30 min
# (Lord Howe), midnight transitions (Havana, Santiago, Asuncion), negative DST (Dublin), a day skipped
# (Apia 2011), odd offsets (Chatham +12:45/+13:45, Kathmandu), Ramadan switches (Casablanca).
DST_ZONES = [
    "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "America/Havana",
    "America/Santiago", "America/Asuncion", "Europe/Dublin", "Pacific/Apia", "Pacific/Chatham",
    "Africa/Casablanca", "America/Nuuk", "Asia/Gaza", "America/St_Johns", "Europe/London",
]  # fmt: skip
FEW_ZONES = ["UTC", "Etc/UTC", "Etc/GMT", "Etc/GMT-14", "Asia/Kolkata", "Asia/Kathmandu", *DST_ZONES]


def ms_of(dt: datetime) -> int:
    return (dt - EPOCH) // MS


def dt_of(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


# --------------------------------------------------------------------------- strategies

# Integers around every field's bounds (0-7, 1-12, 0-23, 1-31, 0-59), a few far beyond, with leading zeros.
_NUM = st.one_of(
    st.integers(0, 61).map(str),
    st.sampled_from(["00", "07", "007", "99", "100", "-1", "4294967296", "99999999999999999999"]),
)
_NAMES = st.sampled_from(
    ["MON", "tue", "Sun", "SAT", "JAN", "feb", "Dec", "FOO", "L", "LW", "W", "?", "mon-fri", "JAN-MAR", "Mon-Sun"]
)


@st.composite
def _cron_atom(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    n, m = draw(_NUM), draw(_NUM)
    if kind == 0:
        return "*"
    if kind == 1:
        return n
    if kind == 2:
        return f"{n}-{m}"
    if kind == 3:
        return f"*/{m}"
    if kind == 4:
        return f"{n}-{draw(_NUM)}/{m}"
    if kind == 5:
        return f"{n}/{m}"
    if kind == 6:
        return draw(_NAMES)
    if kind == 7:
        return f"{n}{draw(st.sampled_from(['L', 'W', 'LW', '#1', '#5', '#6', '#', 'L-2']))}"
    if kind == 8:
        return f"{draw(_NAMES)}#{m}"
    return draw(st.text(alphabet="0123456789*/-,#?LW ", min_size=0, max_size=4))


_cron_field = st.lists(_cron_atom(), min_size=1, max_size=3).map(",".join)
_space = st.sampled_from([" ", "  ", "\t", " \n ", "\u00a0", "\u2003"])


@st.composite
def near_crons(draw: st.DrawFn) -> str:
    """Cron-looking text: mostly 5 fields of numbers, ranges, steps, names and cronsim's extensions."""
    fields = draw(st.lists(_cron_field, min_size=3, max_size=7))
    if draw(st.integers(0, 3)):
        fields = (fields + ["*"] * 5)[:5]
    seps = [draw(_space) if draw(st.integers(0, 4)) == 0 else " " for _ in fields]
    return "".join(f + s for f, s in zip(fields, seps, strict=True)).rstrip(" ") + draw(st.sampled_from(["", " "]))


_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=3)


@st.composite
def near_hhmm(draw: st.DrawFn) -> str:
    h = draw(st.one_of(st.integers(0, 30).map(str), st.integers(0, 9).map(lambda i: f"0{i}"), _DIGITS))
    m = draw(st.one_of(st.integers(0, 70).map(lambda i: f"{i:02d}"), _DIGITS))
    return f"{h}{draw(st.sampled_from([':', ':', '.', '::', ' : ']))}{m}"


_ZONE_SUFFIX = st.sampled_from(
    ["", "", "Z", "z", "+02:00", "-05:30", "+0530", "+01", "-00:00", "+24:00", "+23:59", "-12:60", "+14:00",
     " GMT", " UTC", " EST", " PDT", " XYZ", " GMT+0200", " GMT-05:00 (Eastern Standard Time)", " (CET)"]
)  # fmt: skip
_MONTHS = ["January", "Feb", "MAR", "apr", "May", "June", "Jul", "Aug", "Sept", "Oct", "Nov", "December", "Foo"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Monday", "Xyz"]


@st.composite
def near_dates(draw: st.DrawFn) -> str:
    """Date-looking text: ISO 8601, RFC 2822 and JavaScript-``Date`` forms with components in and around range."""
    year = draw(st.one_of(st.integers(1970, 2100), st.integers(0, 10_000), st.sampled_from([1, 9999, 10_000])))
    y = f"{year:04d}"
    mo, d = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    h, mi, s = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    frac = draw(st.sampled_from(["", ".0", ".123", ",5", ".123456789", ".9999"]))
    zone = draw(_ZONE_SUFFIX)
    form = draw(st.integers(0, 7))
    if form == 0:
        return f"{y}-{mo:02d}-{d:02d}"
    if form == 1:
        sep = draw(st.sampled_from(["T", " ", "t"]))
        return f"{y}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}{draw(st.sampled_from(['', f':{s:02d}']))}{frac}{zone}"
    month = draw(st.sampled_from(_MONTHS))
    if form == 2:
        return f"{draw(st.sampled_from(_DAYS))}, {d} {month[:3]} {y} {h:02d}:{mi:02d}:{s:02d}{zone}"
    if form == 3:
        return f"{month} {d}, {y} {h:02d}:{mi:02d}:{s:02d}{zone}"
    if form == 4:
        return f"{mo}/{d}/{y} {h}:{mi:02d} {draw(st.sampled_from(['', 'AM', 'PM', 'pm']))}".strip()
    if form == 5:
        return f"{draw(st.sampled_from(_DAYS))} {month[:3]} {d} {y} {h:02d}:{mi:02d}:{s:02d}{zone}"
    if form == 6:
        return f"{y}/{mo}/{d}{draw(st.sampled_from(['', f' {h}:{mi:02d}']))}{zone}"
    return " ".join(draw(st.permutations([y, month, str(d), f"{h}:{mi:02d}"]))[: draw(st.integers(1, 4))])


_named = st.sampled_from(
    [*NAMED_INTERVALS, *CRON_NICKNAMES, "never", "@reboot", "@every", "@", "Hourly", "NEVER", "daily ", "  weekly\n"]
)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """``base`` text with a character inserted, deleted or replaced."""
    text = draw(base)
    i = draw(st.integers(0, len(text)))
    ch = draw(st.one_of(st.sampled_from(list(string.printable)), st.characters()))
    op = draw(st.integers(0, 2))
    if op == 0:
        return text[:i] + ch + text[i:]
    if op == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + ch + text[i + 1 :]


near_valid = st.one_of(near_crons(), near_hhmm(), near_dates(), _named)
schedule_texts = st.one_of(near_valid, mutated(near_valid))
zone_names = st.one_of(st.sampled_from(ZONES), st.sampled_from(FEW_ZONES))
timezone_texts = st.one_of(zone_names, st.none(), st.just(""), st.text(max_size=12), mutated(zone_names))

# `after` as the API gives it: epoch ms from 0 to the end of 9999, with weight on the present and the edges.
after_ms = st.one_of(
    st.integers(ms_of(datetime(2000, 1, 1, tzinfo=UTC)), ms_of(datetime(2100, 1, 1, tzinfo=UTC))),
    st.integers(0, MAX_MS),
    st.integers(MAX_MS - 400 * 86_400_000, MAX_MS),
    st.integers(0, 2 * 86_400_000),
)


# --------------------------------------------------------------------------- helpers


def check_runs(schedule: Schedule, after: datetime, runs: list[datetime]) -> None:
    """Runs are aware UTC, strictly after ``after``, strictly increasing; cron runs whole minutes."""
    previous = after
    for run in runs:
        assert run.utcoffset() == timedelta(0)
        assert run > previous, (schedule, after, runs)
        previous = run
        if schedule.kind == "cron":
            assert run.second == 0 and run.microsecond == 0, run
        else:
            assert run.microsecond % 1000 == 0, run


def evaluate(text: str, tz_name: str | None, after: int) -> None:
    """Everything the service does with a schedule, asserting only `ScheduleError` escapes."""
    try:
        tz = parse_timezone(tz_name)
    except ScheduleError as e:
        assert str(e).startswith("Invalid timezone: ")
        tz = parse_timezone("UTC")
    try:
        schedule = parse_schedule(text, tz)
    except ScheduleError as e:
        assert str(e).startswith("Invalid schedule: "), str(e)
        return
    assert schedule.kind in ("never", "cron", "once")
    assert (schedule.cron is not None) == (schedule.kind == "cron")
    assert (schedule.at is not None) == (schedule.kind == "once")
    start = dt_of(after)
    runs = upcoming(schedule, tz, start, 4)
    check_runs(schedule, start, runs)
    assert next_run(schedule, tz, start) == (runs[0] if runs else None)
    # the epoch-ms view the scheduler uses
    nxt = next_slot(text, tz.key, after)
    assert nxt == (ms_of(runs[0]) if runs else None)
    if runs and schedule.kind == "once":
        assert next_slot(text, tz.key, ms_of(runs[0]) - 1) == ms_of(runs[0])
        assert next_slot(text, tz.key, ms_of(runs[0])) is None


# --------------------------------------------------------------------------- only ScheduleError escapes


@settings(max_examples=400, **SETTINGS)
@given(text=st.text(max_size=40), tz_name=timezone_texts, after=after_ms)
def test_any_text_parses_or_raises_schedule_error(text: str, tz_name: str | None, after: int) -> None:
    evaluate(text, tz_name, after)


@settings(max_examples=800, **SETTINGS)
@given(text=schedule_texts, tz_name=timezone_texts, after=after_ms)
# found by this test: cronsim's search ran past year 9999 (OverflowError, a 500 from schedule/preview)
@example(text="@yearly", tz_name=None, after=253_276_070_400_000)
@example(text="30 2 * * *", tz_name="Pacific/Kiritimati", after=MAX_MS)
def test_near_valid_text_parses_or_raises_schedule_error(text: str, tz_name: str | None, after: int) -> None:
    evaluate(text, tz_name, after)


@settings(max_examples=200, **SETTINGS)
@given(text=st.one_of(st.text(max_size=20), schedule_texts), tz_name=timezone_texts)
def test_compile_schedule_raises_only_schedule_error(text: str, tz_name: str | None) -> None:
    try:
        compiled = compile_schedule(text, tz_name)
    except ScheduleError:
        return
    assert (compiled is None) == (text == "")


# --------------------------------------------------------------------------- runs: strictly after, increasing

_DOW_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


@st.composite
def _valid_field(draw: st.DrawFn, lo: int, hi: int, names: list[str] | None = None, extra: tuple[str, ...] = ()) -> str:
    """A valid cron field: ``*``, ``*/n``, or a list of values, ranges and stepped ranges (names for some)."""

    def value(v: int) -> str:
        if names and draw(st.integers(0, 3)) == 0:
            return names[v - lo] if v - lo < len(names) else str(v)
        return str(v)

    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["*", f"*/{draw(st.integers(1, hi - lo + 1))}"]))
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(a, hi))
        kind = draw(st.integers(0, 4 if not extra else 5))
        if kind <= 1:
            terms.append(value(a))
        elif kind == 2:
            terms.append(f"{value(a)}-{value(b)}")
        elif kind == 3:
            terms.append(f"{value(a)}-{value(b)}/{draw(st.integers(1, hi - lo + 1))}")
        elif kind == 4:
            terms.append(f"{a}/{draw(st.integers(1, hi - lo + 1))}")
        else:
            terms.append(draw(st.sampled_from(extra)))
    return ",".join(terms)


@st.composite
def _valid_cron_text(draw: st.DrawFn) -> str:
    return " ".join(
        [
            draw(_valid_field(0, 59)),
            draw(_valid_field(0, 23)),
            draw(_valid_field(1, 31, extra=("L", "LW", "15W"))),
            draw(_valid_field(1, 12, _MONTH_NAMES)),
            draw(_valid_field(0, 7, _DOW_NAMES, extra=("5L", "1#2", "MON#5", "0#1", "SUNL"))),
        ]
    )


def _parses(text: str) -> bool:
    try:
        return parse_schedule(text, zoneinfo.ZoneInfo("UTC")).kind == "cron"
    except ScheduleError:
        return False


# mostly valid by construction; the filter drops the rare day/month combination that never fires
valid_crons = _valid_cron_text().filter(_parses)


# From 1972 on: before that Africa/Monrovia's offset (-0:44:30) was not whole minutes; cron runs, whole UTC
# minutes by contract, fall 30 s before the local minute there (local 00:00 runs at 23:59:30), and from an
# `after` in those 30 s the day's run is skipped (issue #15: reported, not fixed, no clock is that early).
modern = st.datetimes(min_value=datetime(1972, 2, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


@settings(max_examples=200, **SETTINGS)
@given(
    text=st.one_of(
        valid_crons,
        st.sampled_from([*NAMED_INTERVALS, *CRON_NICKNAMES]),
        st.builds("{}:{:02d}".format, st.integers(0, 23), st.integers(0, 59)),
    ),
    tz_name=zone_names,
    after=modern,
)
def test_runs_are_strictly_after_and_increasing(text: str, tz_name: str, after: datetime) -> None:
    tz = parse_timezone(tz_name)
    try:
        schedule = parse_schedule(text, tz)
    except ScheduleError:
        assume(False)
        raise
    runs = list(itertools.islice(iter_runs(schedule, tz, after), 30))
    check_runs(schedule, after, runs)
    # next_run is the first run, and chaining it walks the same runs
    cursor, chained = after, []
    for _ in range(len(runs)):
        nxt = next_run(schedule, tz, cursor)
        assert nxt is not None
        chained.append(nxt)
        cursor = nxt
    assert chained == runs
    # asking from any instant between two runs gives the later one (no run skipped, none invented)
    for lo, hi in itertools.pairwise([after, *runs[:10]]):
        mid = lo + (hi - lo) / 2
        assert next_run(schedule, tz, mid) == hi, (text, tz_name, lo, mid, hi)
    # the epoch-ms helpers agree
    if runs:
        after_ms_ = ms_of(after)
        assert slots_between(text, tz_name, after_ms_, ms_of(runs[-1]), 100) == [ms_of(r) for r in runs]


@settings(max_examples=300, **SETTINGS)
@given(
    when=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    tz_name=zone_names,
    form=st.sampled_from(["%Y-%m-%dT%H:%M:%S.{ms}Z", "%Y-%m-%dT%H:%M:%S.{ms}+00:00"]),
)
# found by this test: slots went through float seconds and were 1 ms off (next_slot(at - 1) gave at - 1)
@example(when=datetime(2039, 3, 8, 19, 46, 13, 411_000, tzinfo=UTC), tz_name="UTC", form="%Y-%m-%dT%H:%M:%S.{ms}Z")
@example(when=datetime(2249, 1, 1, 0, 0, 0, 64_000, tzinfo=UTC), tz_name="UTC", form="%Y-%m-%dT%H:%M:%S.{ms}Z")
def test_one_shot_runs_once_at_its_millisecond(when: datetime, tz_name: str, form: str) -> None:
    text = when.strftime(form).format(ms=f"{when.microsecond // 1000:03d}")
    if when.year < 1000:
        text = f"{when.year:04d}" + text[text.index("-") :]
    tz = parse_timezone(tz_name)
    schedule = parse_schedule(text, tz)
    at = when.replace(microsecond=when.microsecond // 1000 * 1000)
    assert schedule.kind == "once" and schedule.at == at
    assert upcoming(schedule, tz, at - MS, 3) == [at]
    assert next_run(schedule, tz, at) is None
    at_ms = ms_of(at)
    assert next_slot(text, tz_name, at_ms - 1) == at_ms
    assert next_slot(text, tz_name, at_ms) is None
    assert slots_between(text, tz_name, at_ms - 1, at_ms, 5) == [at_ms]


# --------------------------------------------------------------------------- agreement with cronsim


@settings(max_examples=300, **SETTINGS)
@given(
    text=valid_crons,
    after=st.datetimes(min_value=datetime(1972, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    key=st.sampled_from(["UTC", "Etc/UTC", "Zulu", "Etc/GMT", "Etc/GMT+0"]),
)
def test_agrees_with_cronsim_in_utc(text: str, after: datetime, key: str) -> None:
    tz = zoneinfo.ZoneInfo(key)
    schedule = parse_schedule(text, tz)
    assert schedule.cron is not None
    expected = list(itertools.islice(CronSim(schedule.cron, after), 12))
    assert upcoming(schedule, tz, after, 12) == expected


def _transition_free(naive: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """Whether a local wall time exists once in ``tz`` (neither in a gap nor in a repeated hour)."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    return (
        first.utcoffset() == second.utcoffset() and first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
    )


@settings(max_examples=300, **SETTINGS)
@given(
    text=valid_crons,
    tz_name=st.one_of(st.sampled_from(FEW_ZONES), st.sampled_from(ZONES)),
    after=st.datetimes(min_value=datetime(1972, 2, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
)
def test_agrees_with_cronsim_in_any_zone_away_from_transitions(text: str, tz_name: str, after: datetime) -> None:
    """cronsim on local wall time (no zone: no DST handling at all), mapped to UTC, gives the project's runs up to
    the first one whose wall time a DST transition makes missing or repeated (the DST rule decides those)."""
    tz = zoneinfo.ZoneInfo(tz_name)
    local = after.astimezone(tz)
    assume(_transition_free(local.replace(tzinfo=None), tz))
    schedule = parse_schedule(text, tz)
    assert schedule.cron is not None
    expected: list[datetime] = []
    for wall in itertools.islice(CronSim(schedule.cron, local.replace(tzinfo=None)), 12):
        if not _transition_free(wall, tz):
            break
        expected.append(wall.replace(tzinfo=tz).astimezone(UTC))
    assert upcoming(schedule, tz, after, len(expected)) == expected


# --------------------------------------------------------------------------- the DST rule, brute force


def _minutes(start: datetime, end: datetime) -> Iterator[datetime]:
    t = start.replace(second=0, microsecond=0)
    while t <= end:
        yield t
        t += timedelta(minutes=1)


def _wall(instant: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _resolve(wall: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The documented rule for a fixed local time: its first occurrence; in a gap, the first instant after it
    (the first UTC minute whose wall time is not earlier than ``wall``)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        return first
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    for t in _minutes(min(first, before), max(first, before)):
        if _wall(t, tz) >= wall:
            return t
    raise AssertionError("no end of gap found")  # pragma: no cover


def oracle(expr: str, tz: zoneinfo.ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Every run in ``(after, until]`` by the rule documented in `agentcron.schedule`, minute by minute."""
    match = Matcher(expr)
    if match.real_time:
        # real elapsed time: every UTC minute whose wall time matches (both folds; gap minutes do not exist)
        return [t for t in _minutes(after + timedelta(minutes=1), until) if t > after and match(_wall(t, tz))]
    day = timedelta(days=1)
    walls = _minutes(_wall(after, tz) - 2 * day, _wall(until, tz) + 2 * day)
    runs = {_resolve(w, tz) for w in walls if match(w)}
    return sorted(r for r in runs if after < r <= until)


@functools.cache
def transitions(key: str) -> list[datetime]:
    """The zone's UTC offset changes between 2000 and 2040, to the minute."""
    tz = zoneinfo.ZoneInfo(key)
    out: list[datetime] = []
    t, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    while t < end:
        if t.astimezone(tz).utcoffset() != (t + step).astimezone(tz).utcoffset():
            lo, hi = t, t + step  # offset(lo) != offset(hi): bisect to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
        t += step
    return out


@st.composite
def numeric_crons(draw: st.DrawFn) -> str:
    """Numeric crons dense enough to run several times in a few days, fixed-time and real-time alike."""

    def field(lo: int, hi: int, star: int) -> str:
        terms = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.integers(0, 4 + star))
            a = draw(st.integers(lo, hi))
            b = draw(st.integers(a, hi))
            step = draw(st.integers(1, max(1, (hi - lo) // 2)))
            if kind == 0:
                terms.append(str(a))
            elif kind == 1:
                terms.append(f"{a}-{b}")
            elif kind == 2:
                terms.append(f"{a}-{b}/{step}")
            elif kind == 3:
                terms.append(f"{a}/{step}")
            elif kind == 4:
                terms.append(f"{a},{b}")
            else:
                terms.append("*" if draw(st.booleans()) else f"*/{step}")
                break
        return ",".join(terms) if not terms[-1].startswith("*") else terms[-1]

    minute = field(0, 59, 1)
    hour = field(0, 23, 2)
    dom = draw(st.sampled_from(["*", "*", "*", "1-15", "*/2", "1,10,20,28-31"]))
    dow = draw(st.sampled_from(["*", "*", "*", "1-5", "0,6", "*/2", "7"]))
    return f"{minute} {hour} {dom} * {dow}"


@settings(max_examples=120, **SETTINGS)
@given(
    expr=numeric_crons(),
    key=st.sampled_from(DST_ZONES),
    pick=st.integers(0, 10_000),
    shift=st.integers(-36 * 60, 12 * 60),
    seconds=st.integers(0, 59),
)
def test_dst_rule_matches_a_brute_force_oracle(expr: str, key: str, pick: int, shift: int, seconds: int) -> None:
    tz = zoneinfo.ZoneInfo(key)
    edges = transitions(key)
    after = edges[pick % len(edges)] + timedelta(minutes=shift, seconds=seconds)
    until = after + timedelta(days=2)
    schedule = parse_schedule(expr, tz)
    got = list(itertools.takewhile(lambda r: r <= until, iter_runs(schedule, tz, after)))
    assert got == oracle(expr, tz, after, until), (expr, key, after)


# --------------------------------------------------------------------------- the epoch-ms helpers


@settings(max_examples=200, **SETTINGS)
@given(
    text=st.one_of(valid_crons, st.sampled_from([*NAMED_INTERVALS, "never"])),
    tz_name=st.sampled_from(FEW_ZONES),
    after=st.integers(ms_of(datetime(1972, 2, 1, tzinfo=UTC)), ms_of(datetime(2200, 1, 1, tzinfo=UTC))),
    span=st.integers(0, 40 * 86_400_000),
)
def test_slots_between_is_chained_next_slot(text: str, tz_name: str, after: int, span: int) -> None:
    slots = slots_between(text, tz_name, after, after + span, 50)
    assert all(after < s <= after + span for s in slots)
    assert slots == sorted(set(slots))
    tz = parse_timezone(tz_name)
    runs = [ms_of(r) for r in upcoming(parse_schedule(text, tz), tz, dt_of(after), 50)]
    assert slots == [r for r in runs if r <= after + span]
