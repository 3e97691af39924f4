"""Resolving a model's ``Price`` from genai-prices' data, once per model and price period (data loading only).

genai-prices (https://github.com/pydantic/genai-prices) is imported on first use, never by ``import tollway``. Its
``calc_price`` costs ~66 µs per call (../shared/PERF.md), so tollway looks a model up once, converts its prices to a
``Price`` once per price period, and does the per-call arithmetic itself (``cost.py``).

Price periods, as genai-prices defines them (``ModelInfo.get_prices``):

- ``prices`` is one ``ModelPrice`` or a list of ``ConditionalPrice``; the last whose constraint is active at the
  request's timestamp wins, else the first. Constraints are a start date (dated price changes) or a daily UTC time
  window (DeepSeek's off-peak prices), so the cache key is the *index* of the active entry, computed per call from
  the timestamp; never the model alone, which would freeze whichever period was seen first.
- ``price_variants`` override single keys for a request context (``{"processing": "batch"}``,
  ``{"service_tier": "flex"}``), first match per key, each with its own optional constraint; the key is the tuple
  of active variant indices. As genai-prices does, variants apply only to a provider's own models, not to models
  found through a fallback provider.

Caches (the module's only state, all ``functools`` caches, cleared together by ``clear_caches``):
``_snapshot`` (the data: a refreshed file from ``tollway prices update`` when present, else the bundled data),
``lookup`` (provider/model → matched entry, 4,096 entries) and ``_converted`` (entry/period/variants → Price).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tollway.pricing.cost import Price, PriceTier
from tollway.pricing.names import MOCK_PROVIDER, genai_provider_ids, model_refs

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot

__all__ = ["MOCK_PRICE", "ModelEntry", "clear_caches", "data_source", "lookup", "resolve_price", "snapshot"]

MOCK_PRICE = Price(
    input=Decimal(0), output=Decimal(0), source="mock", provider_id=MOCK_PROVIDER, model_id=MOCK_PROVIDER
)

# genai-prices price key → (Price field, scale exponent): "_mtok" prices are per million tokens, "_kcount" per
# thousand units (https://github.com/pydantic/genai-prices/blob/main/prices/units.yml).
_KEYS: Mapping[str, tuple[str, int]] = {
    "input_mtok": ("input", -6),
    "output_mtok": ("output", -6),
    "cache_read_mtok": ("cache_read", -6),
    "cache_write_mtok": ("cache_write", -6),
    "cache_write_5m_mtok": ("cache_write", -6),
    "cache_write_1h_mtok": ("cache_write_1h", -6),
    "output_reasoning_mtok": ("reasoning", -6),
    "input_audio_mtok": ("audio_input", -6),
    "output_audio_mtok": ("audio_output", -6),
    "web_searches_kcount": ("web_search", -3),
    "requests_kcount": ("request", -3),
}


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A matched genai-prices model; hashable by ids, holding the genai-prices objects for conversion."""

    provider_id: str
    model_id: str
    source: str
    model: Any = field(compare=False, hash=False, repr=False)  # genai_prices.types.ModelInfo
    conditional: bool = False
    variants: bool = False


@functools.cache
def snapshot() -> tuple[DataSnapshot, str]:
    """The price data and its source label; a refreshed data file wins over the bundled data."""
    import genai_prices
    from genai_prices import data_snapshot

    from tollway.pricing.refresh import load_cached_snapshot

    cached = load_cached_snapshot()
    if cached is not None:
        snap, fetched = cached
        return snap, f"genai-prices {genai_prices.__version__} (data fetched {fetched})"
    return data_snapshot.get_snapshot(), f"genai-prices {genai_prices.__version__}"


def data_source() -> str:
    """The label recorded with every cost priced from genai-prices data."""
    return snapshot()[1]


