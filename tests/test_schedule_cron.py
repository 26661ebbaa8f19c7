"""Tests for agentcron.schedule_cron: cron validation messages, fire times, the DST rule.

Driven through agentcron.schedule's public functions. No clock reads, no sleeping.
"""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import datetime, timedelta

import pytest

from agentcron.schedule import ScheduleError, next_run, parse_schedule, upcoming
from agentcron.schedule_cron import fire_times, validate_cron
from tests.cron_oracle import Matcher
from tests.test_schedule import BERLIN, NEW_YORK, SYDNEY, UTC_TZ, at, first, invalid, preview, z, zs

# --------------------------------------------------------------------------- cron: validity


@pytest.mark.parametrize(
    "text",
    ["* * * * *", "0 9 * * 1-5", "*/5 9-17 * * MON-FRI", "0 0 1 JAN *", "0 0 * * 7", "0 0 L * *",
     "0 0 * * 5L", "0 0 * * 1#2", "15,45 */2 1-10/3 */6 *", "0 0 29 2 *", "0 16-16 * * *", "59 23 31 12 *"],
)  # fmt: skip
def test_cron_valid(text: str) -> None:
    s = parse_schedule(text, UTC_TZ)
    assert s.kind == "cron" and s.cron == text and s.at is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0 25 * * *", "cron field 'hour' value 25 is out of range 0-23"),
        ("60 * * * *", "cron field 'minute' value 60 is out of range 0-59"),
        ("0 0 0 * *", "cron field 'day-of-month' value 0 is out of range 1-31"),
        ("0 0 32 * *", "cron field 'day-of-month' value 32 is out of range 1-31"),
        ("0 0 1 13 *", "cron field 'month' value 13 is out of range 1-12"),
        ("0 0 * * 8", "cron field 'day-of-week' value 8 is out of range 0-7"),
        ("0 1-30 * * *", "cron field 'hour' value 30 is out of range 0-23"),
        ("0 5-3 * * *", "cron field 'hour' range 5-3 is reversed"),
        ("*/0 * * * *", "cron field 'minute' step 0 is invalid"),
        ("a b c d e", "cron field 'minute' has an invalid value 'a'"),
        ("0 x * * *", "cron field 'hour' has an invalid value 'x'"),
        ("0 0 * * MON#9", "cron field 'day-of-week' has an invalid value 'MON#9'"),
        ("0 0 ? * *", "cron field 'day-of-month' has an invalid value '?'"),
        ("0 0 1,,2 * *", "cron field 'day-of-month'"),
        ("* * * *", "needs exactly 5 fields"),
        ("0 0 * * * *", "needs exactly 5 fields"),
        ("0 0 0 * * * 2026", "needs exactly 5 fields"),
        ("0 0 30 2 *", "cron expression never fires"),
        ("0 0 31 4,6,9,11 *", "cron expression never fires"),
        ("0 0 */30 2 1#5", "cron expression never fires"),
    ],
)
def test_cron_invalid(text: str, fragment: str) -> None:
    assert fragment in invalid(text)


def test_validate_cron_directly() -> None:
    validate_cron("0 9 * * MON-FRI")
    with pytest.raises(ScheduleError, match="^Invalid schedule: cron expression never fires$"):
        validate_cron("0 0 30 2 *")


# --------------------------------------------------------------------------- cron: fire times


def test_strictly_after() -> None:
    q = "*/15 * * * *"
    assert first(q, UTC_TZ, "2026-05-01T10:00:30+00:00") == "2026-05-01T10:15:00Z"
    assert first(q, UTC_TZ, "2026-05-01T10:15:00+00:00") == "2026-05-01T10:30:00Z"
    assert first(q, UTC_TZ, "2026-05-01T10:14:59.999+00:00") == "2026-05-01T10:15:00Z"
    assert first(q, UTC_TZ, "2026-05-01T10:15:00.001+00:00") == "2026-05-01T10:30:00Z"
    # `after` may be in any zone: 12:15:00+02:00 is 10:15Z.
    assert first(q, UTC_TZ, "2026-05-01T12:15:00+02:00") == "2026-05-01T10:30:00Z"
    assert first(q, NEW_YORK, "2026-05-01T06:15:00-04:00") == "2026-05-01T10:30:00Z"
    # Result is whole minutes in UTC.
    result = next_run(parse_schedule(q, BERLIN), BERLIN, at("2026-05-01T10:00:30.5+00:00"))
    assert result is not None and result.tzinfo is not None
    assert (result.second, result.microsecond) == (0, 0)


