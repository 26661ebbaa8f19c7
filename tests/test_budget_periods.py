"""Token budget periods in a time zone, against hand-computed instants, across DST changes."""

from __future__ import annotations

from datetime import datetime

import pytest

from agentcron.budget_periods import bounds, day_key, local_date, period_days


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.parametrize(
    ("instant", "tz", "period", "start", "end"),
    [
        # Berlin springs forward on Sunday 2026-03-29 (02:00 -> 03:00): that day has 23 hours
        ("2026-03-29T12:00:00+02:00", "Europe/Berlin", "day", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
        # the ISO week Mon 23 - Sun 29 March holds the change: 167 hours
        (
            "2026-03-29T23:30:00+02:00",
            "Europe/Berlin",
            "week",
            "2026-03-23T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
        ),
        (
            "2026-03-01T00:00:00+01:00",
            "Europe/Berlin",
            "month",
            "2026-03-01T00:00:00+01:00",
            "2026-04-01T00:00:00+02:00",
        ),
        # Berlin falls back on Sunday 2026-10-25 (03:00 -> 02:00): 25 hours
        ("2026-10-25T02:30:00+01:00", "Europe/Berlin", "day", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"),
        (
            "2026-10-31T23:59:59+01:00",
            "Europe/Berlin",
            "month",
            "2026-10-01T00:00:00+02:00",
            "2026-11-01T00:00:00+01:00",
        ),
        # New York springs forward on Sunday 2026-03-08, falls back on Sunday 2026-11-01
        (
            "2026-03-08T01:59:00-05:00",
            "America/New_York",
            "day",
            "2026-03-08T00:00:00-05:00",
            "2026-03-09T00:00:00-04:00",
        ),
        (
            "2026-03-08T03:00:00-04:00",
            "America/New_York",
            "week",
            "2026-03-02T00:00:00-05:00",
            "2026-03-09T00:00:00-04:00",
        ),
        (
            "2026-11-01T01:30:00-05:00",
            "America/New_York",
            "day",
            "2026-11-01T00:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
        ),
        (
            "2026-11-01T01:30:00-04:00",
            "America/New_York",
            "week",
            "2026-10-26T00:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
        ),
        (
            "2026-12-31T23:00:00-05:00",
            "America/New_York",
            "month",
            "2026-12-01T00:00:00-05:00",
            "2027-01-01T00:00:00-05:00",
        ),
        # UTC (no zone), and a local day that is already the next UTC day
        ("2026-02-28T23:59:59+00:00", None, "month", "2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"),
        ("2026-06-30T23:30:00+00:00", "Asia/Tokyo", "day", "2026-07-01T00:00:00+09:00", "2026-07-02T00:00:00+09:00"),
        # Havana springs forward at midnight (2026-03-08 00:00 -> 01:00): the day starts when the gap ends
        (
            "2026-03-08T12:00:00-04:00",
            "America/Havana",
            "day",
            "2026-03-08T01:00:00-04:00",
            "2026-03-09T00:00:00-04:00",
        ),
        # ... and falls back at 01:00 to 00:00 (2026-11-01): the day starts at the first 00:00
        (
            "2026-11-01T00:30:00-05:00",
            "America/Havana",
            "day",
            "2026-11-01T00:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
        ),
    ],
)
def test_bounds(instant: str, tz: str | None, period: str, start: str, end: str) -> None:
    assert bounds(ms(instant), tz, period) == (ms(start), ms(end))  # type: ignore[arg-type]


def test_period_days_and_keys() -> None:
    berlin = ms("2026-03-29T12:00:00+02:00")
    assert period_days(berlin, "Europe/Berlin", "day") == (20260329, 20260329)
    assert period_days(berlin, "Europe/Berlin", "week") == (20260323, 20260329)
    assert period_days(berlin, "Europe/Berlin", "month") == (20260301, 20260331)
    assert period_days(ms("2028-02-10T00:00:00+00:00"), None, "month") == (20280201, 20280229)
    # the same instant is another local date in another zone
    late = ms("2026-11-01T03:30:00+00:00")  # 23:30 on 31 October in New York
    assert day_key(local_date(late, "America/New_York")) == 20261031
    assert day_key(local_date(late, None)) == 20261101
    assert period_days(late, "America/New_York", "month") == (20261001, 20261031)


def test_unknown_period() -> None:
    with pytest.raises(ValueError):
        bounds(0, None, "year")  # type: ignore[arg-type]
