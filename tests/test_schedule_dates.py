"""Tests for agentcron.schedule_dates: one-shot date forms, local dates under the DST rule, invalid dates.

Driven through agentcron.schedule.parse_schedule. No clock reads, no sleeping.
"""

from __future__ import annotations

import zoneinfo

import pytest

from agentcron.schedule import ScheduleError, parse_schedule
from agentcron.schedule_dates import parse_date
from tests.test_schedule import BERLIN, NEW_YORK, TOKYO, UTC_TZ, invalid, z

# --------------------------------------------------------------------------- one-shot dates


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        # ISO 8601
        ("2025-12-25T10:00:00.000Z", UTC_TZ, "2025-12-25T10:00:00Z"),
        ("2025-12-25T10:00:00.000Z", NEW_YORK, "2025-12-25T10:00:00Z"),
        ("2025-12-25T10:00", UTC_TZ, "2025-12-25T10:00:00Z"),
        ("2025-12-25T10:00", NEW_YORK, "2025-12-25T15:00:00Z"),
        ("2025-12-25T10:00:00", BERLIN, "2025-12-25T09:00:00Z"),
        ("2025-12-25 10:00:00+02:00", UTC_TZ, "2025-12-25T08:00:00Z"),
        ("2025-12-25 10:00:00+02:00", NEW_YORK, "2025-12-25T08:00:00Z"),
        ("2025-12-25T10:00:00-0530", UTC_TZ, "2025-12-25T15:30:00Z"),
        ("2025-12-25T10:00+01", TOKYO, "2025-12-25T09:00:00Z"),
        ("2025-12-25t10:00z", NEW_YORK, "2025-12-25T10:00:00Z"),
        ("2025-12-25T10:00:00.123456Z", UTC_TZ, "2025-12-25T10:00:00.123Z"),
        ("2025-12-25T10:00:00.9999Z", UTC_TZ, "2025-12-25T10:00:00.999Z"),
        # date only: midnight in the task's timezone
        ("2025-12-25", UTC_TZ, "2025-12-25T00:00:00Z"),
        ("2025-12-25", NEW_YORK, "2025-12-25T05:00:00Z"),
        ("2025-12-25", TOKYO, "2025-12-24T15:00:00Z"),
        # RFC 2822
        ("Wed, 25 Dec 2025 10:00:00 GMT", NEW_YORK, "2025-12-25T10:00:00Z"),
        ("Thu, 25 Dec 2025 10:00:00 +0200", UTC_TZ, "2025-12-25T08:00:00Z"),
        ("25 Dec 2025 10:00 EST", UTC_TZ, "2025-12-25T15:00:00Z"),
        ("Thu, 25 Dec 2025 10:00:00 -0000", NEW_YORK, "2025-12-25T10:00:00Z"),
        ("Thu, 25 Dec 2025 10:00:00", NEW_YORK, "2025-12-25T15:00:00Z"),
        # other JavaScript-Date-style forms
        ("December 25, 2025 10:00:00", UTC_TZ, "2025-12-25T10:00:00Z"),
        ("December 25, 2025 10:00:00", NEW_YORK, "2025-12-25T15:00:00Z"),
        ("December 25, 2025", BERLIN, "2025-12-24T23:00:00Z"),
        ("Dec 25, 2025 10:00 PM", UTC_TZ, "2025-12-25T22:00:00Z"),
        ("12/25/2025 10:00", UTC_TZ, "2025-12-25T10:00:00Z"),
        ("2025/12/25 10:00:00 UTC", NEW_YORK, "2025-12-25T10:00:00Z"),
        (
            "Thu Dec 25 2025 10:00:00 GMT+0200 (Eastern European Standard Time)",
            NEW_YORK,
            "2025-12-25T08:00:00Z",
        ),
        ("Thu Dec 25 2025 10:00:00 GMT-0500", UTC_TZ, "2025-12-25T15:00:00Z"),
        ("December 25, 2025 10:00:00 PST", UTC_TZ, "2025-12-25T18:00:00Z"),
    ],
)
def test_one_shot_formats(text: str, tz: zoneinfo.ZoneInfo, expected: str) -> None:
    s = parse_schedule(text, tz)
    assert s.kind == "once" and s.source == text and s.cron is None
    assert z(s.at) == expected


def test_one_shot_local_dates_follow_the_dst_rule() -> None:
    # Gap: 02:30 on 2026-03-08 does not exist in New York -> the transition instant, 03:00 EDT.
    assert z(parse_schedule("2026-03-08T02:30", NEW_YORK).at) == "2026-03-08T07:00:00Z"
    assert z(parse_schedule("2026-03-08T02:00", NEW_YORK).at) == "2026-03-08T07:00:00Z"
    assert z(parse_schedule("2026-03-08T01:59:59", NEW_YORK).at) == "2026-03-08T06:59:59Z"
    assert z(parse_schedule("2026-03-08T03:00", NEW_YORK).at) == "2026-03-08T07:00:00Z"
    # Ambiguous: the first occurrence (EDT).
    assert z(parse_schedule("2026-11-01T01:30", NEW_YORK).at) == "2026-11-01T05:30:00Z"
    assert z(parse_schedule("November 1, 2026 01:30", NEW_YORK).at) == "2026-11-01T05:30:00Z"
    # Berlin.
    assert z(parse_schedule("2026-03-29T02:15:30.5", BERLIN).at) == "2026-03-29T01:00:00Z"
    assert z(parse_schedule("2026-10-25T02:30", BERLIN).at) == "2026-10-25T00:30:00Z"
    # An explicit offset is taken as given, whatever the zone says.
    assert z(parse_schedule("2026-11-01T01:30-05:00", NEW_YORK).at) == "2026-11-01T06:30:00Z"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2025-02-30", "day is out of range for month"),
        ("2025-13-01", "month must be in 1..12"),
        ("2025-00-10", "month must be in 1..12"),
        ("2025-12-25T25:00", "hour must be in 0..23"),
        ("2025-12-25T10:60", "minute must be in 0..59"),
        ("2025-12-25T10:00+25:00", "out of range"),
        ("2026-02-29T10:00:00Z", "day is out of range for month"),
        ("December 32, 2025", "not a valid date"),
        ("Wed, 30 Feb 2025 10:00:00 GMT", "day is out of range for month"),
        ("Dec 2025", "not a full date"),
        ("2025 10:00", "not a full date"),
        ("December 25, 2025 10:00 XYZ", "unknown timezone abbreviation 'XYZ'"),
        ("Wed, 25 Dec 2025 10:00:00 XYZ", "unknown timezone abbreviation 'XYZ'"),
        ("20251225", "is not a named interval"),
        ("2025", "is not a named interval"),
        ("every tuesday 2025", "is not a named interval"),
        ("2025-12-25T10:00:00Zjunk", "is not a named interval"),
    ],
)
def test_invalid_dates(text: str, fragment: str) -> None:
    message = invalid(text)
    assert fragment in message
    assert repr(text) in message or fragment.startswith("cron")


def test_parse_date_quiet_returns_none_instead_of_raising() -> None:
    # The parser falls back to dates for five cron-looking tokens only quietly.
    assert parse_date("2025-02-30", UTC_TZ, quiet=True) is None
    with pytest.raises(ScheduleError, match="day is out of range for month"):
        parse_date("2025-02-30", UTC_TZ, quiet=False)
    # Text that is not a date at all is None either way.
    assert parse_date("every tuesday", UTC_TZ, quiet=False) is None
    assert z(parse_date("2025-12-25T10:00:00.000Z", NEW_YORK, quiet=False)) == "2025-12-25T10:00:00Z"