def test_same_value_range() -> None:
    # Vixie semantics: 16-16 is just {16}.
    assert preview("0 16-16 * * *", UTC_TZ, "2026-01-01T00:00:00Z", 3) == [
        "2026-01-01T16:00:00Z",
        "2026-01-02T16:00:00Z",
        "2026-01-03T16:00:00Z",
    ]
    assert preview("5-5 * * * *", UTC_TZ, "2026-01-01T00:00:00Z", 2) == [
        "2026-01-01T00:05:00Z",
        "2026-01-01T01:05:00Z",
    ]


def test_dom_dow_or_rule() -> None:
    # Neither field starts with "*": fire on the 13th OR on Fridays.
    # April 2026: Fridays are 3, 10, 17, 24; the 13th is a Monday; May 1 is a Friday.
    assert preview("0 0 13 * 5", UTC_TZ, "2026-04-01T00:00:00Z", 6) == [
        "2026-04-03T00:00:00Z",
        "2026-04-10T00:00:00Z",
        "2026-04-13T00:00:00Z",
        "2026-04-17T00:00:00Z",
        "2026-04-24T00:00:00Z",
        "2026-05-01T00:00:00Z",
    ]


def test_dom_dow_and_rule_when_a_field_starts_with_star() -> None:
    # cronsim (like Debian cron) ANDs the fields when either starts with "*":
    # "*/13" is days {1, 14, 27}, so this fires only on a Friday that is the 1st, 14th or 27th.
    assert preview("0 0 */13 * 5", UTC_TZ, "2026-01-01T00:00:00Z", 4) == [
        "2026-02-27T00:00:00Z",
        "2026-03-27T00:00:00Z",
        "2026-05-01T00:00:00Z",
        "2026-08-14T00:00:00Z",
    ]
    # A plain "*" day-of-week means every day of the month list.
    assert preview("0 0 13 * *", UTC_TZ, "2026-04-01T00:00:00Z", 2) == [
        "2026-04-13T00:00:00Z",
        "2026-05-13T00:00:00Z",
    ]
    # "*" day-of-month with a weekday: just that weekday.
    assert preview("0 0 * * 5", UTC_TZ, "2026-04-01T00:00:00Z", 2) == [
        "2026-04-03T00:00:00Z",
        "2026-04-10T00:00:00Z",
    ]


def test_leap_day() -> None:
    assert preview("0 12 29 2 *", UTC_TZ, "2026-01-01T00:00:00Z", 2) == [
        "2028-02-29T12:00:00Z",
        "2032-02-29T12:00:00Z",
    ]


def test_month_ends() -> None:
    # The 31st skips 30-day months and February.
    assert preview("0 0 31 * *", UTC_TZ, "2026-01-01T00:00:00Z", 7) == [
        "2026-01-31T00:00:00Z",
        "2026-03-31T00:00:00Z",
        "2026-05-31T00:00:00Z",
        "2026-07-31T00:00:00Z",
        "2026-08-31T00:00:00Z",
        "2026-10-31T00:00:00Z",
        "2026-12-31T00:00:00Z",
    ]
    # "L" is the last day of every month.
    assert preview("0 0 L * *", UTC_TZ, "2026-01-01T00:00:00Z", 3) == [
        "2026-01-31T00:00:00Z",
        "2026-02-28T00:00:00Z",
        "2026-03-31T00:00:00Z",
    ]


