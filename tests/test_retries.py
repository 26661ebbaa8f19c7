"""The retry rules as pure functions (agentcron.retries): policies, delays, jitter bounds, Retry-After."""

from __future__ import annotations

import random

import pytest

from agentcron import retries
from agentcron.retries import RetryPolicy, delay_ms, plan_retry, retryable


class Fixed:
    """An `Rng` that always draws the same number."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_a_stored_policy_reads_with_its_defaults_and_a_bad_one_reads_as_none() -> None:
    assert RetryPolicy.of({"maxAttempts": 3}) == RetryPolicy(3, 30_000, 900_000, 2.0)
    assert RetryPolicy.of({"maxAttempts": 4, "initialDelayMs": 1000, "maxDelayMs": 5000, "multiplier": 3}) == (
        RetryPolicy(4, 1000, 5000, 3.0)
    )
    for bad in (None, [], "x", {}, {"maxAttempts": 1}, {"maxAttempts": "many"}, {"maxAttempts": 3, "maxDelayMs": 10}):
        assert RetryPolicy.of(bad) is None, bad


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (RetryPolicy(1), "maxAttempts must be 2 to 10"),
        (RetryPolicy(11), "maxAttempts must be 2 to 10"),
        (RetryPolicy(3, 999), "initialDelayMs must be 1000"),
        (RetryPolicy(3, 60_000, 30_000), "maxDelayMs (30000) must be at least initialDelayMs (60000)"),
        (RetryPolicy(3, multiplier=0.5), "multiplier must be 1 to 10"),
        (RetryPolicy(3, multiplier=11), "multiplier must be 1 to 10"),
    ],
)
def test_an_invalid_policy_names_its_problem(policy: RetryPolicy, message: str) -> None:
    problem = policy.problem()
    assert problem is not None and problem.startswith("Invalid retryPolicy: ") and message in problem


def test_the_wire_form_has_every_field() -> None:
    wire = {"maxAttempts": 3, "initialDelayMs": 30000, "maxDelayMs": 900000, "multiplier": 2}
    assert RetryPolicy(3).to_wire() == wire
    assert RetryPolicy(3, multiplier=1.5).to_wire()["multiplier"] == 1.5


def test_the_backoff_bound_grows_by_the_multiplier_up_to_the_maximum() -> None:
    p = RetryPolicy(10, 1000, 10_000, 3)
    assert [p.backoff_cap_ms(n) for n in range(1, 6)] == [1000, 3000, 9000, 10_000, 10_000]
    assert RetryPolicy(10, 5000, 5000, 1).backoff_cap_ms(9) == 5000


def test_full_jitter_draws_between_the_floor_and_the_bound() -> None:
    p = RetryPolicy(5, 30_000, 900_000, 2)
    assert delay_ms(p, 1, Fixed(0.0)) == retries.MIN_DELAY_MS  # never a hot loop
    assert delay_ms(p, 1, Fixed(0.5)) == 15_000
    assert delay_ms(p, 2, Fixed(0.5)) == 30_000
    assert delay_ms(p, 3, Fixed(0.999999)) == 119_999
    rng = random.Random(7)
    for attempt in (1, 2, 3, 4, 9):
        cap = p.backoff_cap_ms(attempt)
        drawn = [delay_ms(p, attempt, rng) for _ in range(500)]
        assert all(retries.MIN_DELAY_MS <= d <= cap for d in drawn)
        assert max(drawn) > 0.9 * cap and min(drawn) < 0.1 * cap + retries.MIN_DELAY_MS  # full jitter: the range


def test_a_longer_retry_after_wins_and_is_capped() -> None:
    p = RetryPolicy(3, 1000, 2000)
    assert delay_ms(p, 1, Fixed(0.5), retry_after_ms=60_000) == 60_000  # longer than the backoff: wins
    assert delay_ms(p, 1, Fixed(0.5), retry_after_ms=500) == 1000  # shorter: the backoff stands
    assert delay_ms(p, 1, Fixed(0.5), retry_after_ms=10**9) == retries.MAX_RETRY_AFTER_MS


def test_which_failures_are_retried() -> None:
    for code in ("MODEL_ERROR", "TOOL_ERROR", "REPORTED_FAILURE", "AGENT_ERROR", "RUN_ERROR", "WORKER_LOST"):
        assert retryable(code), code
    never = ("MAX_ITERATIONS", "MAX_CALLS", "TIME_LIMIT", "BUDGET", "NO_BOT", "MODEL_CONFIG", "ABILITY_CONFIG", None)
    for code in never:
        assert not retryable(code), code


def test_plan_retry_counts_attempts_and_respects_the_policy() -> None:
    p = RetryPolicy(3, 1000, 1000)
    now = 1_000_000
    assert plan_retry(None, 1, "MODEL_ERROR", now, Fixed(1)) is None
    assert plan_retry(p, 1, "MAX_CALLS", now, Fixed(1)) is None
    first = plan_retry(p, 1, "TOOL_ERROR", now, Fixed(1))
    assert first is not None and (first.attempt, first.not_before) == (2, now + 1000)
    second = plan_retry(p, 2, "TOOL_ERROR", now, Fixed(1), retry_after_ms=7000)
    assert second is not None and (second.attempt, second.not_before) == (3, now + 7000)
    assert plan_retry(p, 3, "TOOL_ERROR", now, Fixed(1)) is None  # the last attempt


def test_pause_rules() -> None:
    assert retries.pause_reason(3) == "Paused after 3 consecutive failures"
    assert not retries.should_pause(None, 100)
    assert not retries.should_pause(3, 2)
    assert retries.should_pause(3, 3) and retries.should_pause(3, 4)
