"""Tests for agentcron.schedule: timezones, recognising each schedule form, next_run/upcoming.

Cron expressions are tested in test_schedule_cron.py, one-shot dates in test_schedule_dates.py.
The helpers here are shared with them. No clock reads, no sleeping.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest

from agentcron.schedule import (
    CRON_NICKNAMES,
    NAMED_INTERVALS,
    Schedule,
    ScheduleError,
    next_run,
    parse_schedule,
    parse_timezone,
    upcoming,
)

UTC_TZ = zoneinfo.ZoneInfo("UTC")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def at(text: str) -> datetime:
    """An aware UTC instant from an ISO string ending in Z."""
    return datetime.fromisoformat(text)


def z(dt: datetime | None) -> str | None:
    """UTC ISO string (with milliseconds only when non-zero); asserts the value is aware UTC."""
    if dt is None:
        return None
    assert dt.utcoffset() == timedelta(0)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def zs(dts: list[datetime]) -> list[str | None]:
    return [z(d) for d in dts]


def preview(text: str, tz: zoneinfo.ZoneInfo, after: str, limit: int) -> list[str | None]:
    return zs(upcoming(parse_schedule(text, tz), tz, at(after), limit))


def first(text: str, tz: zoneinfo.ZoneInfo, after: str) -> str | None:
    return z(next_run(parse_schedule(text, tz), tz, at(after)))


def invalid(text: str, tz: zoneinfo.ZoneInfo = UTC_TZ) -> str:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text, tz)
    message = str(info.value)
    assert message.startswith("Invalid schedule: ")
    return message


# --------------------------------------------------------------------------- timezones


def test_parse_timezone_defaults_to_utc() -> None:
    assert parse_timezone(None).key == "UTC"
    assert parse_timezone("").key == "UTC"


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"])
def test_parse_timezone_valid(name: str) -> None:
    tz = parse_timezone(name)
    assert isinstance(tz, zoneinfo.ZoneInfo)
    assert tz.key == name


@pytest.mark.parametrize(
    "name",
    ["Mars/Base", "America", "utc", " UTC", "../etc/passwd", "/etc/localtime", "localtime",
     "posix/Europe/Berlin", "right/UTC", "posixrules", "Europe/Berlin\0", "+02:00", "EST-5"],
)  # fmt: skip
def test_parse_timezone_invalid(name: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_timezone(name)
    message = str(info.value)
    assert message.startswith(f"Invalid timezone: {name!r} is not an IANA timezone name")
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- never / named intervals


def test_never() -> None:
    s = parse_schedule("never", UTC_TZ)
    assert s == Schedule("never", "never", None, None)
    assert next_run(s, UTC_TZ, at("2026-01-01T00:00:00Z")) is None
    assert upcoming(s, UTC_TZ, at("2026-01-01T00:00:00Z"), 5) == []


# after = Wednesday 2026-01-07 10:07:00Z (2026-01-01 is a Thursday)
@pytest.mark.parametrize(
    ("name", "cron", "expected"),
    [
        (
            "quarterhourly",
            "*/15 * * * *",
            ["2026-01-07T10:15:00Z", "2026-01-07T10:30:00Z", "2026-01-07T10:45:00Z"],
        ),
        (
            "halfhourly",
            "*/30 * * * *",
            ["2026-01-07T10:30:00Z", "2026-01-07T11:00:00Z", "2026-01-07T11:30:00Z"],
        ),
        ("hourly", "0 * * * *", ["2026-01-07T11:00:00Z", "2026-01-07T12:00:00Z", "2026-01-07T13:00:00Z"]),
        (
            "twicedaily",
            "0 0,12 * * *",
            ["2026-01-07T12:00:00Z", "2026-01-08T00:00:00Z", "2026-01-08T12:00:00Z"],
        ),
        ("daily", "0 0 * * *", ["2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-10T00:00:00Z"]),
        # Sunday and Wednesday midnight
        (
            "twiceweekly",
            "0 0 * * 0,3",
            ["2026-01-11T00:00:00Z", "2026-01-14T00:00:00Z", "2026-01-18T00:00:00Z"],
        ),
        # Sunday midnight
        ("weekly", "0 0 * * 0", ["2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z", "2026-01-25T00:00:00Z"]),
        (
            "twicemonthly",
            "0 0 1,15 * *",
            ["2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-15T00:00:00Z"],
        ),
        ("monthly", "0 0 1 * *", ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"]),
    ],
)
def test_named_intervals(name: str, cron: str, expected: list[str]) -> None:
    s = parse_schedule(name, UTC_TZ)
    assert s == Schedule("cron", name, cron, None)
    assert NAMED_INTERVALS[name] == cron
    assert preview(name, UTC_TZ, "2026-01-07T10:07:00+00:00", 3) == expected


def test_named_intervals_cover_the_spec() -> None:
    assert set(NAMED_INTERVALS) == {
        "quarterhourly", "halfhourly", "hourly", "twicedaily", "daily",
        "twiceweekly", "weekly", "twicemonthly", "monthly",
    }  # fmt: skip


def test_named_intervals_are_wall_clock_aligned_in_the_task_timezone() -> None:
    # New York is UTC-5 in January; Kolkata is UTC+5:30 (so "hourly" lands on :30 UTC).
    assert preview("daily", NEW_YORK, "2026-01-07T10:07:00+00:00", 2) == [
        "2026-01-08T05:00:00Z",
        "2026-01-09T05:00:00Z",
    ]
    kolkata = parse_timezone("Asia/Kolkata")
    assert preview("hourly", kolkata, "2026-01-07T10:07:00+00:00", 2) == [
        "2026-01-07T10:30:00Z",
        "2026-01-07T11:30:00Z",
    ]
    assert preview("weekly", TOKYO, "2026-01-07T10:07:00+00:00", 1) == ["2026-01-10T15:00:00Z"]


@pytest.mark.parametrize("text", ["Daily", "HOURLY", "Never", "every day", "yearly", "quarter-hourly"])
def test_named_intervals_are_case_sensitive(text: str) -> None:
    invalid(text)


def test_surrounding_whitespace_is_ignored_but_source_kept() -> None:
    s = parse_schedule("  daily\n", UTC_TZ)
    assert s.kind == "cron" and s.cron == "0 0 * * *" and s.source == "  daily\n"
    assert parse_schedule(" 0  0 *\t* * ", UTC_TZ).cron == "0 0 * * *"


# --------------------------------------------------------------------------- HH:MM


@pytest.mark.parametrize(
    ("text", "cron"),
    [("9:30", "30 9 * * *"), ("09:05", "5 9 * * *"), ("0:00", "0 0 * * *"), ("00:00", "0 0 * * *"),
     ("23:59", "59 23 * * *"), ("12:00", "0 12 * * *")],
)  # fmt: skip
def test_hhmm(text: str, cron: str) -> None:
    assert parse_schedule(text, UTC_TZ) == Schedule("cron", text, cron, None)


def test_hhmm_is_local_time() -> None:
    # Berlin is UTC+1 in January, UTC+2 in July.
    assert preview("9:30", BERLIN, "2026-01-07T10:07:00Z", 2) == [
        "2026-01-08T08:30:00Z",
        "2026-01-09T08:30:00Z",
    ]
    assert preview("09:30", BERLIN, "2026-07-07T06:00:00Z", 1) == ["2026-07-07T07:30:00Z"]


@pytest.mark.parametrize("text", ["24:00", "9:7", "12:60", "99:99", "123:00", "9:070", "9:", ":30", "9.30"])
def test_hhmm_invalid(text: str) -> None:
    invalid(text)


def test_hhmm_messages() -> None:
    assert "hour 24 is out of range 0-23" in invalid("24:00")
    assert "minute 60 is out of range 0-59" in invalid("12:60")
    assert "two-digit minute" in invalid("9:7")


# --------------------------------------------------------------------------- nicknames


@pytest.mark.parametrize(
    ("nick", "cron"),
    [("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
     ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *")],
)  # fmt: skip
def test_nicknames(nick: str, cron: str) -> None:
    assert parse_schedule(nick, UTC_TZ) == Schedule("cron", nick, cron, None)
    assert CRON_NICKNAMES[nick] == cron


def test_nickname_fire_times() -> None:
    assert preview("@yearly", UTC_TZ, "2026-01-07T10:07:00Z", 2) == [
        "2027-01-01T00:00:00Z",
        "2028-01-01T00:00:00Z",
    ]
    assert preview("@hourly", UTC_TZ, "2026-01-07T10:07:00Z", 1) == ["2026-01-07T11:00:00Z"]


def test_nicknames_invalid() -> None:
    assert "@reboot" in invalid("@reboot")
    assert "not a known cron nickname" in invalid("@every 5m")
    invalid("@DAILY")
    invalid("@")


# --------------------------------------------------------------------------- errors and caching


def test_field_count_message_names_the_count() -> None:
    assert "has 4" in invalid("* * * *")
    assert "has 6 (seconds and year fields are not supported)" in invalid("0 0 * * * *")


@pytest.mark.parametrize("text", ["every tuesday", "5", "tomorrow", "next week", "now", "hello world"])
def test_unrecognised_text(text: str) -> None:
    assert invalid(text) == (
        f"Invalid schedule: {text!r} is not a named interval, a 5-field cron expression, HH:MM or a date"
    )


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_schedule(text: str) -> None:
    assert "empty" in invalid(text)


def test_five_cron_looking_tokens_that_are_a_date() -> None:
    s = parse_schedule("25 Dec 2025 10 PM", NEW_YORK)
    assert s.kind == "once" and z(s.at) == "2025-12-26T03:00:00Z"
    # Not a date either: the cron message stands.
    assert "cron field 'hour' value 25 is out of range 0-23" in invalid("0 25 * * *")


def test_parse_is_cached_per_text_and_zone() -> None:
    assert parse_schedule("*/7 * * * *", BERLIN) is parse_schedule("*/7 * * * *", BERLIN)
    a = parse_schedule("2026-06-01T09:00", BERLIN)
    b = parse_schedule("2026-06-01T09:00", NEW_YORK)
    assert a.at != b.at


def test_parse_with_uncached_zone_object() -> None:
    tz = zoneinfo.ZoneInfo.no_cache("Europe/Berlin")
    assert z(parse_schedule("2026-06-01T09:00", tz).at) == "2026-06-01T07:00:00Z"


# --------------------------------------------------------------------------- next_run / upcoming


def test_next_run_requires_aware_after() -> None:
    s = parse_schedule("daily", UTC_TZ)
    with pytest.raises(ValueError):
        next_run(s, UTC_TZ, datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        upcoming(s, UTC_TZ, datetime(2026, 1, 1), 3)


def test_upcoming_limits() -> None:
    s = parse_schedule("hourly", UTC_TZ)
    after = at("2026-01-01T00:30:00Z")
    assert upcoming(s, UTC_TZ, after, 0) == []
    assert upcoming(s, UTC_TZ, after, -1) == []
    assert zs(upcoming(s, UTC_TZ, after, 1)) == [z(next_run(s, UTC_TZ, after))]
    many = upcoming(s, UTC_TZ, after, 500)
    assert len(many) == 500
    assert all(b - a == timedelta(hours=1) for a, b in zip(many, many[1:], strict=False))
    assert z(many[-1]) == "2026-01-21T20:00:00Z"


def test_one_shot_next_run_and_upcoming() -> None:
    s = parse_schedule("2025-12-25T10:00:00Z", UTC_TZ)
    assert first("2025-12-25T10:00:00Z", UTC_TZ, "2025-12-01T00:00:00Z") == "2025-12-25T10:00:00Z"
    # Strictly after: at == after and past dates give None.
    assert next_run(s, UTC_TZ, at("2025-12-25T10:00:00Z")) is None
    assert next_run(s, UTC_TZ, at("2026-01-01T00:00:00Z")) is None
    assert next_run(s, UTC_TZ, at("2025-12-25T09:59:59.999Z")) == s.at
    # `after` in another zone: 11:59 at +02:00 is 09:59Z.
    assert next_run(s, UTC_TZ, at("2025-12-25T11:59:00+02:00")) == s.at
    assert upcoming(s, UTC_TZ, at("2025-12-01T00:00:00Z"), 5) == [s.at]
    assert upcoming(s, UTC_TZ, at("2025-12-01T00:00:00Z"), 0) == []
    assert upcoming(s, UTC_TZ, at("2026-12-01T00:00:00Z"), 5) == []