def test_sunday_is_0_and_7() -> None:
    assert preview("0 0 * * 7", UTC_TZ, "2026-01-07T00:00:00Z", 1) == ["2026-01-11T00:00:00Z"]
    assert preview("0 0 * * SUN", UTC_TZ, "2026-01-07T00:00:00Z", 1) == ["2026-01-11T00:00:00Z"]


def _matches(expr: str, dt: datetime) -> bool:
    """Independent brute-force matcher for numeric lists/ranges/steps with the Vixie day rule."""
    return Matcher(expr)(dt)


@pytest.mark.parametrize(
    "expr",
    [
        "*/7 3-5 * * *",
        "0 0 13 * 5",
        "30 */5 */10 * 1-3",
        "0,30 12 1-7 * 1",
        "10-20/5 1 * 2,3 *",
        "0 6 15 * */2",
    ],
)
def test_matches_brute_force_in_utc(expr: str) -> None:
    start = at("2026-01-01T00:00:00Z")
    expected: list[str | None] = []
    minute = start + timedelta(minutes=1)
    while len(expected) < 12:
        if _matches(expr, minute):
            expected.append(z(minute))
        minute += timedelta(minutes=1)
    assert zs(upcoming(parse_schedule(expr, UTC_TZ), UTC_TZ, start, 12)) == expected


# --------------------------------------------------------------------------- DST
#
# Real transition instants (tzdata):
#   America/New_York  2026-03-08 07:00Z: 02:00 EST (-05) -> 03:00 EDT (-04)   [02:00-02:59 local missing]
#   America/New_York  2026-11-01 06:00Z: 02:00 EDT (-04) -> 01:00 EST (-05)   [01:00-01:59 local twice]
#   Europe/Berlin     2026-03-29 01:00Z: 02:00 CET (+01) -> 03:00 CEST (+02)  [02:00-02:59 local missing]
#   Europe/Berlin     2026-10-25 01:00Z: 03:00 CEST (+02) -> 02:00 CET (+01)  [02:00-02:59 local twice]
#   Australia/Sydney  2026-04-04 16:00Z: 03:00 AEDT (+11) -> 02:00 AEST (+10) [02:00-02:59 local twice]
#   Australia/Sydney  2026-10-03 16:00Z: 02:00 AEST (+10) -> 03:00 AEDT (+11) [02:00-02:59 local missing]


@pytest.mark.parametrize(
    ("tz", "before", "after", "offsets"),
    [
        (NEW_YORK, "2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z", (-5, -4)),
        (NEW_YORK, "2026-11-01T05:59:59Z", "2026-11-01T06:00:00Z", (-4, -5)),
        (BERLIN, "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", (1, 2)),
        (BERLIN, "2026-10-25T00:59:59Z", "2026-10-25T01:00:00Z", (2, 1)),
        (SYDNEY, "2026-04-04T15:59:59Z", "2026-04-04T16:00:00Z", (11, 10)),
        (SYDNEY, "2026-10-03T15:59:59Z", "2026-10-03T16:00:00Z", (10, 11)),
    ],
)
def test_transition_instants_in_comment_are_right(
    tz: zoneinfo.ZoneInfo, before: str, after: str, offsets: tuple[int, int]
) -> None:
    assert at(before).astimezone(tz).utcoffset() == timedelta(hours=offsets[0])
    assert at(after).astimezone(tz).utcoffset() == timedelta(hours=offsets[1])


def test_new_york_spring_forward_fixed_time_fires_at_end_of_gap() -> None:
    # 02:30 does not exist on 2026-03-08: fire at 03:00 EDT = 07:00Z.
    assert preview("30 2 * * *", NEW_YORK, "2026-03-07T00:00:00Z", 3) == [
        "2026-03-07T07:30:00Z",  # 02:30 EST
        "2026-03-08T07:00:00Z",  # gap -> 03:00 EDT
        "2026-03-09T06:30:00Z",  # 02:30 EDT
    ]
    assert first("2:30", NEW_YORK, "2026-03-08T06:59:00Z") == "2026-03-08T07:00:00Z"
    assert first("2:30", NEW_YORK, "2026-03-08T07:00:00Z") == "2026-03-09T06:30:00Z"
    # Two slots inside the gap collapse onto one run.
    assert preview("0,30 2 * * *", NEW_YORK, "2026-03-08T00:00:00Z", 3) == [
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:00:00Z",
        "2026-03-09T06:30:00Z",
    ]


