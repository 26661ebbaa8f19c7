"""An independent matcher for numeric 5-field crons (lists, ranges, steps) with the Vixie day-of-month /
day-of-week rule, for brute-force checks of the schedule code, minute by minute."""

from __future__ import annotations

from datetime import datetime


def values(field: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for term in field.split(","):
        base, _, step = term.partition("/")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-")
            start, end = int(a), int(b)
        else:
            start = int(base)
            end = hi if step else start
        out.update(range(start, end + 1, int(step or 1)))
    return out


class Matcher:
    """An independent matcher for numeric 5-field crons with the Vixie day-of-month/day-of-week rule."""

    def __init__(self, expr: str) -> None:
        mi, h, dom, mon, dow = expr.split()
        self.minutes, self.hours = values(mi, 0, 59), values(h, 0, 23)
        self.doms, self.months = values(dom, 1, 31), values(mon, 1, 12)
        self.dows = {d % 7 for d in values(dow, 0, 7)}
        self.day_and = dom.startswith("*") or dow.startswith("*")
        self.real_time = mi.startswith("*") or h.startswith("*")

    def __call__(self, wall: datetime) -> bool:
        if wall.minute not in self.minutes or wall.hour not in self.hours or wall.month not in self.months:
            return False
        dom_ok, dow_ok = wall.day in self.doms, wall.isoweekday() % 7 in self.dows
        return (dom_ok and dow_ok) if self.day_and else (dom_ok or dow_ok)
