"""How many times the router retries a failed call, per error class, and how long it waits in between (pure).

LiteLLM's ``retry_policy`` names are accepted as they are (``BadRequestErrorRetries``, ``AuthenticationErrorRetries``,
``TimeoutErrorRetries``, ``RateLimitErrorRetries``, ``ContentPolicyViolationErrorRetries``,
``InternalServerErrorRetries``); an error class without an entry gets ``num_retries`` when it is retryable and 0
otherwise. The wait reuses ``tollway.retry.RetryPolicy``'s curve (0.5 s doubling to 8 s, jittered) and honours a
provider's ``retry-after``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tollway.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentPolicyViolationError,
    InternalServerError,
    RateLimitError,
    Timeout,
    TollwayError,
)
from tollway.retry import RetryPolicy

if TYPE_CHECKING:
    from tollway.router.config import RouterSettings

__all__ = ["RETRY_POLICY_KEYS", "RouterRetryPolicy"]

# LiteLLM key → the error class it covers. Checked most specific first (see ``retries_for``).
RETRY_POLICY_KEYS: Mapping[str, type[TollwayError]] = MappingProxyType(
    {
        "ContentPolicyViolationErrorRetries": ContentPolicyViolationError,
        "BadRequestErrorRetries": BadRequestError,
        "AuthenticationErrorRetries": AuthenticationError,
        "TimeoutErrorRetries": Timeout,
        "RateLimitErrorRetries": RateLimitError,
        "InternalServerErrorRetries": InternalServerError,
    }
)

# A retryable stand-in, so ``backoff`` draws from RetryPolicy's own curve even for an error the user chose to retry
# although it is not retryable (e.g. ``AuthenticationErrorRetries: 1`` while a key is being rotated).
_PROBE = RateLimitError("backoff probe")


@dataclass(frozen=True, slots=True)
class RouterRetryPolicy:
    """Retries per error class (``per_class``, LiteLLM key → count) with ``num_retries`` as the default."""

    num_retries: int = 2
    per_class: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    curve: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: RouterSettings) -> RouterRetryPolicy:
        """The policy ``parse_router_settings`` built (``settings.retry_policy``)."""
        return settings.retry_policy

    @classmethod
    def parse(cls, num_retries: int, retry_policy: Mapping[str, Any] | None) -> RouterRetryPolicy:
        """Validate LiteLLM's ``retry_policy`` mapping (unknown key or bad count → ConfigurationError naming it)."""
        counts: dict[str, int] = {}
        for key, value in (retry_policy or {}).items():
            if key not in RETRY_POLICY_KEYS:
                valid = ", ".join(sorted(RETRY_POLICY_KEYS))
                raise ConfigurationError(f"retry_policy.{key}: unknown error class; valid keys are {valid}")
            if value is None:
                continue  # LiteLLM's RetryPolicy model has every field Optional; None means "use num_retries"
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"retry_policy.{key}: expected a non-negative integer, got {value!r}")
            counts[key] = value
        return cls(num_retries=num_retries, per_class=MappingProxyType(counts))

    def retries_for(self, error: TollwayError) -> int:
        """How many retries the router makes (in total, for one request) after errors like ``error``.

        The most specific class wins. LiteLLM checks ``BadRequestError`` before ``ContentPolicyViolationError``,
        so ``ContentPolicyViolationErrorRetries`` never applies when ``BadRequestErrorRetries`` is set; tollway
        checks subclasses first.
        """
        for key, cls in RETRY_POLICY_KEYS.items():
            if key in self.per_class and isinstance(error, cls):
                return self.per_class[key]
        if "InternalServerErrorRetries" in self.per_class and isinstance(error, APIError) and error.status_code >= 500:
            return self.per_class["InternalServerErrorRetries"]
        return self.num_retries if error.retryable else 0

    def backoff(self, error: TollwayError, attempt: int, rng: random.Random, *, healthy_left: int = 0) -> float:
        """Seconds to wait before retry ``attempt + 1`` (``attempt`` 0-based: the attempt that just failed).

        With ``healthy_left`` other deployments able to serve, the retry goes to one of them at once, as LiteLLM
        does (``_time_to_sleep_before_retry``): the failing one is cooled down, so waiting gains nothing.
        Otherwise ``retry-after`` wins (capped at the curve's ``max_retry_after``; the router's deadline bounds
        the rest), else exponential backoff with jitter.
        """
        if healthy_left > 0:
            return 0.0
        if error.retry_after is not None:
            return max(0.0, min(error.retry_after, self.curve.max_retry_after))
        curve = RetryPolicy(
            num_retries=attempt + 1, initial_delay=self.curve.initial_delay, max_delay=self.curve.max_delay
        )
        delay = curve.delay(_PROBE, max(attempt, 0), rng)
        return delay if delay is not None else self.curve.max_delay  # unreachable: the probe always retries