def test_new_york_fall_back_fixed_time_fires_once_at_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01 (05:30Z EDT and 06:30Z EST): fire only at 05:30Z.
    assert preview("30 1 * * *", NEW_YORK, "2026-10-31T00:00:00Z", 3) == [
        "2026-10-31T05:30:00Z",
        "2026-11-01T05:30:00Z",
        "2026-11-02T06:30:00Z",
    ]
    # `after` inside the repeated hour (either fold) never yields the second 01:30.
    assert first("30 1 * * *", NEW_YORK, "2026-11-01T05:45:00Z") == "2026-11-02T06:30:00Z"  # 01:45 EDT
    assert first("30 1 * * *", NEW_YORK, "2026-11-01T06:10:00Z") == "2026-11-02T06:30:00Z"  # 01:10 EST
    assert first("30 1 * * *", NEW_YORK, "2026-11-01T06:30:00Z") == "2026-11-02T06:30:00Z"  # 01:30 EST
    # A fixed time after the repeated hour is unaffected: 02:00 EST = 07:00Z.
    assert first("0 2 * * *", NEW_YORK, "2026-11-01T06:10:00Z") == "2026-11-01T07:00:00Z"
    # Several fixed slots spanning the repeated hour stay increasing, without repeats.
    assert preview("0,30 1,2 * * *", NEW_YORK, "2026-11-01T04:00:00Z", 5) == [
        "2026-11-01T05:00:00Z",  # 01:00 EDT
        "2026-11-01T05:30:00Z",  # 01:30 EDT
        "2026-11-01T07:00:00Z",  # 02:00 EST
        "2026-11-01T07:30:00Z",  # 02:30 EST
        "2026-11-02T06:00:00Z",  # 01:00 EST
    ]
    assert first("0,30 1,2 * * *", NEW_YORK, "2026-11-01T06:10:00Z") == "2026-11-01T07:00:00Z"


def _quarter_ceiling(instant: datetime) -> datetime:
    """Next 15-minute boundary strictly after `instant` (valid for whole-hour offset zones)."""
    base = instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)
    return base + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("tz", "start"),
    [
        (NEW_YORK, "2026-11-01T04:00:00Z"),  # fall back at 06:00Z
        (NEW_YORK, "2026-03-08T05:00:00Z"),  # spring forward at 07:00Z
        (BERLIN, "2026-10-24T23:00:00Z"),  # fall back at 01:00Z
        (BERLIN, "2026-03-28T23:00:00Z"),  # spring forward at 01:00Z
        (SYDNEY, "2026-04-04T14:00:00Z"),  # fall back at 16:00Z
        (SYDNEY, "2026-10-03T14:00:00Z"),  # spring forward at 16:00Z
    ],
)
def test_quarterhourly_runs_every_15_real_minutes_across_transitions(tz: zoneinfo.ZoneInfo, start: str) -> None:
    s = parse_schedule("*/15 * * * *", tz)
    begin = at(start)
    # Chained next_run calls...
    chained: list[datetime] = []
    cursor = begin
    for _ in range(20):
        nxt = next_run(s, tz, cursor)
        assert nxt is not None and nxt > cursor
        chained.append(nxt)
        cursor = nxt
    expected = [begin + timedelta(minutes=15 * (i + 1)) for i in range(20)]
    assert zs(chained) == zs(expected)
    # ...agree with upcoming().
    assert zs(upcoming(s, tz, begin, 20)) == zs(expected)
    # ...and with next_run from every minute (and half-minute) in the window, whatever the fold.
    for minute in range(0, 5 * 60):
        for seconds in (0, 30):
            probe = begin + timedelta(minutes=minute, seconds=seconds)
            assert z(next_run(s, tz, probe)) == z(_quarter_ceiling(probe)), probe


