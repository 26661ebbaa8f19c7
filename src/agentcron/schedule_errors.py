"""The schedule modules' error type, in a module of its own so each of them can raise it."""

from __future__ import annotations

__all__ = ["ScheduleError", "invalid"]


class ScheduleError(ValueError):
    """Raised for an invalid schedule or timezone; ``str(e)`` is the full user-facing message."""


def invalid(message: str) -> ScheduleError:
    """An error for an invalid schedule: ``"Invalid schedule: "`` followed by ``message``."""
    return ScheduleError(f"Invalid schedule: {message}")
