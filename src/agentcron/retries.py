"""Retries (#12), as pure functions: a task's ``retryPolicy``, which failures are retried, and how long a
failed run waits before its retry. No I/O: the store applies these in the transaction that records a
failure (`agentcron.store.retries`).

- ``retryPolicy``: ``null`` (never retry, the default) or ``{"maxAttempts": 2-10, "initialDelayMs": >= 1000
  (default 30000), "maxDelayMs": >= initialDelayMs (default 900000), "multiplier": 1-10 (default 2)}``.
  ``maxAttempts`` counts every run of a slot, the first included.
- Delay before attempt ``n + 1`` after attempt ``n`` failed: exponential backoff with full jitter, uniform
  in ``[0, min(maxDelayMs, initialDelayMs * multiplier ** (n - 1))]`` and at least `MIN_DELAY_MS`; a
  vendor's ``Retry-After`` (carried by a model error) wins when it is longer, up to `MAX_RETRY_AFTER_MS`.
- Retried: model errors, tool errors, failures the agent reported, other run errors, runs whose worker
  was lost. Never retried: cancels, limit stops (``maxTime``, ``sessionDuration``, ``maxIterations``,
  ``maxCalls``), budget stops, configuration errors (no bot, an unusable model or ability: a retry would
  fail the same way), skipped slots. A failure carries its code (`RunResult.error_code`); unknown codes
  (including those added later for new limits) are not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

MIN_ATTEMPTS = 2
MAX_ATTEMPTS = 10
MIN_DELAY_MS = 1_000
#: the longest initial and maximum delay a policy takes (one day)
MAX_DELAY_LIMIT_MS = 86_400_000
DEFAULT_INITIAL_DELAY_MS = 30_000
DEFAULT_MAX_DELAY_MS = 900_000
DEFAULT_MULTIPLIER = 2.0
MAX_MULTIPLIER = 10.0
#: a vendor's Retry-After is honoured up to this (a longer one is a sign of an outage, not a rate limit)
MAX_RETRY_AFTER_MS = 3_600_000

# Failure codes (`RunResult.error_code`): the engine's, the worker's and the reaper's.
MODEL_ERROR = "MODEL_ERROR"
TOOL_ERROR = "TOOL_ERROR"
REPORTED_FAILURE = "REPORTED_FAILURE"
AGENT_ERROR = "AGENT_ERROR"
#: the runner raised (a bug, or an unexpected library error): recorded by the worker
RUN_ERROR = "RUN_ERROR"
#: the run's lease lapsed without a heartbeat: recorded by the reaper
WORKER_LOST = "WORKER_LOST"
#: the run reached its maxTime / sessionDuration: recorded by the worker
TIME_LIMIT = "TIME_LIMIT"

#: the ``reason`` of a retry dropped because its task's next slot fired first (status ``canceled``)
SUPERSEDED = "superseded"

RETRYABLE = frozenset({MODEL_ERROR, TOOL_ERROR, REPORTED_FAILURE, AGENT_ERROR, RUN_ERROR, WORKER_LOST})


class Rng(Protocol):
    """Where jitter comes from (`random.Random`; tests inject a fixed one)."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    initial_delay_ms: int = DEFAULT_INITIAL_DELAY_MS
    max_delay_ms: int = DEFAULT_MAX_DELAY_MS
    multiplier: float = DEFAULT_MULTIPLIER

    @staticmethod
    def of(value: Any) -> RetryPolicy | None:
        """A stored ``retry_policy`` (decoded JSON) as a policy; None for null or a value that is not a
        valid policy (it was validated when written: such a value was written by hand, and is ignored)."""
        if not isinstance(value, dict):
            return None
        try:
            policy = RetryPolicy(
                int(value["maxAttempts"]),
                int(value.get("initialDelayMs", DEFAULT_INITIAL_DELAY_MS)),
                int(value.get("maxDelayMs", DEFAULT_MAX_DELAY_MS)),
                float(value.get("multiplier", DEFAULT_MULTIPLIER)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return policy if policy.problem() is None else None

    def problem(self) -> str | None:
        """Why this policy is invalid (the API's 400 message), or None."""
        if not MIN_ATTEMPTS <= self.max_attempts <= MAX_ATTEMPTS:
            return f"Invalid retryPolicy: maxAttempts must be {MIN_ATTEMPTS} to {MAX_ATTEMPTS}"
        if not MIN_DELAY_MS <= self.initial_delay_ms <= MAX_DELAY_LIMIT_MS:
            return f"Invalid retryPolicy: initialDelayMs must be {MIN_DELAY_MS} to {MAX_DELAY_LIMIT_MS}"
        if not self.initial_delay_ms <= self.max_delay_ms <= MAX_DELAY_LIMIT_MS:
            return (
                f"Invalid retryPolicy: maxDelayMs ({self.max_delay_ms}) must be at least initialDelayMs "
                f"({self.initial_delay_ms}) and at most {MAX_DELAY_LIMIT_MS}"
            )
        if not 1.0 <= self.multiplier <= MAX_MULTIPLIER:
            return f"Invalid retryPolicy: multiplier must be 1 to {MAX_MULTIPLIER:g}"
        return None

    def to_wire(self) -> dict[str, Any]:
        """The stored and wire form, every field present."""
        multiplier: float | int = int(self.multiplier) if self.multiplier.is_integer() else self.multiplier
        return {
            "maxAttempts": self.max_attempts,
            "initialDelayMs": self.initial_delay_ms,
            "maxDelayMs": self.max_delay_ms,
            "multiplier": multiplier,
        }

    def backoff_cap_ms(self, failed_attempt: int) -> int:
        """The upper bound of the jittered delay after attempt ``failed_attempt`` (1, 2, ...) failed."""
        exponent = max(0, failed_attempt - 1)
        cap = float(self.initial_delay_ms) * self.multiplier**exponent
        return int(min(float(self.max_delay_ms), cap))


def retryable(error_code: str | None) -> bool:
    """Whether a failure with this code is retried (see the module docstring)."""
    return error_code in RETRYABLE


def delay_ms(policy: RetryPolicy, failed_attempt: int, rng: Rng, retry_after_ms: int | None = None) -> int:
    """How long to wait before the attempt after ``failed_attempt``: full jitter over the backoff cap, at
    least `MIN_DELAY_MS`; ``retry_after_ms`` (the vendor's Retry-After) wins when longer, up to
    `MAX_RETRY_AFTER_MS`."""
    delay = max(MIN_DELAY_MS, int(rng.random() * policy.backoff_cap_ms(failed_attempt)))
    if retry_after_ms is not None:
        delay = max(delay, min(retry_after_ms, MAX_RETRY_AFTER_MS))
    return delay


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """The retry to schedule for a failed run: its attempt number and when it may start (epoch ms)."""

    attempt: int
    not_before: int


def plan_retry(
    policy: RetryPolicy | None,
    failed_attempt: int,
    error_code: str | None,
    now: int,
    rng: Rng,
    retry_after_ms: int | None = None,
) -> RetryPlan | None:
    """The retry of a run that failed (attempt ``failed_attempt`` with ``error_code``), or None when the
    failure is final: no policy, a failure that is never retried, or the last attempt."""
    if policy is None or not retryable(error_code) or failed_attempt >= policy.max_attempts:
        return None
    return RetryPlan(failed_attempt + 1, now + delay_ms(policy, failed_attempt, rng, retry_after_ms))


def pause_reason(failures: int) -> str:
    """The pause reason of a task paused by ``pauseAfterFailures``."""
    return f"Paused after {failures} consecutive failures"


def should_pause(pause_after: int | None, failures: int) -> bool:
    """Whether ``failures`` consecutive failed slots reach the task's ``pauseAfterFailures``."""
    return pause_after is not None and pause_after > 0 and failures >= pause_after
