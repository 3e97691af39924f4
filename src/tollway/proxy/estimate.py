"""What a request may cost at most, before it is sent: the amount a budget reserves.

The deployment is not chosen yet, so the estimate is the dearest deployment of the model group at the request's
token counts: input from the body's size (a JSON body has at most one token per ~3 bytes of text in the
tokenizers in use, so size / 3 over-counts rather than under-counts), output from ``max_completion_tokens`` /
``max_tokens``, else a configured allowance. Over-reserving only delays the last requests of a budget until the
earlier ones settle; under-reserving is what lets budgets overshoot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from tollway.calls import split_params
from tollway.pricing import price_for, priced_as
from tollway.pricing.cost import Price, compute_cost
from tollway.pricing.overrides import PriceOverride, parse_overrides
from tollway.registry import resolve_model
from tollway.router.deployment import Deployment

__all__ = ["DEFAULT_OUTPUT_ALLOWANCE", "CostEstimator"]

DEFAULT_OUTPUT_ALLOWANCE = 1024
ZERO = Decimal(0)

_Target = tuple[str, str, PriceOverride | None]
# Prices are dated (genai-prices has price periods); a group's resolved prices are re-read this often.
PRICE_TTL_SECONDS = 3600.0


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

    def estimate(self, group: str, body_bytes: int, body: Mapping[str, Any]) -> Decimal:
        """The cost to reserve for a request of ``body_bytes`` to ``group`` (0 when no deployment is priced)."""
        output = _output_tokens(body, self._allowance)
        worst = ZERO
        for price in self._prices_of(group):
            total = _total(price, max(1, body_bytes // 3), output)
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


def _output_tokens(body: Mapping[str, Any], allowance: int) -> int:
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return allowance
