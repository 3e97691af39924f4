"""Cost truth: the exact price of a call, the model catalog and token counting.

``price_usage(provider, model, usage)`` is the one call a client makes per response: it resolves the model's
``Price`` (genai-prices data, cached per model and price period, or a deployment's overrides) and returns an exact
Decimal ``Cost`` recording its source, or None when the call cannot be priced ("unpriced", never 0).
``completion_cost``, ``cost_per_token``, ``get_model_info``, ``supports_*`` and ``token_counter`` are LiteLLM's
functions with LiteLLM's shapes, except that money is Decimal.

Importing this package does not import genai-prices; the first price lookup does (~130 ms, once).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from tollway.pricing.catalog import get_model_info, supports_function_calling, supports_reasoning, supports_vision
from tollway.pricing.cost import Cost, Price, PriceTier, compute_cost, quantize
from tollway.pricing.names import MOCK_PROVIDER, split_model
from tollway.pricing.overrides import PriceOverride, apply_override, parse_overrides
from tollway.pricing.prices import resolve_price
from tollway.pricing.tokens import estimate_usage, token_counter
from tollway.usage import TokenUsage

__all__ = [
    "Cost",
    "Price",
    "PriceOverride",
    "PriceTier",
    "completion_cost",
    "cost_per_token",
    "estimate_usage",
    "get_model_info",
    "parse_overrides",
    "price_for",
    "price_usage",
    "priced_as",
    "quantize",
    "supports_function_calling",
    "supports_reasoning",
    "supports_vision",
    "token_counter",
]

_BATCH_CONTEXT: Mapping[str, str] = {"processing": "batch"}


# Cache of override-merged prices (Price and PriceOverride are frozen and hashable); documented module state.
_merged = functools.lru_cache(maxsize=1024)(apply_override)


def price_for(
    provider: str,
    model: str,
    *,
    at: datetime | None = None,
    overrides: Mapping[str, Any] | PriceOverride | None = None,
    batch: bool = False,
    service_tier: str | None = None,
) -> Price | None:
    """The ``Price`` that prices a call to ``provider/model`` at ``at`` (default now); None when unpriced.

    ``overrides``: the deployment's custom prices (see ``tollway.pricing.overrides``); parse them once with
    ``parse_overrides`` for speed. ``batch`` and ``service_tier`` select genai-prices' price variants (batch
    discounts, flex/priority tiers) where the data has them.
    """
    override = parse_overrides(overrides)
    context: Mapping[str, str] | None = None
    if batch:
        context = _BATCH_CONTEXT
    elif service_tier:
        context = {"service_tier": service_tier}
    base_provider, base_model = priced_as(provider, model, override)
    price = resolve_price(base_provider, base_model, at=at, context=context)
    if override is None:
        return price
    return _merged(price, override, batch=batch)


def priced_as(provider: str, model: str, override: PriceOverride | None) -> tuple[str, str]:
    """The provider and model whose data prices a deployment (its override's ``base_model``, else itself)."""
    if override is not None and override.base_model:
        return _base_model(provider, override.base_model)
    return provider, model


def _base_model(provider: str, base_model: str) -> tuple[str, str]:
    # "azure/gpt-4o" names its provider; a bare "gpt-4o" on an azure deployment stays an azure model.
    if "/" in base_model:
        named, rest = split_model(base_model)
        if base_model.startswith(named + "/"):
            return named, rest
    return provider, base_model


def price_usage(
    provider: str,
    model: str,
    usage: TokenUsage,
    *,
    at: datetime | None = None,
    overrides: Mapping[str, Any] | PriceOverride | None = None,
    batch: bool = False,
    service_tier: str | None = None,
) -> Cost | None:
    """The exact cost of one call (tollway provider name and upstream model id, as in ``Endpoint``).

    None when the model has no known price and no override prices it, or when the price cannot bill the tokens
    counted (e.g. output tokens on a model with no output price). The mock provider costs exactly 0.
    """
    price = price_for(provider, model, at=at, overrides=overrides, batch=batch, service_tier=service_tier)
    if price is None:
        return None
    return compute_cost(
        price,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        audio_input_tokens=usage.audio_input_tokens,
        audio_output_tokens=usage.audio_output_tokens,
        web_searches=usage.web_search_requests,
        estimated=usage.estimated,
    )


def _meta_cost(meta: Any, at: datetime | None, overrides: Any) -> Decimal | None:
    known = getattr(meta, "cost", None)  # set by the client when it priced the call
    if isinstance(known, Cost):
        return known.total
    if isinstance(known, Decimal):
        return known
    if meta.mock or meta.provider == MOCK_PROVIDER:
        return Decimal(0)
    if meta.usage is None:
        return None
    cost = price_usage(meta.provider, meta.model, meta.usage, at=at, overrides=overrides)
    return cost.total if cost is not None else None


def _response_cost(response: Any, at: datetime | None, overrides: Any) -> Decimal | None:
    meta = getattr(response, "meta", None)
    if meta is not None:
        return _meta_cost(meta, at, overrides)
    # A response built by hand: its own "model" and OpenAI "usage" JSON, provider inferred from the model name.
    usage = response.get("usage") if hasattr(response, "get") else None
    model = response.get("model") if hasattr(response, "get") else None
    if not usage or not model:
        return None
    raw = usage.to_dict() if hasattr(usage, "to_dict") else usage
    cost = price_usage(*split_model(str(model)), TokenUsage.from_openai(raw), at=at, overrides=overrides)
    return cost.total if cost is not None else None


def completion_cost(
    completion_response: Any = None,
    *,
    model: str | None = None,
    prompt: str = "",
    completion: str = "",
    messages: Sequence[Mapping[str, Any]] | None = None,
    at: datetime | None = None,
    overrides: Mapping[str, Any] | PriceOverride | None = None,
) -> Decimal | None:
    """USD cost of a response (ChatCompletion, EmbeddingResponse...), or None when it cannot be priced.

    Uses ``response.meta.cost`` when the client already priced it, else prices ``meta``'s provider, model and
    usage. LiteLLM's text form ``completion_cost(model="provider/model", prompt=..., completion=...)`` (or
    ``messages=``) prices estimated token counts (``token_counter``): an estimate, never exact.
    """
    if completion_response is not None:
        return _response_cost(completion_response, at, overrides)
    if model is None:
        raise ValueError("completion_cost needs a response, or model= with prompt/messages and completion")
    provider, upstream = split_model(model)
    chat = list(messages) if messages else [{"role": "user", "content": prompt}] if prompt else []
    usage = estimate_usage(model, chat, completion)
    cost = price_usage(provider, upstream, usage, at=at, overrides=overrides)
    return cost.total if cost is not None else None


def cost_per_token(
    model: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    *,
    usage: TokenUsage | None = None,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    reasoning_tokens: int = 0,
    custom_llm_provider: str | None = None,
    at: datetime | None = None,
    overrides: Mapping[str, Any] | PriceOverride | None = None,
) -> tuple[Decimal, Decimal] | None:
    """LiteLLM's ``(prompt cost, completion cost)`` in USD for ``"provider/model"``; None when unpriced.

    ``prompt_tokens`` includes cached reads and cache writes (as ``TokenUsage.input_tokens`` and LiteLLM's usage
    do); ``usage`` replaces the counts when given. Per-call units (web searches, request fees) are in the prompt
    cost, so the two always sum to the total.
    """
    provider, upstream = (custom_llm_provider, model) if custom_llm_provider else split_model(model)
    counts = usage or TokenUsage(
        input_tokens=prompt_tokens,
        output_tokens=completion_tokens,
        cache_read_tokens=cache_read_input_tokens,
        cache_write_tokens=cache_creation_input_tokens,
        reasoning_tokens=reasoning_tokens,
    )
    cost = price_usage(provider, upstream, counts, at=at, overrides=overrides)
    if cost is None:
        return None
    return cost.input + cost.units, cost.output
