"""The model catalog: ``get_model_info`` and ``supports_*`` with LiteLLM's key names (data plus lookups).

Prices and the context window come from genai-prices (``context_window``); capability facts, which genai-prices
does not carry, come from the small table below, one row per model family, each citing the provider's model page.
A model is known when either source knows it. ``supports_*`` answer False for an unknown model (as LiteLLM's do);
``get_model_info`` raises ``NotFoundError`` naming it (LiteLLM raises a bare Exception "model isn't mapped yet").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tollway.errors import NotFoundError
from tollway.pricing.cost import Price
from tollway.pricing.names import genai_provider_ids, model_refs, split_model
from tollway.pricing.prices import lookup, resolve_price

__all__ = [
    "Capabilities",
    "capabilities",
    "get_model_info",
    "supports_function_calling",
    "supports_reasoning",
    "supports_vision",
]

_OPENAI = "https://platform.openai.com/docs/models"
_ANTHROPIC = "https://docs.anthropic.com/en/docs/about-claude/models/overview"
_GEMINI = "https://ai.google.dev/gemini-api/docs/models"
_DEEPSEEK = "https://api-docs.deepseek.com/quick_start/pricing"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one model family accepts; ``source`` cites the provider page the facts come from."""

    prefix: str
    mode: str
    max_input_tokens: int | None
    max_output_tokens: int | None
    vision: bool
    function_calling: bool
    reasoning: bool
    prompt_caching: bool
    response_schema: bool
    source: str


def _row(prefix: str, inp: int | None, out: int | None, flags: str, source: str, *, mode: str = "chat") -> Capabilities:
    # flags: v(ision) f(unction calling) r(easoning) c(aching) s(chema)
    return Capabilities(
        prefix=prefix,
        mode=mode,
        max_input_tokens=inp,
        max_output_tokens=out,
        vision="v" in flags,
        function_calling="f" in flags,
        reasoning="r" in flags,
        prompt_caching="c" in flags,
        response_schema="s" in flags,
        source=source,
    )


# Longest prefix wins. Context windows and output limits as each provider's model page states them.
_TABLE: tuple[Capabilities, ...] = (
    _row("gpt-5", 272_000, 128_000, "vfrcs", _OPENAI),
    _row("gpt-4.1", 1_047_576, 32_768, "vfcs", _OPENAI),
    _row("gpt-4o", 128_000, 16_384, "vfcs", _OPENAI),
    _row("gpt-4-turbo", 128_000, 4_096, "vf", _OPENAI),
    _row("gpt-3.5-turbo", 16_385, 4_096, "f", _OPENAI),
    _row("o1", 200_000, 100_000, "vfrcs", _OPENAI),
    _row("o1-mini", 128_000, 65_536, "r", _OPENAI),
    _row("o3", 200_000, 100_000, "vfrcs", _OPENAI),
    _row("o3-mini", 200_000, 100_000, "frcs", _OPENAI),
    _row("o4-mini", 200_000, 100_000, "vfrcs", _OPENAI),
    _row("text-embedding-3", 8_191, None, "", _OPENAI, mode="embedding"),
    _row("text-embedding-ada-002", 8_191, None, "", _OPENAI, mode="embedding"),
    _row("claude-opus-4-5", 200_000, 64_000, "vfrcs", _ANTHROPIC),
    _row("claude-opus-4-1", 200_000, 32_000, "vfrcs", _ANTHROPIC),
    _row("claude-opus-4", 200_000, 32_000, "vfrcs", _ANTHROPIC),
    _row("claude-sonnet-4", 200_000, 64_000, "vfrcs", _ANTHROPIC),
    _row("claude-haiku-4-5", 200_000, 64_000, "vfrcs", _ANTHROPIC),
    _row("claude-3-7-sonnet", 200_000, 64_000, "vfrcs", _ANTHROPIC),
    _row("claude-3-5-sonnet", 200_000, 8_192, "vfcs", _ANTHROPIC),
    _row("claude-3-haiku", 200_000, 4_096, "vfcs", _ANTHROPIC),
    _row("gemini-2.5-pro", 1_048_576, 65_536, "vfrcs", _GEMINI),
    _row("gemini-2.5-flash", 1_048_576, 65_536, "vfrcs", _GEMINI),
    _row("gemini-2.0-flash", 1_048_576, 8_192, "vfcs", _GEMINI),
    _row("gemini-embedding-001", 2_048, None, "", _GEMINI, mode="embedding"),
    _row("deepseek-chat", None, 8_192, "fcs", _DEEPSEEK),
    _row("deepseek-reasoner", None, 64_000, "frc", _DEEPSEEK),
)

