"""Schedule previews with DST flags (agentcron.schedule_preview), checked against instants worked out by
hand from each zone's published transitions (not computed with the code under test)."""

from __future__ import annotations

from datetime import datetime

import pytest

from agentcron.schedule import ScheduleError
from agentcron.schedule_preview import dst_warnings, preview, warnings_of


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _runs(schedule: str, tz: str, after: str, take: int = 3) -> list[tuple[int, str, str | None]]:
    return [(r.run_at, r.local_time, r.dst) for r in preview(schedule, tz, ms(after), take)]


def test_new_york_spring_forward_moves_a_run_out_of_the_gap() -> None:
    # 2027-03-14 02:00 EST (07:00Z) -> 03:00 EDT: 02:30 does not exist; the run is at the transition.
    assert _runs("30 2 * * *", "America/New_York", "2027-03-13T12:00:00Z", 2) == [
        (ms("2027-03-14T07:00:00Z"), "2027-03-14T03:00:00-04:00", "gap"),
        (ms("2027-03-15T06:30:00Z"), "2027-03-15T02:30:00-04:00", None),
    ]
    runs = preview("30 2 * * *", "America/New_York", ms("2027-03-13T12:00:00Z"), 2)
    assert warnings_of(runs) == ["02:30 does not exist in America/New_York on 2027-03-14; that run happens at 03:00"]
    # 03:00 itself exists: a run due at 03:00 is not moved
    assert _runs("0 3 * * *", "America/New_York", "2027-03-13T12:00:00Z", 1) == [
        (ms("2027-03-14T07:00:00Z"), "2027-03-14T03:00:00-04:00", None)
    ]


def test_new_york_fall_back_runs_a_fixed_time_once_and_a_real_time_schedule_in_both_folds() -> None:
    # 2027-11-07 02:00 EDT (06:00Z) -> 01:00 EST: 01:30 occurs at 05:30Z and 06:30Z.
    assert _runs("30 1 * * *", "America/New_York", "2027-11-06T12:00:00Z", 2) == [
        (ms("2027-11-07T05:30:00Z"), "2027-11-07T01:30:00-04:00", "fold"),
        (ms("2027-11-08T06:30:00Z"), "2027-11-08T01:30:00-05:00", None),
    ]
    assert _runs("*/30 * * * *", "America/New_York", "2027-11-07T05:00:00Z", 4) == [
        (ms("2027-11-07T05:30:00Z"), "2027-11-07T01:30:00-04:00", "fold"),
        (ms("2027-11-07T06:00:00Z"), "2027-11-07T01:00:00-05:00", "fold"),
        (ms("2027-11-07T06:30:00Z"), "2027-11-07T01:30:00-05:00", "fold"),
        (ms("2027-11-07T07:00:00Z"), "2027-11-07T02:00:00-05:00", None),
    ]


def test_berlin_both_transitions() -> None:
    # 2027-03-28 02:00 CET (01:00Z) -> 03:00 CEST; 2027-10-31 03:00 CEST (01:00Z) -> 02:00 CET.
    assert _runs("30 2 * * *", "Europe/Berlin", "2027-03-27T12:00:00Z", 1) == [
        (ms("2027-03-28T01:00:00Z"), "2027-03-28T03:00:00+02:00", "gap")
    ]
    assert _runs("30 2 * * *", "Europe/Berlin", "2027-10-30T12:00:00Z", 1) == [
        (ms("2027-10-31T00:30:00Z"), "2027-10-31T02:30:00+02:00", "fold")
    ]


def test_lord_howe_shifts_by_thirty_minutes() -> None:
    # 2027-10-03 02:00 +10:30 (2027-10-02T15:30Z) -> 02:30 +11:00; 2027-04-04 02:00 +11:00 (15:00Z) -> 01:30 +10:30.
    assert _runs("0 2 * * *", "Australia/Lord_Howe", "2027-10-02T00:00:00Z", 2) == [
        (ms("2027-10-02T15:30:00Z"), "2027-10-03T02:30:00+11:00", "gap"),
        (ms("2027-10-03T15:00:00Z"), "2027-10-04T02:00:00+11:00", None),
    ]
    assert _runs("45 1 * * *", "Australia/Lord_Howe", "2027-04-03T00:00:00Z", 1) == [
        (ms("2027-04-03T14:45:00Z"), "2027-04-04T01:45:00+11:00", "fold")
    ]
    runs = preview("0 2 * * *", "Australia/Lord_Howe", ms("2027-10-02T00:00:00Z"), 1)
    assert warnings_of(runs) == ["02:00 does not exist in Australia/Lord_Howe on 2027-10-03; that run happens at 02:30"]


def test_a_real_time_schedule_has_no_gap_runs() -> None:
    # */15 simply has no 02:xx slots on the spring-forward day: 01:45 EST, then 03:00 EDT, neither moved.
    assert _runs("*/15 * * * *", "America/New_York", "2027-03-14T06:40:00Z", 2) == [
        (ms("2027-03-14T06:45:00Z"), "2027-03-14T01:45:00-05:00", None),
        (ms("2027-03-14T07:00:00Z"), "2027-03-14T03:00:00-04:00", None),
    ]


def test_one_shot_dates_never_and_empty() -> None:
    assert _runs("2027-03-14 02:30", "America/New_York", "2027-01-01T00:00:00Z", 5) == [
        (ms("2027-03-14T07:00:00Z"), "2027-03-14T03:00:00-04:00", "gap")
    ]
    assert _runs("2027-03-14T02:30:00-05:00", "America/New_York", "2027-01-01T00:00:00Z") == [
        (ms("2027-03-14T07:30:00Z"), "2027-03-14T03:30:00-04:00", None)  # an instant, not a wall time
    ]
    assert _runs("2027-03-14 02:30", "America/New_York", "2027-06-01T00:00:00Z") == []  # passed
    assert preview("never", "UTC", 0, 10) == [] and preview("", None, 0, 10) == [] and preview(None, None, 0, 10) == []


def test_bad_input_raises_the_messages_of_task_create() -> None:
    with pytest.raises(ScheduleError, match="^Invalid schedule: "):
        preview("every tuesday", "UTC", 0, 3)
    with pytest.raises(ScheduleError, match="^Invalid timezone: "):
        preview("hourly", "Mars/Olympus", 0, 3)


def test_dst_warnings_for_the_next_year_look_only_around_transitions() -> None:
    start = ms("2027-01-01T00:00:00Z")
    # (01:00-01:59 repeats on 2027-11-07: 02:30 is not in the repeated hour)
    assert dst_warnings("30 2 * * *", "America/New_York", start) == [
        "02:30 does not exist in America/New_York on 2027-03-14; that run happens at 03:00"
    ]
    assert dst_warnings("0 9 * * *", "Europe/Berlin", start) == []
    assert dst_warnings("hourly", "UTC", start) == []
    assert dst_warnings("30 1 * * *", "America/New_York", start) == [
        "01:30 occurs twice in America/New_York on 2027-11-07 (clocks go back); "
        "this run is at the first 01:30 (2027-11-07T01:30:00-04:00)"
    ]
