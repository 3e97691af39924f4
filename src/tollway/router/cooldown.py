"""When a failing deployment is taken out of rotation, and for how long (pure: the router stores the result).

Rules, in order:

- ``disable`` (LiteLLM's ``disable_cooldowns``): never.
- Errors that are the request's fault (``BadRequestError`` and its subclasses: context window, content policy,
  unsupported params; budget and configuration errors) do not cool a deployment, as in LiteLLM
  (``_is_cooldown_required`` skips 4xx other than 401/404/408/429), unless ``allowed_fails_policy`` names their
  class explicitly.
- 429: ``max(retry_after, cooldown_time)``. LiteLLM's usage-based-v2 ignores ``retry-after`` (#7669); the provider
  knows when capacity returns, so tollway waits at least that long.
- 401, 403, 404: the deployment cannot work until someone fixes it, so it is cooled for ``cooldown_time``
  at once (a retry elsewhere is more useful than another try here).
- Otherwise (5xx, timeouts, resets): once the failures counted this minute exceed ``allowed_fails`` (or the
  class's ``allowed_fails_policy`` entry), ``cooldown_time``.

Single-deployment groups: LiteLLM never cools them on a 429, because when every deployment is cooled it fails at
once with "No deployments available" (#3646). Tollway cools them too (``cool_single_deployment=True``): its router
then waits for the soonest recovery (up to the request's timeout) instead of failing, which is the behaviour #3646
asks for, and it stops hammering a provider that said "wait". ``cool_single_deployment=False`` restores LiteLLM's
rule.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tollway.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Timeout,
    TollwayError,
)

if TYPE_CHECKING:
    from tollway.router.config import RouterSettings

__all__ = ["ALLOWED_FAILS_POLICY_KEYS", "CooldownPolicy", "soonest_recovery"]

# LiteLLM's AllowedFailsPolicy names → the error class each covers (most specific first).
ALLOWED_FAILS_POLICY_KEYS: Mapping[str, type[TollwayError]] = MappingProxyType(
    {
        "ContentPolicyViolationErrorAllowedFails": ContentPolicyViolationError,
        "BadRequestErrorAllowedFails": BadRequestError,
        "AuthenticationErrorAllowedFails": AuthenticationError,
        "TimeoutErrorAllowedFails": Timeout,
        "RateLimitErrorAllowedFails": RateLimitError,
        "InternalServerErrorAllowedFails": InternalServerError,
    }
)

_CANNOT_WORK = (AuthenticationError, PermissionDeniedError, NotFoundError)
_REQUEST_FAULT = (BadRequestError, BudgetExceededError, ConfigurationError)


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """Cooldown decisions for one router; ``allowed_fails_policy`` maps LiteLLM's ``*AllowedFails`` keys to counts."""

    cooldown_time: float = 5.0
    allowed_fails: int = 3
    allowed_fails_policy: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    disable: bool = False
    cool_single_deployment: bool = True

    @classmethod
    def from_settings(cls, settings: RouterSettings) -> CooldownPolicy:
        """The policy ``parse_router_settings`` built (``settings.cooldown``)."""
        return settings.cooldown

    @classmethod
    def parse(
        cls,
        *,
        cooldown_time: float = 5.0,
        allowed_fails: int = 3,
        allowed_fails_policy: Mapping[str, Any] | None = None,
        disable: bool = False,
    ) -> CooldownPolicy:
        """Validate LiteLLM's ``allowed_fails_policy`` (unknown key or bad count → ConfigurationError naming it)."""
        counts: dict[str, int] = {}
        for key, value in (allowed_fails_policy or {}).items():
            if key not in ALLOWED_FAILS_POLICY_KEYS:
                valid = ", ".join(sorted(ALLOWED_FAILS_POLICY_KEYS))
                raise ConfigurationError(f"allowed_fails_policy.{key}: unknown error class; valid keys are {valid}")
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"allowed_fails_policy.{key}: expected a non-negative integer, got {value!r}")
            counts[key] = value
        return cls(
            cooldown_time=cooldown_time,
            allowed_fails=allowed_fails,
            allowed_fails_policy=MappingProxyType(counts),
            disable=disable,
        )

    def after_error(self, error: TollwayError, failures_this_minute: int, group_size: int) -> float | None:
        """Seconds to cool the deployment that raised ``error`` down for, or None to keep it in rotation.

        ``failures_this_minute`` counts this deployment's failures in the current minute, this one included;
        ``group_size`` is the number of deployments in its model group.
        """
        if self.disable or (group_size <= 1 and not self.cool_single_deployment):
            return None
        allowed = self._allowed_for(error)
        if allowed is not None:
            # An explicit per-class policy replaces the built-in rules for that class, as in LiteLLM.
            return self._duration(error) if failures_this_minute > allowed else None
        if isinstance(error, _REQUEST_FAULT):
            return None
        if isinstance(error, _CANNOT_WORK) or error.status_code == 429:
            return self._duration(error)
        return self.cooldown_time if failures_this_minute > self.allowed_fails else None

    def _duration(self, error: TollwayError) -> float:
        if error.status_code == 429:
            return max(error.retry_after or 0.0, self.cooldown_time)
        return self.cooldown_time

    def _allowed_for(self, error: TollwayError) -> int | None:
        for key, cls in ALLOWED_FAILS_POLICY_KEYS.items():
            if key in self.allowed_fails_policy and isinstance(error, cls):
                return self.allowed_fails_policy[key]
        return None


def soonest_recovery(cooldowns: Mapping[str, float], deployment_ids: Collection[str] | None = None) -> float | None:
    """The earliest UNIX time at which one of the cooled deployments recovers (None when none is cooling).

    ``cooldowns`` is ``RouterState.cooldowns(now)``; ``deployment_ids`` restricts it to one model group's.
    The router sleeps until then (bounded by the request's deadline) when every candidate is cooling (#3646).
    """
    times = [until for dep_id, until in cooldowns.items() if deployment_ids is None or dep_id in deployment_ids]
    return min(times, default=None)
