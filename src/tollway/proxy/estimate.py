"""What a request may cost at most, before it is sent: the amount a budget reserves.

The deployment is not chosen yet, so the estimate is the dearest deployment of the model group at the request's
token counts: input from the body's size (a JSON body has at most one token per ~3 bytes of text in the
tokenizers in use, so size / 3 over-counts rather than under-counts), output from ``max_completion_tokens`` /
``max_tokens``, else a configured allowance. Over-reserving only delays the last requests of a budget until the
earlier ones settle; under-reserving is what lets budgets overshoot.

``reserve_nano`` is what the gateway reserves on every budgeted request: the estimate in nano-dollars (rounded up),
remembered per (group, input tokens, output tokens) until the group's prices are read again. The input tokens are
first rounded up to a multiple of a power of two at most a sixteenth of them (100 stays 100, 1,000 becomes 1,024),
so requests of about the same size share one entry: at most 6.25 % more is reserved, and the Decimal arithmetic
(~20k instructions, callgrind) is skipped for all but the first of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from tollway.calls import split_params
from tollway.governance.counters import usd_to_nano
from tollway.pricing import price_for, priced_as
from tollway.pricing.cost import Price, compute_cost
from tollway.pricing.overrides import PriceOverride, parse_overrides
from tollway.registry import resolve_model
from tollway.router.deployment import Deployment

__all__ = ["DEFAULT_OUTPUT_ALLOWANCE", "CostEstimator", "rounded_up"]

DEFAULT_OUTPUT_ALLOWANCE = 1024
ZERO = Decimal(0)

_Target = tuple[str, str, PriceOverride | None]
# Prices are dated (genai-prices has price periods); a group's resolved prices are re-read this often.
PRICE_TTL_SECONDS = 3600.0
# Remembered reservations at most; past this many the memo starts again empty.
_MAX_RESERVES = 4096


class CostEstimator:
    """Upper-bound cost estimates per model group, from the router's deployments and their prices."""

    def __init__(
        self,
        deployments: Iterable[Deployment],
        *,
        output_allowance: int = DEFAULT_OUTPUT_ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._targets: dict[str, list[_Target]] = {}
        for deployment in deployments:
            self._targets.setdefault(deployment.model_name, []).append(_target(deployment))
        self._allowance = output_allowance
        self._clock = clock
        self._prices: dict[str, tuple[float, list[Price]]] = {}
        self._reserves: dict[tuple[str, int, int], tuple[int, float]] = {}

    def estimate(self, group: str, body_bytes: int, body: Mapping[str, Any]) -> Decimal:
        """The cost to reserve for a request of ``body_bytes`` to ``group`` (0 when no deployment is priced)."""
        return self._worst(group, max(1, body_bytes // 3), _output_tokens(body, self._allowance))

    def reserve_nano(self, group: str, body_bytes: int, body: Mapping[str, Any]) -> int:
        """What a budget reserves for the request, in nano-dollars rounded up: ``estimate`` at the input tokens
        ``rounded_up``, remembered until the group's prices are read again (see the module docstring)."""
        key = (group, rounded_up(max(1, body_bytes // 3)), _output_tokens(body, self._allowance))
        found = self._reserves.get(key)
        if found is not None and found[1] > self._clock():
            return found[0]
        nano = usd_to_nano(self._worst(*key), round_up=True)
        if len(self._reserves) >= _MAX_RESERVES:
            self._reserves.clear()
        self._reserves[key] = (nano, self._prices[group][0])  # until the prices _worst read expire
        return nano

    def _worst(self, group: str, input_tokens: int, output_tokens: int) -> Decimal:
        worst = ZERO
        for price in self._prices_of(group):
            total = _total(price, input_tokens, output_tokens)
            if total is not None and total > worst:
                worst = total
        return worst

    def priced_models(self) -> list[tuple[str, str]]:
        """The (provider, model) whose price data prices each deployment, for ``pricing.prices.prefetch``."""
        return [priced_as(*target) for targets in self._targets.values() for target in targets]

    def _prices_of(self, group: str) -> list[Price]:
        """The priced deployments' prices for ``group``, resolved once an hour (not on every request)."""
        now = self._clock()
        cached = self._prices.get(group)
        if cached is not None and cached[0] > now:
            return cached[1]
        prices = [
            price
            for provider, model, overrides in self._targets.get(group, ())
            if (price := price_for(provider, model, overrides=overrides)) is not None
        ]
        self._prices[group] = (now + PRICE_TTL_SECONDS, prices)
        return prices


def _target(deployment: Deployment) -> _Target:
    _, options = split_params(deployment.call_params)
    spec, model = resolve_model(deployment.model, options.custom_llm_provider)
    return spec.name, model, parse_overrides(options.prices) if options.prices else None


def _total(price: Price, input_tokens: int, output_tokens: int) -> Decimal | None:
    """``compute_cost(...).total`` for plain input and output tokens. The usual plain price is summed here with
    ``compute_cost``'s very Decimal operations (so the amount is identical), without building a ``Cost``."""
    flat = price.for_input_tokens(input_tokens)
    if flat.input is not None and flat.output is not None and flat.request is None:
        return (ZERO + flat.input * input_tokens) + (ZERO + flat.output * max(output_tokens, 0)) + ZERO
    cost = compute_cost(price, input_tokens=input_tokens, output_tokens=output_tokens)
    return cost.total if cost is not None else None


def rounded_up(tokens: int) -> int:
    """``tokens`` rounded up to a multiple of the largest power of two at most a sixteenth of it (< 32: as it is)."""
    shift = tokens.bit_length() - 5
    return tokens if shift <= 0 else -(-tokens >> shift) << shift


def _output_tokens(body: Mapping[str, Any], allowance: int) -> int:
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return allowance
