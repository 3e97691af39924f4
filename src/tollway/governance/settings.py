"""Governance settings of one gateway process, resolved once at start from the config and the environment.

LiteLLM's names where LiteLLM has the setting: ``general_settings.allow_requests_on_db_unavailable``,
``fail_closed_budget_enforcement``, ``user_api_key_cache_ttl``, ``disable_spend_logs``,
``maximum_spend_logs_retention_period``, ``proxy_batch_write_at``; ``litellm_settings.max_end_user_budget`` (the
budget of customers not created through ``/customer/new``). Tollway's own: ``spend_spool_dir`` and
``default_customer_limits`` (any limit fields: ``{"rpm_limit": 60, "max_budget": 5, "budget_duration": "1d"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tollway.governance.durations import Duration, parse_duration
from tollway.governance.records import InvalidFieldError, Limits, limits_from_api

__all__ = ["GovernanceSettings", "GovernanceSettingsError"]

# Without Redis there is no invalidation channel: every key_cache_ttl seconds each instance reads the entity epoch
# (tollway.storage.epoch, one small query) and reloads its cached records when another instance changed one. That
# interval bounds how long a blocked key keeps working on another instance: within one second, as the issue
# promises, with room for the read itself. With Redis, invalidations are pushed and the interval only bounds a lost
# message.
TTL_WITHOUT_REDIS = 0.5
TTL_WITH_REDIS = 60.0


class GovernanceSettingsError(ValueError):
    """A governance setting is invalid (the message names it)."""


@dataclass(frozen=True, slots=True)
class GovernanceSettings:
    """What the governance services run with (see the module docstring for the config names)."""

    database_url: str
    redis_url: str | None = None
    redis_prefix: str = "tollway:"
    spool_dir: Path = Path(".tollway/spool")
    key_cache_ttl: float = TTL_WITHOUT_REDIS
    fail_closed: bool = False
    allow_on_db_unavailable: bool = False
    default_customer: Limits = field(default_factory=Limits)
    retention: Duration | None = None
    spend_logs: bool = True
    flush_interval: float = 0.5
    database_settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, settings: Mapping[str, Any], *, database_url: str, redis_url: str | None, cwd: Path
    ) -> GovernanceSettings:
        """Resolve from a ``GatewayConfig.settings`` mapping; ``GovernanceSettingsError`` names a bad value."""
        ttl = settings.get("user_api_key_cache_ttl")
        default_ttl = TTL_WITH_REDIS if redis_url else TTL_WITHOUT_REDIS
        spool = Path(str(settings.get("spend_spool_dir") or ".tollway/spool"))
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=str(settings.get("redis_prefix") or "tollway:"),
            spool_dir=spool if spool.is_absolute() else cwd / spool,
            key_cache_ttl=float(ttl) if ttl is not None else default_ttl,
            fail_closed=bool(settings.get("fail_closed_budget_enforcement", False)),
            allow_on_db_unavailable=bool(settings.get("allow_requests_on_db_unavailable", False)),
            default_customer=_default_customer(settings),
            retention=_retention(settings.get("maximum_spend_logs_retention_period")),
            spend_logs=not bool(settings.get("disable_spend_logs", False)),
            flush_interval=float(settings.get("proxy_batch_write_at") or 0.5),
            database_settings=settings,
        )


def _default_customer(settings: Mapping[str, Any]) -> Limits:
    raw = settings.get("default_customer_limits") or {}
    if not isinstance(raw, Mapping):
        raise GovernanceSettingsError("general_settings.default_customer_limits must be a mapping of limit fields")
    payload = dict(raw)
    budget = settings.get("max_end_user_budget")
    if budget is not None and "max_budget" not in payload:
        payload["max_budget"] = budget if not isinstance(budget, float) else Decimal(repr(budget))
    try:
        return limits_from_api(payload)
    except InvalidFieldError as error:
        raise GovernanceSettingsError(f"general_settings.default_customer_limits.{error}") from None


def _retention(value: Any) -> Duration | None:
    if value is None:
        return None
    try:
        return parse_duration(str(value))
    except ValueError as error:
        raise GovernanceSettingsError(f"general_settings.maximum_spend_logs_retention_period: {error}") from None
