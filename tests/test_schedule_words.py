"""Schedules in words (pure)."""

from __future__ import annotations

import pytest

from agentcron.schedule_words import schedule_in_words


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (None, "Manual runs only"),
        ("", "Manual runs only"),
        ("never", "Never"),
        ("hourly", "Every hour"),
        ("daily", "Every day at 00:00"),
        ("7:05", "Every day at 07:05"),
        ("@weekly", "Sundays at 00:00"),
        ("0 9 * * 1-5", "Weekdays at 09:00"),
        ("30 18 * * 1", "Mondays at 18:30"),
        ("0 8 * * 1,3", "Mondays and Wednesdays at 08:00"),
        ("0 8 * * SAT,SUN", "Weekends at 08:00"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("* * * * *", "Every minute"),
        ("15 * * * *", "Every hour at :15"),
        ("0 6 1 * *", "On the 1st of every month at 06:00"),
        ("0 6 22 * *", "On the 22nd of every month at 06:00"),
        ("0 6 * 1 *", "cron 0 6 * 1 *"),
        ("0 9-17 * * *", "cron 0 9-17 * * *"),
        ("2027-01-01T10:00", "Once, at 2027-01-01T10:00"),
    ],
)
def test_schedule_in_words(schedule: str | None, words: str) -> None:
    assert schedule_in_words(schedule) == words
