"""Prices and costs as values, and the arithmetic between them (pure: no data loading, no I/O, no floats).

A ``Price`` holds Decimal USD prices **per token** (per request for request units) for one model in one price
period; a ``Cost`` is what one call's ``TokenUsage`` cost at that price, with its breakdown and its source.

The split of a usage into billed parts follows ``TokenUsage``'s semantics (``input_tokens`` includes cache reads
and writes, ``output_tokens`` includes reasoning) and genai-prices' decomposition rule, so that both agree to the
last digit (tests/pricing compares them): a count is billed at the most specific price the model has, and a part
with no specific price falls back to its parent's price:

- cache reads → ``cache_read`` price, else the input price;
- 5-minute cache writes → ``cache_write``, else input; 1-hour writes → ``cache_write_1h``, else ``cache_write``
  (Anthropic bills 1-hour writes at 2x input and 5-minute writes at 1.25x, so a model whose data lacks a 1-hour price
  is billed at the 5-minute price: a documented under-estimate rather than a guess);
- audio input/output tokens → the audio price, else input/output;
- reasoning tokens → ``reasoning`` price, else output (every major provider bills thinking as output);
- the rest of the input and output at the plain prices.

Tiers follow genai-prices' "cliff" rule: once a call's total input tokens exceed a tier's ``start``, ALL its tokens
are priced at that tier (https://github.com/pydantic/genai-prices, ``TieredPrices``; Anthropic's and Google's
long-context pricing works this way). Nothing is rounded here: ``quantize`` is for display only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

__all__ = ["PRICE_FIELDS", "Cost", "Price", "PriceTier", "compute_cost", "quantize"]

ZERO = Decimal(0)

# The per-token (or per-request) price fields of a Price, in display order.
PRICE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
    "audio_input",
    "audio_output",
    "web_search",
    "request",
)


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Prices that replace the base prices once a call's input tokens exceed ``start`` (the cliff rule)."""

    start: int
    rates: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True, slots=True)
class Price:
    """USD prices of one model in one price period; ``None`` means the data has no such price.

    Token prices are per token; ``web_search`` is per search and ``request`` per call. ``source`` is
    ``"genai-prices <version>"``, ``"override"`` or ``"mock"``; ``provider_id``/``model_id`` name the entry that
    matched (genai-prices' ids). ``ignored`` lists price keys the data has that tollway does not bill (units
    ``TokenUsage`` does not count, e.g. per-hour audio or document pages).
    """

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    reasoning: Decimal | None = None
    audio_input: Decimal | None = None
    audio_output: Decimal | None = None
    web_search: Decimal | None = None
    request: Decimal | None = None
    tiers: tuple[PriceTier, ...] = ()
    source: str = ""
    provider_id: str | None = None
    model_id: str | None = None
    ignored: tuple[str, ...] = ()

    def for_input_tokens(self, input_tokens: int) -> Price:
        """The flat price for a call with this many input tokens (the highest tier crossed, else self)."""
        if not self.tiers or input_tokens <= self.tiers[0].start:
            return self
        rates: dict[str, Any] = {}
        for tier in self.tiers:  # sorted by start; a higher tier crossed overrides a lower one, key by key
            if input_tokens > tier.start:
                rates.update(tier.rates)
        return dataclasses.replace(self, tiers=(), **rates)

    def per_million(self) -> dict[str, Decimal]:
        """The base prices per million tokens (per thousand for searches and requests), as providers list them."""
        out: dict[str, Decimal] = {}
        for name in PRICE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                scale = 1000 if name in ("web_search", "request") else 1_000_000
                out[name] = value * scale
        return out


# Not frozen, read-only by convention (hashable by value as before): one is built on every request, and a frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1.3k instructions a field, callgrind).
@dataclass(slots=True, unsafe_hash=True)
class Cost:
    """The exact USD cost of one call.

    ``total == input + output + units``; ``parts`` breaks it down by billed part (``input``, ``cache_read``,
    ``cache_write``, ``cache_write_1h``, ``audio_input``, ``output``, ``reasoning``, ``audio_output``, ``web_search``,
    ``request``). ``estimated`` is copied from the usage (token counts tollway estimated itself). ``unpriced``
    names counted units the price has no price for (their cost is not in ``total``: a lower bound, flagged).
    """

    total: Decimal
    input: Decimal
    output: Decimal
    units: Decimal
    parts: tuple[tuple[str, Decimal], ...]
    source: str
    provider_id: str | None
    model_id: str | None
    estimated: bool = False
    unpriced: tuple[str, ...] = ()
    currency: str = "USD"

    def breakdown(self) -> dict[str, Decimal]:
        """``parts`` as a dict."""
        return dict(self.parts)


