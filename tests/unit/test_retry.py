"""The retry policy: exponential backoff with jitter, retry-after honoured, non-retryable errors never retried."""

import random

import pytest

import tollway
from tollway.retry import RetryPolicy


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(num_retries=10)
    rng = random.Random(1)
    error = tollway.InternalServerError("boom")
    for attempt, base in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delay = policy.delay(error, attempt, rng)
        assert delay is not None
        assert 0.75 * base <= delay <= base


def test_jitter_spreads_clients_apart() -> None:
    policy = RetryPolicy()
    rng = random.Random(2)
    delays = {policy.delay(tollway.APIConnectionError("x"), 0, rng) for _ in range(50)}
    assert len(delays) > 40


def test_retry_after_wins_unless_absurd() -> None:
    policy = RetryPolicy()
    assert policy.delay(tollway.RateLimitError("slow", retry_after=3.0), 0) == 3.0
    assert policy.delay(tollway.RateLimitError("slow", retry_after=0.0), 1) == 0.0
    assert policy.delay(tollway.RateLimitError("slow", retry_after=600.0), 0) is None


def test_gives_up_after_num_retries() -> None:
    policy = RetryPolicy(num_retries=2)
    error = tollway.ServiceUnavailableError("down")
    assert policy.delay(error, 1) is not None
    assert policy.delay(error, 2) is None
    assert RetryPolicy(num_retries=0).delay(error, 0) is None


@pytest.mark.parametrize(
    "error",
    [
        tollway.BadRequestError("bad"),
        tollway.AuthenticationError("key"),
        tollway.NotFoundError("model"),
        tollway.ContextWindowExceededError("long"),
    ],
)
def test_non_retryable(error: tollway.TollwayError) -> None:
    assert RetryPolicy().delay(error, 0) is None


def test_an_instance_can_refuse_retries() -> None:
    error = tollway.RateLimitError("insufficient_quota")
    error.retryable = False
    assert RetryPolicy().delay(error, 0) is None
