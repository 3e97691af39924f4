"""CooldownPolicy decisions per error class, with counts passed in (the state counts; the policy decides)."""

from __future__ import annotations

import pytest

from tollway.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    TollwayError,
)
from tollway.router.config import parse_router_settings
from tollway.router.cooldown import CooldownPolicy, soonest_recovery

POLICY = CooldownPolicy()  # LiteLLM's defaults: 5 s, 3 allowed fails


def test_rate_limit_honours_retry_after_but_never_less_than_cooldown_time() -> None:
    # #7669: LiteLLM's usage-based-v2 ignored retry-after; the provider knows when capacity returns.
    assert POLICY.after_error(RateLimitError("slow down", retry_after=30.0), 1, 3) == 30.0
    assert POLICY.after_error(RateLimitError("slow down", retry_after=1.0), 1, 3) == 5.0
    assert POLICY.after_error(RateLimitError("slow down"), 1, 3) == 5.0
    assert POLICY.after_error(APIError("429 without class", status_code=429, retry_after=12.0), 1, 3) == 12.0


@pytest.mark.parametrize("error", [AuthenticationError("bad key"), PermissionDeniedError("no"), NotFoundError("gone")])
def test_a_deployment_that_cannot_work_cools_at_once(error: TollwayError) -> None:
    assert POLICY.after_error(error, 1, 3) == 5.0


@pytest.mark.parametrize(
    "error", [InternalServerError("500"), ServiceUnavailableError("503"), Timeout("slow"), APIConnectionError("reset")]
)
def test_transient_failures_cool_only_past_allowed_fails(error: TollwayError) -> None:
    assert POLICY.after_error(error, 3, 3) is None
    assert POLICY.after_error(error, 4, 3) == 5.0
    assert CooldownPolicy(allowed_fails=0, cooldown_time=9.0).after_error(error, 1, 3) == 9.0


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("bad"),
        ContextWindowExceededError("too long"),
        ContentPolicyViolationError("refused"),
        BudgetExceededError("spent"),
    ],
)
def test_errors_of_the_request_never_cool_a_deployment(error: TollwayError) -> None:
    assert POLICY.after_error(error, 100, 3) is None


def test_allowed_fails_policy_per_error_class() -> None:
    policy = CooldownPolicy.parse(
        allowed_fails=3,
        allowed_fails_policy={
            "TimeoutErrorAllowedFails": 0,
            "ContentPolicyViolationErrorAllowedFails": 2,
            "RateLimitErrorAllowedFails": 1,
        },
    )
    assert policy.after_error(Timeout("slow"), 1, 3) == 5.0
    assert policy.after_error(InternalServerError("500"), 1, 3) is None  # falls back to allowed_fails
    assert policy.after_error(ContentPolicyViolationError("refused"), 2, 3) is None
    assert policy.after_error(ContentPolicyViolationError("refused"), 3, 3) == 5.0
    assert policy.after_error(RateLimitError("slow down", retry_after=20.0), 1, 3) is None
    assert policy.after_error(RateLimitError("slow down", retry_after=20.0), 2, 3) == 20.0


def test_disabled_cooldowns_never_cool() -> None:
    policy = CooldownPolicy(disable=True)
    assert policy.after_error(RateLimitError("x", retry_after=10.0), 50, 3) is None
    assert policy.after_error(AuthenticationError("x"), 50, 3) is None


def test_single_deployment_groups_are_cooled_unless_litellm_behaviour_is_asked_for() -> None:
    # Tollway cools a lone deployment too: the router then waits for its recovery instead of failing (#3646).
    assert POLICY.after_error(RateLimitError("x", retry_after=7.0), 1, 1) == 7.0
    litellm_like = CooldownPolicy(cool_single_deployment=False)
    assert litellm_like.after_error(RateLimitError("x", retry_after=7.0), 1, 1) is None
    assert litellm_like.after_error(RateLimitError("x", retry_after=7.0), 1, 2) == 7.0


def test_policy_comes_from_router_settings() -> None:
    settings = parse_router_settings(cooldown_time=2, allowed_fails=0, disable_cooldowns=False)
    policy = CooldownPolicy.from_settings(settings)
    assert policy.after_error(InternalServerError("500"), 1, 2) == 2.0
    assert CooldownPolicy.from_settings(parse_router_settings(disable_cooldowns=True)).disable is True


def test_soonest_recovery() -> None:
    cooldowns = {"a": 130.0, "b": 110.0, "c": 120.0}
    assert soonest_recovery(cooldowns) == 110.0
    assert soonest_recovery(cooldowns, {"a", "c"}) == 120.0
    assert soonest_recovery(cooldowns, {"z"}) is None
    assert soonest_recovery({}) is None
