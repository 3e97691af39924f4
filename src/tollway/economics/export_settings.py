"""``general_settings.billing_export``: what the billing exporters run with, checked once at start (pure).

```yaml
general_settings:
  billing_export:
    interval: 10          # seconds between two passes when caught up (default 10)
    batch_size: 100       # spend rows per batch (1..1000, default 100)
    backfill: false       # true: start from the first spend row instead of the rows written from now on
    stripe:
      api_key: os.environ/STRIPE_API_KEY
      api_base: https://api.stripe.com        # optional (tests point it at a fake)
      event_name: llm_tokens                  # the meter's event name
      value: tokens                           # tokens | cost
      token_types: [input, output]            # optional: one event per type (or {input: meter_a, output: meter_b})
      markup: 1.2                             # optional, cost only: cost x markup
      cost_unit: "0.000001"                   # optional, cost only: USD per meter unit (default: a micro-dollar)
    cloudevents:
      url: https://openmeter.example/api/v1/events
      token: os.environ/OPENMETER_TOKEN       # optional bearer token
      source: tollway                         # optional CloudEvents source (default "tollway")
      type: tollway.llm.usage                 # optional CloudEvents type
```

``os.environ/NAME`` values are resolved here from the environment given (the config loader may have done it
already). Every problem is an ``ExportSettingsError`` naming the setting; a secret is never quoted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "TOKEN_TYPES",
    "CloudEventsSettings",
    "ExportSettings",
    "ExportSettingsError",
    "StripeExportSettings",
]

# What a meter event can count per spend row. "input" includes cached reads and cache writes, "output" includes
# reasoning (the canonical usage semantics, tollway.usage); "uncached_input" is input less both cache parts.
TOKEN_TYPES = ("total", "input", "uncached_input", "cached", "cache_write", "output", "reasoning")
MAX_BATCH = 1000
_ENV_PREFIX = "os.environ/"
_NAME_LIMIT = 100  # Stripe: event_name and identifier are at most 100 characters


class ExportSettingsError(ValueError):
    """A billing export setting is invalid (the message names it)."""


@dataclass(frozen=True, slots=True)
class StripeExportSettings:
    """Stripe Billing meter events (``POST /v1/billing/meter_events``).

    ``token_types`` maps each token type exported to its meter's event name (one event per type and row); empty
    means one event per row with input + output tokens (``value: tokens``) or the cost (``value: cost``).
    """

    api_key: str = field(repr=False)
    event_name: str
    value: str = "tokens"
    api_base: str | None = None
    token_types: Mapping[str, str] = field(default_factory=dict)
    markup: Decimal = Decimal(1)
    cost_unit: Decimal = Decimal("0.000001")
    customer_key: str = "stripe_customer_id"
    value_key: str = "value"
    concurrency: int = 8


@dataclass(frozen=True, slots=True)
class CloudEventsSettings:
    """CloudEvents 1.0 batches (``application/cloudevents-batch+json``) POSTed to ``url``."""

    url: str
    token: str | None = field(default=None, repr=False)
    source: str = "tollway"
    type: str = "tollway.llm.usage"
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """The exporters configured (at least one) and how they run."""

    stripe: StripeExportSettings | None = None
    cloudevents: CloudEventsSettings | None = None
    interval: float = 10.0
    batch_size: int = 100
    backfill: bool = False
    # How long one instance keeps the right to export (renewed every batch); after a crash another takes over then.
    lease_seconds: float = 60.0
    max_attempts: int = 5  # per request, for 429, 5xx and connection errors
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @property
    def exporters(self) -> tuple[str, ...]:
        """The names of the exporters configured."""
        return tuple(name for name in ("stripe", "cloudevents") if getattr(self, name) is not None)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], environ: Mapping[str, str]) -> ExportSettings | None:
        """The settings under ``settings["billing_export"]`` (a gateway config's settings), or None when absent."""
        raw = settings.get("billing_export")
        if raw is None:
            return None
        return cls.parse(raw, environ)

    @classmethod
    def parse(cls, raw: Any, environ: Mapping[str, str]) -> ExportSettings:
        """Check ``billing_export``'s mapping; ``ExportSettingsError`` names the first bad value."""
        path = "general_settings.billing_export"
        section = _mapping(path, raw, {"stripe", "cloudevents", "interval", "batch_size", "backfill"})
        stripe = section.get("stripe")
        cloudevents = section.get("cloudevents")
        if stripe is None and cloudevents is None:
            raise ExportSettingsError(f"{path}: configure stripe, cloudevents or both")
        return cls(
            stripe=None if stripe is None else _stripe(f"{path}.stripe", stripe, environ),
            cloudevents=None if cloudevents is None else _cloudevents(f"{path}.cloudevents", cloudevents, environ),
            interval=_number(f"{path}.interval", section.get("interval", 10.0), low=0.05, high=86_400),
            batch_size=int(_number(f"{path}.batch_size", section.get("batch_size", 100), low=1, high=MAX_BATCH)),
            backfill=_flag(f"{path}.backfill", section.get("backfill", False)),
        )


def _stripe(path: str, raw: Any, environ: Mapping[str, str]) -> StripeExportSettings:
    known = {"api_key", "api_base", "event_name", "value", "token_types", "markup", "cost_unit"}
    known |= {"customer_key", "value_key", "concurrency"}
    section = _mapping(path, raw, known)
    value = _text(f"{path}.value", section.get("value", "tokens"), environ)
    if value not in ("tokens", "cost"):
        raise ExportSettingsError(f"{path}.value: expected tokens or cost, got {value!r}")
    event_name = _name(f"{path}.event_name", section.get("event_name"), environ)
    token_types = _token_types(f"{path}.token_types", section.get("token_types"), event_name, environ)
    if token_types and value == "cost":
        raise ExportSettingsError(f"{path}.token_types: only with value: tokens (a cost is not split by type)")
    for name in ("markup", "cost_unit"):
        if name in section and value != "cost":
            raise ExportSettingsError(f"{path}.{name}: only with value: cost")
    return StripeExportSettings(
        api_key=_secret(f"{path}.api_key", section.get("api_key"), environ),
        event_name=event_name,
        value=value,
        api_base=_url(f"{path}.api_base", section["api_base"], environ) if section.get("api_base") else None,
        token_types=token_types,
        markup=_decimal(f"{path}.markup", section.get("markup", 1), environ),
        cost_unit=_decimal(f"{path}.cost_unit", section.get("cost_unit", "0.000001"), environ),
        customer_key=_name(f"{path}.customer_key", section.get("customer_key", "stripe_customer_id"), environ),
        value_key=_name(f"{path}.value_key", section.get("value_key", "value"), environ),
        concurrency=int(_number(f"{path}.concurrency", section.get("concurrency", 8), low=1, high=64)),
    )


def _cloudevents(path: str, raw: Any, environ: Mapping[str, str]) -> CloudEventsSettings:
    section = _mapping(path, raw, {"url", "token", "source", "type", "timeout"})
    token = section.get("token")
    return CloudEventsSettings(
        url=_url(f"{path}.url", section.get("url"), environ),
        token=_secret(f"{path}.token", token, environ) if token is not None else None,
        source=_name(f"{path}.source", section.get("source", "tollway"), environ, limit=1024),
        type=_name(f"{path}.type", section.get("type", "tollway.llm.usage"), environ, limit=1024),
        timeout=_number(f"{path}.timeout", section.get("timeout", 30.0), low=0.1, high=600),
    )


def _token_types(path: str, raw: Any, event_name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """A list of types (all to ``event_name``) or a mapping type -> event name."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        pairs = [(item, event_name) for item in raw]
    elif isinstance(raw, Mapping):
        pairs = [(kind, _name(f"{path}.{kind}", name, environ)) for kind, name in raw.items()]
    else:
        raise ExportSettingsError(f"{path}: expected a list of token types or a mapping type: event_name")
    found: dict[str, str] = {}
    for kind, name in pairs:
        if kind not in TOKEN_TYPES:
            raise ExportSettingsError(f"{path}: unknown token type {kind!r} (known: {', '.join(TOKEN_TYPES)})")
        if kind in found:
            raise ExportSettingsError(f"{path}: {kind} appears twice")
        found[kind] = name
    if not found:
        raise ExportSettingsError(f"{path}: name at least one token type, or leave it out")
    return found


def _resolve(path: str, value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX) :]
        if name not in environ:
            raise ExportSettingsError(f"{path}: environment variable {name} (from {value}) is not set")
        return environ[name]
    return value


def _mapping(path: str, raw: Any, known: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ExportSettingsError(f"{path}: expected a mapping")
    unknown = sorted(str(key) for key in raw if key not in known)
    if unknown:
        raise ExportSettingsError(f"{path}: unknown setting {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return raw


def _text(path: str, raw: Any, environ: Mapping[str, str]) -> str:
    value = _resolve(path, raw, environ)
    if not isinstance(value, str) or not value.strip():
        raise ExportSettingsError(f"{path}: expected a non-empty string")
    return value.strip()


def _name(path: str, raw: Any, environ: Mapping[str, str], *, limit: int = _NAME_LIMIT) -> str:
    value = _text(path, raw, environ)
    if len(value) > limit or not value.isprintable():
        raise ExportSettingsError(f"{path}: expected printable text of at most {limit} characters")
    return value


def _secret(path: str, raw: Any, environ: Mapping[str, str]) -> str:
    value = _resolve(path, raw, environ)
    if not isinstance(value, str) or not value.strip():
        raise ExportSettingsError(f"{path}: expected a non-empty string (value hidden)")
    return value.strip()


def _url(path: str, raw: Any, environ: Mapping[str, str]) -> str:
    value = _text(path, raw, environ)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExportSettingsError(f"{path}: expected an http:// or https:// URL")
    return value.rstrip("/") if parts.path in ("", "/") else value


def _number(path: str, raw: Any, *, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or not low <= raw <= high:
        raise ExportSettingsError(f"{path}: expected a number from {low:g} to {high:g}")
    return float(raw)


def _flag(path: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ExportSettingsError(f"{path}: expected true or false")
    return raw


def _decimal(path: str, raw: Any, environ: Mapping[str, str]) -> Decimal:
    """A positive Decimal; a YAML float goes through its repr, so ``1.2`` is exactly 1.2."""
    value = _resolve(path, raw, environ)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ExportSettingsError(f"{path}: expected a positive decimal number")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ExportSettingsError(f"{path}: expected a positive decimal number") from None
    if not number.is_finite() or number <= 0:
        raise ExportSettingsError(f"{path}: expected a positive decimal number")
    return number
