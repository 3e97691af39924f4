"""The governance entities as values: keys, users, teams (with members), customers, their limits, and a principal.

Records mirror the rows of ``tollway.storage.schema`` (the stores in ``tollway.storage.entities`` build them) and
are immutable: a change is a new record. ``to_api()`` gives the LiteLLM-shaped, JSON-ready dict the management API
returns (money as decimal strings, times as ISO 8601). ``limits_from_api`` / ``limits_changes`` validate the limit
fields of an API payload and name the first bad field (``InvalidFieldError.field``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "LIMIT_FIELDS",
    "CustomerRecord",
    "InvalidFieldError",
    "KeyRecord",
    "Limits",
    "ModelBudget",
    "Principal",
    "TeamMember",
    "TeamRecord",
    "UserRecord",
    "json_object",
    "limits_changes",
    "limits_from_api",
    "money_str",
    "str_list",
    "str_map",
]

LIMIT_FIELDS = (
    "max_budget",
    "soft_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "model_max_budget",
    "model_rpm_limit",
    "model_tpm_limit",
)
"""The limit columns every entity table has, and the payload fields ``limits_changes`` reads."""


class InvalidFieldError(ValueError):
    """An API payload field is invalid; ``field`` names it (``max_budget``, ``model_rpm_limit.gpt-4o``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _now() -> datetime:
    return datetime.now(UTC)


def money_str(amount: Decimal | None) -> str | None:
    """A Decimal as a plain decimal string without trailing zeros (``"0.000000075"``, ``"100"``); None stays None."""
    if amount is None:
        return None
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass(frozen=True, slots=True)
class ModelBudget:
    """A per-model budget: LiteLLM's ``{"budget_limit": ..., "time_period": "1d"}``."""

    budget_limit: Decimal
    time_period: str | None = None

    def to_api(self) -> dict[str, Any]:
        """``{"budget_limit": "0.5", "time_period": "1d"}``."""
        return {"budget_limit": money_str(self.budget_limit), "time_period": self.time_period}


@dataclass(frozen=True, slots=True)
class Limits:
    """Budgets and rate limits of a key, user, team or customer; None (or an empty mapping) means no limit."""

    max_budget: Decimal | None = None
    soft_budget: Decimal | None = None
    budget_duration: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    model_max_budget: Mapping[str, ModelBudget] = field(default_factory=dict)
    model_rpm_limit: Mapping[str, int] = field(default_factory=dict)
    model_tpm_limit: Mapping[str, int] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The limit fields, LiteLLM's names, JSON-ready."""
        return {
            "max_budget": money_str(self.max_budget),
            "soft_budget": money_str(self.soft_budget),
            "budget_duration": self.budget_duration,
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "max_parallel_requests": self.max_parallel_requests,
            "model_max_budget": {model: budget.to_api() for model, budget in self.model_max_budget.items()},
            "model_rpm_limit": dict(self.model_rpm_limit),
            "model_tpm_limit": dict(self.model_tpm_limit),
        }


def _stamps_api(record: KeyRecord | UserRecord | TeamRecord | CustomerRecord) -> dict[str, Any]:
    return {
        "metadata": dict(record.metadata),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "created_by": record.created_by,
        "updated_by": record.updated_by,
    }


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A virtual key as stored: its hash and display name, never the key itself."""

    token_hash: str
    key_name: str
    key_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # stable across regeneration: counters' scope
    key_alias: str | None = None
    role: str = "user"  # "admin" | "team_admin" | "user"
    user_id: str | None = None
    team_id: str | None = None
    customer_id: str | None = None
    models: tuple[str, ...] = ()  # allowed model groups; () = all
    aliases: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    blocked: bool = False
    expires: datetime | None = None
    limits: Limits = field(default_factory=Limits)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    created_by: str | None = None
    updated_by: str | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the key's expiry is at or before ``now`` (an aware datetime)."""
        return self.expires is not None and self.expires <= now

    def to_api(self) -> dict[str, Any]:
        """LiteLLM's key info shape (``token`` is the hash, as in LiteLLM)."""
        return {
            "token": self.token_hash,
            "key_name": self.key_name,
            "key_id": self.key_id,
            "key_alias": self.key_alias,
            "role": self.role,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "customer_id": self.customer_id,
            "models": list(self.models),
            "aliases": dict(self.aliases),
            "tags": list(self.tags),
            "blocked": self.blocked,
            "expires": _iso(self.expires),
            **self.limits.to_api(),
            **_stamps_api(self),
        }


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An internal user (someone who holds keys), LiteLLM's ``/user/*`` entity."""

    user_id: str
    user_email: str | None = None
    user_role: str = "internal_user"
    models: tuple[str, ...] = ()
    blocked: bool = False
    limits: Limits = field(default_factory=Limits)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    created_by: str | None = None
    updated_by: str | None = None

    def to_api(self) -> dict[str, Any]:
        """LiteLLM's user info shape."""
        return {
            "user_id": self.user_id,
            "user_email": self.user_email,
            "user_role": self.user_role,
            "models": list(self.models),
            "blocked": self.blocked,
            **self.limits.to_api(),
            **_stamps_api(self),
        }


@dataclass(frozen=True, slots=True)
class TeamMember:
    """A user's membership of a team."""

    user_id: str
    role: str = "user"  # "admin" | "user"
    created_at: datetime = field(default_factory=_now)

    def to_api(self) -> dict[str, Any]:
        """LiteLLM's ``members_with_roles`` item."""
        return {"user_id": self.user_id, "role": self.role}


@dataclass(frozen=True, slots=True)
class TeamRecord:
    """A team: shared budgets, limits and allowed models for its members' keys. ``members`` may be () when the
    record was loaded without them (the principal's team)."""

    team_id: str
    team_alias: str | None = None
    models: tuple[str, ...] = ()
    blocked: bool = False
    limits: Limits = field(default_factory=Limits)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[TeamMember, ...] = ()
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    created_by: str | None = None
    updated_by: str | None = None

    def to_api(self) -> dict[str, Any]:
        """LiteLLM's team info shape."""
        return {
            "team_id": self.team_id,
            "team_alias": self.team_alias,
            "models": list(self.models),
            "blocked": self.blocked,
            "members_with_roles": [member.to_api() for member in self.members],
            **self.limits.to_api(),
            **_stamps_api(self),
        }


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer: an end user of the caller's product (LiteLLM's "end user", ``/customer/*``)."""

    customer_id: str
    alias: str | None = None
    blocked: bool = False
    plan: str | None = None
    allowed_model_region: str | None = None
    default_model: str | None = None
    stripe_customer_id: str | None = None
    limits: Limits = field(default_factory=Limits)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    created_by: str | None = None
    updated_by: str | None = None

    def to_api(self) -> dict[str, Any]:
        """LiteLLM's end-user shape (``user_id`` is LiteLLM's name for the customer id; its budget fields are
        also under ``litellm_budget_table`` as LiteLLM returns them), plus tollway's own fields."""
        limits = self.limits.to_api()
        return {
            "customer_id": self.customer_id,
            "user_id": self.customer_id,
            "alias": self.alias,
            "blocked": self.blocked,
            "plan": self.plan,
            "allowed_model_region": self.allowed_model_region,
            "default_model": self.default_model,
            "stripe_customer_id": self.stripe_customer_id,
            **limits,
            "litellm_budget_table": limits,
            **_stamps_api(self),
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: its key and the key's user, team and customer (each None when absent or deleted)."""

    key: KeyRecord
    user: UserRecord | None = None
    team: TeamRecord | None = None
    customer: CustomerRecord | None = None


def limits_from_api(payload: Mapping[str, Any]) -> Limits:
    """The limits an API payload sets (absent fields: no limit); InvalidFieldError naming the first bad field."""
    return Limits(**limits_changes(payload))


def limits_changes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The limit fields present in ``payload``, validated and converted (None clears a limit): what an update sets.

    Money accepts numbers and decimal strings (floats through their shortest repr, so ``0.1`` is ``Decimal("0.1")``);
    counts accept whole numbers; ``budget_duration`` and per-model ``time_period`` are durations (``"1d"``, ``"1mo"``).
    """
    changes: dict[str, Any] = {}
    for name in ("max_budget", "soft_budget"):
        if name in payload:
            changes[name] = None if payload[name] is None else _money(payload[name], name)
    if "budget_duration" in payload:
        value = payload["budget_duration"]
        changes["budget_duration"] = None if value is None else _duration(value, "budget_duration")
    for name in ("rpm_limit", "tpm_limit", "max_parallel_requests"):
        if name in payload:
            changes[name] = None if payload[name] is None else _count(payload[name], name)
    if "model_max_budget" in payload:
        changes["model_max_budget"] = _model_budgets(payload["model_max_budget"])
    for name in ("model_rpm_limit", "model_tpm_limit"):
        if name in payload:
            raw = _mapping(payload[name], name)
            changes[name] = {model: _count(value, f"{name}.{model}") for model, value in raw.items()}
    return changes


def _money(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidFieldError(name, f"expected a number or a decimal string, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidFieldError(name, "must be a finite amount")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidFieldError(name, f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise InvalidFieldError(name, "must be a finite amount")
    if amount < 0:
        raise InvalidFieldError(name, f"must be >= 0, got {money_str(amount)}")
    # NUMERIC(28, 12) on PostgreSQL: more would be rounded there, so refuse it everywhere.
    exponent = amount.normalize().as_tuple().exponent
    if (isinstance(exponent, int) and exponent < -12) or amount.adjusted() >= 16:
        raise InvalidFieldError(name, "at most 16 digits before and 12 after the decimal point")
    return amount


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFieldError(name, f"expected a whole number, got {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        raise InvalidFieldError(name, f"expected a whole number, got {value!r}")
    count = int(value)
    if count < 0:
        raise InvalidFieldError(name, f"must be >= 0, got {count}")
    if count >= 2**63:
        raise InvalidFieldError(name, "too large")
    return count


def _duration(value: Any, name: str) -> str:
    from tollway.governance.durations import parse_duration

    if not isinstance(value, str):
        raise InvalidFieldError(name, f"expected a duration such as '1d' or '1mo', got {type(value).__name__}")
    try:
        return str(parse_duration(value))
    except ValueError as error:
        raise InvalidFieldError(name, str(error)) from None


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) and key for key in value):
        raise InvalidFieldError(name, "expected an object keyed by model name")
    return value


def _model_budgets(value: Any) -> dict[str, ModelBudget]:
    budgets: dict[str, ModelBudget] = {}
    for model, spec in _mapping(value, "model_max_budget").items():
        where = f"model_max_budget.{model}"
        if not isinstance(spec, Mapping) or "budget_limit" not in spec:
            raise InvalidFieldError(where, 'expected {"budget_limit": amount, "time_period": "1d"}')
        unknown = set(spec) - {"budget_limit", "time_period"}
        if unknown:
            raise InvalidFieldError(where, f"unknown field {sorted(unknown)[0]!r}")
        period = spec.get("time_period")
        budgets[model] = ModelBudget(
            _money(spec["budget_limit"], f"{where}.budget_limit"),
            None if period is None else _duration(period, f"{where}.time_period"),
        )
    return budgets


def str_list(value: Any, name: str) -> tuple[str, ...]:
    """A payload list of non-empty strings (``models``, ``tags``); None is empty."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
        raise InvalidFieldError(name, "expected a list of non-empty strings")
    return tuple(value)


def str_map(value: Any, name: str) -> dict[str, str]:
    """A payload object of string to string (``aliases``); None is empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and key and isinstance(item, str) and item for key, item in value.items()
    ):
        raise InvalidFieldError(name, "expected an object of non-empty strings")
    return dict(value)


def json_object(value: Any, name: str) -> dict[str, Any]:
    """A payload JSON object (``metadata``); None is empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise InvalidFieldError(name, "expected a JSON object")
    return dict(value)