# Vendor prefixes in Bedrock ids ("anthropic.claude-...") and date suffixes ("-20250929", "-2024-08-06").
_VENDOR = re.compile(r"^(?:[a-z0-9-]+/)?(?:anthropic|amazon|meta|mistral|cohere|deepseek|openai)\.")
_DATE = re.compile(r"-\d{4}-?\d{2}-?\d{2}(?:-v\d+)?$")


def capabilities(provider: str, model: str) -> Capabilities | None:
    """The capability row for a model (longest matching family prefix), or None."""
    best: Capabilities | None = None
    for ref in model_refs(provider, model):
        bare = _DATE.sub("", _VENDOR.sub("", ref.rpartition("/")[2] if "/" in ref else ref))
        for row in _TABLE:
            if bare.startswith(row.prefix) and (best is None or len(row.prefix) > len(best.prefix)):
                best = row
    return best


def _price_keys(price: Price | None) -> dict[str, Any]:
    if price is None:
        return {"input_cost_per_token": None, "output_cost_per_token": None}
    info: dict[str, Any] = {
        "input_cost_per_token": price.input,
        "output_cost_per_token": price.output,
        "cache_read_input_token_cost": price.cache_read,
        "cache_creation_input_token_cost": price.cache_write,
        "cache_creation_input_token_cost_above_1hr": price.cache_write_1h,
        "output_cost_per_reasoning_token": price.reasoning,
        "input_cost_per_audio_token": price.audio_input,
        "output_cost_per_audio_token": price.audio_output,
    }
    for tier in price.tiers:
        suffix = f"_above_{tier.start // 1000}k_tokens"
        for name, rate in tier.rates:
            key = {"input": "input_cost_per_token", "output": "output_cost_per_token"}.get(name)
            if key:
                info[key + suffix] = rate
    info["price_source"] = price.source
    return info


def get_model_info(model: str) -> dict[str, Any]:
    """LiteLLM-compatible facts about ``"provider/model"`` (or a bare name); prices are Decimal per token.

    Raises ``NotFoundError`` when neither genai-prices nor tollway's capability table knows the model.
    """
    provider, upstream = split_model(model)
    entry = lookup(provider, upstream)
    caps = capabilities(provider, upstream)
    if entry is None and caps is None:
        hint = "" if genai_provider_ids(provider, upstream) else f" (tollway has no price data for {provider!r})"
        raise NotFoundError(
            f"model {model!r} is not in tollway's model catalog{hint}; give its prices with input_cost_per_token/"
            "output_cost_per_token or base_model in the deployment's model_info",
            provider=provider,
            model=upstream,
        )
    context = entry.context_window if entry is not None else None
    max_input = context or (caps.max_input_tokens if caps else None)
    info: dict[str, Any] = {
        "key": upstream,
        "litellm_provider": provider,
        "provider": provider,
        "mode": caps.mode if caps else "chat",
        "max_input_tokens": max_input,
        "max_output_tokens": caps.max_output_tokens if caps else None,
        "max_tokens": caps.max_output_tokens if caps else None,
        **_price_keys(resolve_price(provider, upstream)),
        "supports_vision": bool(caps and caps.vision),
        "supports_function_calling": bool(caps and caps.function_calling),
        "supports_tool_choice": bool(caps and caps.function_calling),
        "supports_reasoning": bool(caps and caps.reasoning),
        "supports_prompt_caching": bool(caps and caps.prompt_caching),
        "supports_response_schema": bool(caps and caps.response_schema),
        "genai_prices_model": entry.model_id if entry else None,
        "genai_prices_provider": entry.provider_id if entry else None,
        "capabilities_source": caps.source if caps else None,
    }
    return info


def supports_vision(model: str) -> bool:
    """Whether the model accepts image input (False when unknown)."""
    caps = capabilities(*split_model(model))
    return bool(caps and caps.vision)


def supports_function_calling(model: str) -> bool:
    """Whether the model accepts tools (False when unknown)."""
    caps = capabilities(*split_model(model))
    return bool(caps and caps.function_calling)


def supports_reasoning(model: str) -> bool:
    """Whether the model produces reasoning/thinking tokens (False when unknown)."""
    caps = capabilities(*split_model(model))
    return bool(caps and caps.reasoning)