def test_new_york_repeated_hour_has_eight_quarter_hour_runs() -> None:
    runs = upcoming(parse_schedule("*/15 * * * *", NEW_YORK), NEW_YORK, at("2026-11-01T04:59:00Z"), 8)
    assert zs(runs) == [
        "2026-11-01T05:00:00Z", "2026-11-01T05:15:00Z", "2026-11-01T05:30:00Z", "2026-11-01T05:45:00Z",  # EDT
        "2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z", "2026-11-01T06:30:00Z", "2026-11-01T06:45:00Z",  # EST
    ]  # fmt: skip
    assert all(r.astimezone(NEW_YORK).hour == 1 for r in runs)


def test_hourly_fires_in_both_folds_and_skips_the_gap() -> None:
    assert preview("0 * * * *", NEW_YORK, "2026-11-01T04:30:00Z", 3) == [
        "2026-11-01T05:00:00Z",  # 01:00 EDT
        "2026-11-01T06:00:00Z",  # 01:00 EST
        "2026-11-01T07:00:00Z",  # 02:00 EST
    ]
    assert preview("0 * * * *", NEW_YORK, "2026-03-08T05:30:00Z", 3) == [
        "2026-03-08T06:00:00Z",  # 01:00 EST
        "2026-03-08T07:00:00Z",  # 03:00 EDT (02:00 does not exist)
        "2026-03-08T08:00:00Z",  # 04:00 EDT
    ]


def test_berlin_transitions() -> None:
    assert preview("30 2 * * *", BERLIN, "2026-03-28T00:00:00Z", 3) == [
        "2026-03-28T01:30:00Z",  # 02:30 CET
        "2026-03-29T01:00:00Z",  # gap -> 03:00 CEST
        "2026-03-30T00:30:00Z",  # 02:30 CEST
    ]
    assert preview("30 2 * * *", BERLIN, "2026-10-24T00:00:00Z", 3) == [
        "2026-10-24T00:30:00Z",  # 02:30 CEST
        "2026-10-25T00:30:00Z",  # first 02:30 (CEST) only
        "2026-10-26T01:30:00Z",  # 02:30 CET
    ]
    assert first("30 2 * * *", BERLIN, "2026-10-25T01:15:00Z") == "2026-10-26T01:30:00Z"  # after = 02:15 CET


def test_sydney_transitions() -> None:
    # Fall back on 2026-04-05: 02:30 happens at 15:30Z (AEDT) and 16:30Z (AEST); fire at the first.
    assert preview("30 2 * * *", SYDNEY, "2026-04-03T12:00:00Z", 3) == [
        "2026-04-03T15:30:00Z",
        "2026-04-04T15:30:00Z",
        "2026-04-05T16:30:00Z",
    ]
    # Spring forward on 2026-10-04: 02:30 does not exist; fire at 03:00 AEDT = 16:00Z.
    assert preview("30 2 * * *", SYDNEY, "2026-10-02T12:00:00Z", 3) == [
        "2026-10-02T16:30:00Z",
        "2026-10-03T16:00:00Z",
        "2026-10-04T15:30:00Z",
    ]


def test_daily_at_midnight_is_not_affected_by_transitions() -> None:
    assert preview("daily", NEW_YORK, "2026-03-07T00:00:00Z", 3) == [
        "2026-03-07T05:00:00Z",
        "2026-03-08T05:00:00Z",
        "2026-03-09T04:00:00Z",
    ]


@pytest.mark.parametrize("key", ["UTC", "Etc/UTC", "Zulu", "Etc/GMT"])
def test_fire_times_in_utc_zones(key: str) -> None:
    # The UTC aliases take a shortcut ("Etc/GMT" does not); all give the same instants.
    runs = fire_times("30 1 * * *", zoneinfo.ZoneInfo(key), at("2026-03-28T01:30:00Z"))
    assert zs(list(itertools.islice(runs, 3))) == [
        "2026-03-29T01:30:00Z",
        "2026-03-30T01:30:00Z",
        "2026-03-31T01:30:00Z",
    ]