def quantize(amount: Decimal, places: int = 6) -> Decimal:
    """Round for display only (banker's rounding); never feed the result back into sums."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _fallback(*prices: Decimal | None) -> Decimal | None:
    for price in prices:
        if price is not None:
            return price
    return None


def _token_parts(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    counts: tuple[int, int, int, int, int, int],
) -> tuple[list[tuple[str, int, Decimal | None]], list[tuple[str, int, Decimal | None]]]:
    """Split the counts into (part, count, per-token price) for input and output (see the module docstring)."""
    cache_read, cache_write, write_1h, reasoning, audio_in, audio_out = counts
    write_1h = min(write_1h, cache_write)
    inputs: list[tuple[str, int, Decimal | None]] = []
    plain_in = input_tokens
    for name, count, rate in (
        ("cache_read", cache_read, price.cache_read),
        ("cache_write", cache_write - write_1h, price.cache_write),
        ("cache_write_1h", write_1h, _fallback(price.cache_write_1h, price.cache_write)),
        ("audio_input", audio_in, price.audio_input),
    ):
        if count and rate is not None:
            inputs.append((name, count, rate))
            plain_in -= count
    inputs.insert(0, ("input", max(plain_in, 0), price.input))
    outputs: list[tuple[str, int, Decimal | None]] = []
    plain_out = output_tokens
    for name, count, rate in (
        ("reasoning", reasoning, price.reasoning),
        ("audio_output", audio_out, price.audio_output),
    ):
        if count and rate is not None:
            outputs.append((name, count, rate))
            plain_out -= count
    outputs.insert(0, ("output", max(plain_out, 0), price.output))
    return inputs, outputs


def _units(price: Price, web_searches: int) -> tuple[Decimal, list[tuple[str, Decimal]], tuple[str, ...]]:
    """Per-call charges: web searches (per search) and a per-request fee; searches without a price are flagged."""
    parts: list[tuple[str, Decimal]] = []
    unpriced: tuple[str, ...] = ()
    if web_searches:
        if price.web_search is None:
            unpriced = ("web_search",)
        else:
            parts.append(("web_search", price.web_search * web_searches))
    if price.request is not None:
        parts.append(("request", price.request))
    return sum((amount for _, amount in parts), ZERO), parts, unpriced


def compute_cost(
    price: Price,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    reasoning_tokens: int = 0,
    audio_input_tokens: int = 0,
    audio_output_tokens: int = 0,
    web_searches: int = 0,
    estimated: bool = False,
) -> Cost | None:
    """Price these counts (``TokenUsage`` semantics) exactly; None when the price cannot bill the tokens counted.

    A call is unpriceable when it has input (or output) tokens and the price has neither a part price nor a plain
    price for them: a missing price is unknown, never zero.
    """
    flat = price.for_input_tokens(input_tokens)
    if (
        flat.input is not None
        and flat.output is not None
        and flat.request is None
        and not (
            cache_read_tokens
            or cache_write_tokens
            or reasoning_tokens
            or audio_input_tokens
            or audio_output_tokens
            or web_searches
        )
    ):
        return _plain_cost(flat.input, flat.output, price, (input_tokens, output_tokens), estimated=estimated)
    counts = (
        cache_read_tokens,
        cache_write_tokens,
        cache_write_1h_tokens,
        reasoning_tokens,
        audio_input_tokens,
        audio_output_tokens,
    )
    inputs, outputs = _token_parts(flat, input_tokens, output_tokens, counts)
    parts: list[tuple[str, Decimal]] = []
    sides = [ZERO, ZERO]
    for side, rows in enumerate((inputs, outputs)):
        for name, count, rate in rows:
            if rate is None:
                if count:
                    return None
                continue
            amount = rate * count
            parts.append((name, amount))
            sides[side] += amount
    units, unit_parts, unpriced = _units(flat, web_searches)
    parts.extend(unit_parts)
    return Cost(
        total=sides[0] + sides[1] + units,
        input=sides[0],
        output=sides[1],
        units=units,
        parts=tuple(parts),
        source=price.source,
        provider_id=price.provider_id,
        model_id=price.model_id,
        estimated=estimated,
        unpriced=unpriced,
    )


def _plain_cost(
    input_rate: Decimal, output_rate: Decimal, price: Price, tokens: tuple[int, int], *, estimated: bool
) -> Cost:
    """``compute_cost`` of a call with only plain input and output tokens (most calls), without the general
    split: the same parts, sums and Decimal operations in the same order, so the result is identical."""
    input_amount = input_rate * max(tokens[0], 0)
    output_amount = output_rate * max(tokens[1], 0)
    input_side = ZERO + input_amount
    output_side = ZERO + output_amount
    return Cost(
        total=input_side + output_side + ZERO,
        input=input_side,
        output=output_side,
        units=ZERO,
        parts=(("input", input_amount), ("output", output_amount)),
        source=price.source,
        provider_id=price.provider_id,
        model_id=price.model_id,
        estimated=estimated,
    )
