"""A schedule in words, for people (``0 9 * * 1-5`` -> "Weekdays at 09:00"). Pure.

Covers the forms operators write most (named intervals, ``HH:MM``, nicknames, cron with plain numbers in
the minute and hour fields and ``*`` / one value / a range / a list of weekdays); anything else is shown as
``cron <expression>``, which is exact if not friendly. A one-shot date reads "Once, at <the text>".
"""

from __future__ import annotations

import functools
import re

from agentcron.schedule import CRON_NICKNAMES, NAMED_INTERVALS

_NAMED = {
    "never": "Never",
    "quarterhourly": "Every 15 minutes",
    "halfhourly": "Every 30 minutes",
    "hourly": "Every hour",
    "twicedaily": "Twice a day, at 00:00 and 12:00",
    "daily": "Every day at 00:00",
    "twiceweekly": "Sundays and Wednesdays at 00:00",
    "weekly": "Sundays at 00:00",
    "twicemonthly": "On the 1st and 15th at 00:00",
    "monthly": "On the 1st of every month at 00:00",
}
_DAYS = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]
_DAY_NAMES = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_NUM = re.compile(r"^\d{1,2}$")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(token: str) -> int | None:
    token = token.lower()
    if token in _DAY_NAMES:
        return _DAY_NAMES[token]
    return int(token) if token.isdigit() and int(token) <= 7 else None


def _weekdays(field: str) -> str | None:
    if field in ("1-5", "mon-fri", "MON-FRI"):
        return "Weekdays"
    if field in ("0,6", "6,0", "sat,sun", "SAT,SUN"):
        return "Weekends"
    days = [_day(t) for t in field.split(",")]
    if any(d is None for d in days):
        return None
    names = [_DAYS[d] for d in days if d is not None]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cron_words(expr: str) -> str:
    parts = expr.split()
    exact = f"cron {expr}"
    if len(parts) != 5:
        return exact
    minute, hour, dom, month, dow = parts
    if month != "*":
        return exact
    if (minute, hour, dom, dow) == ("*", "*", "*", "*"):
        return "Every minute"
    step = re.fullmatch(r"\*/(\d+)", minute)
    if step and (hour, dom, dow) == ("*", "*", "*"):
        return f"Every {step.group(1)} minutes"
    if _NUM.match(minute) and (hour, dom, dow) == ("*", "*", "*"):
        return f"Every hour at :{int(minute):02d}"
    if not (_NUM.match(minute) and _NUM.match(hour)):
        return exact
    at = f"at {int(hour):02d}:{int(minute):02d}"
    if dom == "*" and dow == "*":
        return f"Every day {at}"
    if dom == "*":
        days = _weekdays(dow)
        return f"{days} {at}" if days else exact
    if dow == "*" and _NUM.match(dom):
        return f"On the {_ordinal(int(dom))} of every month {at}"
    return exact


@functools.lru_cache(maxsize=4096)
def schedule_in_words(schedule: str | None) -> str:
    """``schedule`` (a task's, as stored) described in words; "Manual runs only" for none."""
    text = (schedule or "").strip()
    if not text:
        return "Manual runs only"
    if text in _NAMED:
        return _NAMED[text]
    hhmm = _HHMM.match(text)
    if hhmm:
        return f"Every day at {int(hhmm.group(1)):02d}:{hhmm.group(2)}"
    if text in CRON_NICKNAMES:
        return _cron_words(CRON_NICKNAMES[text])
    if text in NAMED_INTERVALS:  # (a named interval added without words)
        return _cron_words(NAMED_INTERVALS[text])
    if len(text.split()) == 5 and not re.search(r"\d{4}", text):
        return _cron_words(text)
    return f"Once, at {text}"
