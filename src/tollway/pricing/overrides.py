"""Per-deployment custom prices, in LiteLLM's config names (``model_info``/``litellm_params``) or per million.

Accepted keys (LiteLLM's, per token, https://docs.litellm.ai/docs/proxy/custom_pricing):
``input_cost_per_token``, ``output_cost_per_token``, ``cache_read_input_token_cost``,
``cache_creation_input_token_cost``, ``cache_creation_input_token_cost_above_1hr``,
``output_cost_per_reasoning_token``, ``input_cost_per_audio_token``, ``output_cost_per_audio_token``,
``input_cost_per_token_batches`` / ``output_cost_per_token_batches`` (used for batch calls), and the long-context
tiers ``*_above_128k_tokens`` / ``*_above_200k_tokens`` of the input, output and cache prices. Per-million forms:
``input_cost_per_million_tokens``, ``output_cost_per_million_tokens``, ``cache_read_input_cost_per_million_tokens``,
``cache_creation_input_cost_per_million_tokens``, ``cache_creation_1h_input_cost_per_million_tokens``,
``output_cost_per_reasoning_million_tokens``, and genai-prices' own keys (``input_mtok``, ``output_mtok``,
``cache_read_mtok``, ``cache_write_mtok``, ``cache_write_1h_mtok``, ``output_reasoning_mtok``).
``base_model`` (``"provider/model"`` or a model of the same provider) prices a custom deployment name as that
model; explicit keys then replace that model's prices, one by one (an overridden price drops its tiers).

Values may be str, int, float or Decimal and are converted through ``str`` (``0.1`` stays exactly 0.1; never float
arithmetic). A negative or non-numeric value, or an unknown key that looks like a price (contains ``cost`` or ends
in ``_mtok``), is a ValueError naming the key; other keys (``mode``, ``max_tokens``, ids) are ignored, since
``model_info`` carries more than prices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tollway.pricing.cost import Price, PriceTier

__all__ = ["PriceOverride", "apply_override", "parse_overrides"]

# key → (Price field, exponent to per token). LiteLLM keys are per token (exponent 0).
_FLAT: Mapping[str, tuple[str, int]] = {
    "input_cost_per_token": ("input", 0),
    "output_cost_per_token": ("output", 0),
    "cache_read_input_token_cost": ("cache_read", 0),
    "cache_creation_input_token_cost": ("cache_write", 0),
    "cache_creation_input_token_cost_above_1hr": ("cache_write_1h", 0),
    "output_cost_per_reasoning_token": ("reasoning", 0),
    "input_cost_per_audio_token": ("audio_input", 0),
    "output_cost_per_audio_token": ("audio_output", 0),
    "input_cost_per_million_tokens": ("input", -6),
    "output_cost_per_million_tokens": ("output", -6),
    "cache_read_input_cost_per_million_tokens": ("cache_read", -6),
    "cache_creation_input_cost_per_million_tokens": ("cache_write", -6),
    "cache_creation_1h_input_cost_per_million_tokens": ("cache_write_1h", -6),
    "output_cost_per_reasoning_million_tokens": ("reasoning", -6),
    "input_mtok": ("input", -6),
    "output_mtok": ("output", -6),
    "cache_read_mtok": ("cache_read", -6),
    "cache_write_mtok": ("cache_write", -6),
    "cache_write_1h_mtok": ("cache_write_1h", -6),
    "output_reasoning_mtok": ("reasoning", -6),
}
_BATCH: Mapping[str, str] = {"input_cost_per_token_batches": "input", "output_cost_per_token_batches": "output"}
_TIER_FIELDS: Mapping[str, str] = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
}
_TIER_STARTS: Mapping[str, int] = {"_above_128k_tokens": 128_000, "_above_200k_tokens": 200_000}


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """Parsed custom prices of one deployment (hashable, so resolved prices can be cached per override)."""

    base_model: str | None = None
    rates: tuple[tuple[str, Decimal], ...] = ()
    batch_rates: tuple[tuple[str, Decimal], ...] = ()
    tiers: tuple[PriceTier, ...] = ()

    @property
    def has_prices(self) -> bool:
        """Whether any price is given (else only ``base_model`` matters)."""
        return bool(self.rates or self.batch_rates or self.tiers)


def _decimal(key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"price override {key!r} must be a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"price override {key!r} is not a number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"price override {key!r} must be a finite non-negative number, got {value!r}")
    return number


def _tier_key(key: str) -> tuple[str, int] | None:
    for suffix, start in _TIER_STARTS.items():
        if key.endswith(suffix) and key[: -len(suffix)] in _TIER_FIELDS:
            return _TIER_FIELDS[key[: -len(suffix)]], start
    return None


def parse_overrides(config: Mapping[str, Any] | PriceOverride | None) -> PriceOverride | None:
    """Parse a deployment's ``model_info`` (or ``litellm_params``) prices once, at configuration time."""
    if config is None or isinstance(config, PriceOverride):
        return config
    rates: dict[str, Decimal] = {}
    batch: dict[str, Decimal] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    base_model = config.get("base_model")
    if base_model is not None and not isinstance(base_model, str):
        raise ValueError(f"price override 'base_model' must be a model name, got {type(base_model).__name__}")
    for key, value in config.items():
        if key in _FLAT:
            name, exponent = _FLAT[key]
            rates[name] = _decimal(key, value).scaleb(exponent)
        elif key in _BATCH:
            batch[_BATCH[key]] = _decimal(key, value)
        elif (tier := _tier_key(key)) is not None:
            tiers.setdefault(tier[1], {})[tier[0]] = _decimal(key, value)
        elif "cost" in key or key.endswith("_mtok"):
            raise ValueError(f"unknown price override {key!r}; see tollway.pricing.overrides for accepted keys")
    if not (rates or batch or tiers or base_model):
        return None
    return PriceOverride(
        base_model=base_model or None,
        rates=tuple(sorted(rates.items())),
        batch_rates=tuple(sorted(batch.items())),
        tiers=tuple(PriceTier(start, tuple(sorted(r.items()))) for start, r in sorted(tiers.items())),
    )


def apply_override(base: Price | None, override: PriceOverride, *, batch: bool = False) -> Price | None:
    """``base`` with the override's prices laid over it; None when neither gives any price (pure)."""
    if not override.has_prices:
        return base
    rates: dict[str, Any] = dict(override.rates)
    if batch:
        rates.update(override.batch_rates)
    start = base if base is not None else Price()
    # An overridden price is flat unless the override gives its tiers: drop the base tiers' rates for it.
    kept = [
        PriceTier(tier.start, tuple((k, v) for k, v in tier.rates if k not in rates))
        for tier in start.tiers
        if not override.tiers
    ]
    tiers = tuple(t for t in kept if t.rates) + override.tiers
    return dataclasses.replace(
        start,
        **rates,
        tiers=tuple(sorted(tiers, key=lambda t: t.start)),
        source="override",
        model_id=start.model_id,
        provider_id=start.provider_id,
    )