@functools.lru_cache(maxsize=4096)
def lookup(provider: str, model: str) -> ModelEntry | None:
    """The genai-prices model pricing ``provider/model`` (tollway names), or None when there is none."""
    provider_ids = genai_provider_ids(provider, model)
    if not provider_ids:
        return None
    snap, source = snapshot()
    for provider_id in provider_ids:
        for ref in model_refs(provider, model):
            try:
                found_provider, info = snap.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue
            own = any(info is m for m in found_provider.models)
            return ModelEntry(
                provider_id=found_provider.id,
                model_id=info.id,
                source=source,
                model=info,
                conditional=isinstance(info.prices, list),
                variants=bool(info.price_variants) and own,
            )
    return None


def clear_caches() -> None:
    """Forget the loaded data and every resolved price (after ``tollway prices update``)."""
    _converted.cache_clear()
    lookup.cache_clear()
    snapshot.cache_clear()


def _period(entry: ModelEntry, at: datetime) -> int:
    prices = entry.model.prices
    for index in range(len(prices) - 1, -1, -1):
        constraint = prices[index].constraint
        if constraint is None or constraint.active(at):
            return index
    return 0


def _active_variants(entry: ModelEntry, at: datetime, context: Mapping[str, str]) -> tuple[int, ...]:
    active: list[int] = []
    for index, variant in enumerate(entry.model.price_variants):
        if variant.constraint is not None and not variant.constraint.active(at):
            continue
        if all(context.get(key) == value for key, value in variant.when.items()):
            active.append(index)
    return tuple(active)


def resolve_price(
    provider: str, model: str, *, at: datetime | None = None, context: Mapping[str, str] | None = None
) -> Price | None:
    """The price of ``provider/model`` at ``at`` (default now) for a request context; None when unpriced.

    ``context`` selects genai-prices price variants, e.g. ``{"processing": "batch"}`` or
    ``{"service_tier": "flex"}``. The mock provider's price is zero.
    """
    if provider == MOCK_PROVIDER:
        return MOCK_PRICE
    entry = lookup(provider, model)
    if entry is None:
        return None
    if not entry.conditional and not (context and entry.variants):
        return _converted(entry, 0, ())
    when = at if at is not None else datetime.now(UTC)
    period = _period(entry, when) if entry.conditional else 0
    variants = _active_variants(entry, when, context) if context and entry.variants else ()
    return _converted(entry, period, variants)


@functools.lru_cache(maxsize=4096)
def _converted(entry: ModelEntry, period: int, variants: tuple[int, ...]) -> Price:
    info = entry.model
    standard = info.prices[period].prices if entry.conditional else info.prices
    values: dict[str, Any] = {k: v for k, v in vars(standard).items() if v is not None and not k.startswith("_")}
    overrides: dict[str, Any] = {}
    for index in variants:  # first match wins per key, as in ModelInfo.get_prices
        for key, value in vars(info.price_variants[index].prices).items():
            if value is not None and not key.startswith("_"):
                overrides.setdefault(key, value)
    values.update(overrides)
    return to_price(values, source=entry.source, provider_id=entry.provider_id, model_id=entry.model_id)


def to_price(values: Mapping[str, Any], *, source: str, provider_id: str | None, model_id: str | None) -> Price:
    """Convert genai-prices price keys (per million tokens, tiers as ``TieredPrices``) to a per-token ``Price``."""
    base: dict[str, Decimal] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    ignored: list[str] = []
    # A specific 5-minute write price wins over the generic write price.
    ordered = sorted(values.items(), key=lambda item: item[0] == "cache_write_5m_mtok")
    for key, value in ordered:
        target = _KEYS.get(key)
        if target is None:
            ignored.append(key)
            continue
        name, exponent = target
        if isinstance(value, Decimal):
            base[name] = value.scaleb(exponent)
            continue
        base[name] = value.base.scaleb(exponent)  # TieredPrices
        for tier in value.tiers:
            tiers.setdefault(tier.start, {})[name] = tier.price.scaleb(exponent)
    return Price(
        **base,
        tiers=tuple(PriceTier(start, tuple(sorted(rates.items()))) for start, rates in sorted(tiers.items())),
        source=source,
        provider_id=provider_id,
        model_id=model_id,
        ignored=tuple(sorted(ignored)),
    )
