"""RouterRetryPolicy: LiteLLM's per-class retry counts and the backoff between attempts."""

from __future__ import annotations

import random

import pytest

from tollway.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    RateLimitError,
    Timeout,
    TollwayError,
)
from tollway.router.config import parse_router_settings
from tollway.router.retry_policy import RouterRetryPolicy


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RateLimitError("x"), 2),
        (InternalServerError("x"), 2),
        (Timeout("x"), 2),
        (APIConnectionError("x"), 2),
        (BadRequestError("x"), 0),
        (AuthenticationError("x"), 0),
        (APIError("conflict", status_code=409), 2),
        (APIError("teapot", status_code=418), 0),
    ],
)
def test_default_retries_follow_retryable(error: TollwayError, expected: int) -> None:
    assert RouterRetryPolicy().retries_for(error) == expected


def test_per_class_counts_win_and_the_most_specific_class_applies() -> None:
    policy = RouterRetryPolicy.parse(
        3,
        {
            "BadRequestErrorRetries": 0,
            "ContentPolicyViolationErrorRetries": 2,
            "AuthenticationErrorRetries": 1,
            "TimeoutErrorRetries": 5,
            "RateLimitErrorRetries": 6,
            "InternalServerErrorRetries": 4,
        },
    )
    # LiteLLM checks BadRequestError first, so its ContentPolicyViolationErrorRetries never applied.
    assert policy.retries_for(ContentPolicyViolationError("refused")) == 2
    assert policy.retries_for(ContextWindowExceededError("long")) == 0
    assert policy.retries_for(AuthenticationError("bad key")) == 1
    assert policy.retries_for(Timeout("slow")) == 5
    assert policy.retries_for(RateLimitError("slow down")) == 6
    assert policy.retries_for(BadGatewayError("garbled")) == 4
    assert policy.retries_for(APIError("odd 5xx", status_code=520)) == 4
    assert policy.retries_for(APIConnectionError("reset")) == 3  # no LiteLLM key: num_retries


def test_none_entries_mean_num_retries() -> None:
    policy = RouterRetryPolicy.parse(1, {"RateLimitErrorRetries": None})
    assert policy.retries_for(RateLimitError("x")) == 1


def test_policy_comes_from_router_settings() -> None:
    settings = parse_router_settings(num_retries=0, retry_policy={"TimeoutErrorRetries": 2})
    policy = RouterRetryPolicy.from_settings(settings)
    assert policy.retries_for(Timeout("x")) == 2
    assert policy.retries_for(RateLimitError("x")) == 0


def test_backoff_follows_the_exponential_curve_with_jitter() -> None:
    policy = RouterRetryPolicy()
    rng = random.Random(42)
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.backoff(InternalServerError("x"), attempt, rng) for _ in range(200)]
        assert all(0.75 * base <= d <= base for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > 0.1 * base  # jittered, not constant


def test_backoff_applies_to_errors_retried_by_policy_although_not_retryable() -> None:
    delay = RouterRetryPolicy().backoff(AuthenticationError("rotating"), 1, random.Random(0))
    assert 0.75 <= delay <= 1.0


def test_backoff_honours_retry_after_capped() -> None:
    policy = RouterRetryPolicy()
    rng = random.Random(0)
    assert policy.backoff(RateLimitError("x", retry_after=3.5), 0, rng) == 3.5
    assert policy.backoff(RateLimitError("x", retry_after=600.0), 0, rng) == 60.0
    assert policy.backoff(RateLimitError("x", retry_after=-1.0), 0, rng) == 0.0


def test_backoff_is_zero_when_other_deployments_can_serve() -> None:
    policy = RouterRetryPolicy()
    assert policy.backoff(RateLimitError("x", retry_after=30.0), 0, random.Random(0), healthy_left=2) == 0.0
    assert policy.backoff(InternalServerError("x"), 3, random.Random(0), healthy_left=1) == 0.0
