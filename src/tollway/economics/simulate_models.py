"""What a model named in a simulation's ``replace`` is, and what it costs (pure: configuration values and the
bundled price data, no I/O).

A name is a **model group** of the gateway's configuration (``model_name`` of ``model_list``) or a **provider model**
(``"openai/gpt-4o-mini"``, or a bare ``"gpt-4o-mini"`` whose provider tollway infers as ``tollway prices show``
does). A group is tried first.

- As a target (a value of ``replace``), a group is priced as its first deployment, in configuration order, that has
  a price (its ``input_cost_per_token``... overrides or the price data): the router may spread calls over several
  deployments, and the simulation cannot know how it would have; ``priced_as`` in the answer says which one it used.
  A provider model is priced from the price data. No price: ``model_not_priced`` (a group without a priced
  deployment, or a model of a known provider such as ``ollama/llama3``); a name that is neither a group nor a
  model of a known provider with a price: ``unknown_model``.
- As a source (a key of ``replace``), a name is known when it is a group or a priced model; otherwise it must name
  calls of the period that could be re-priced (a group since removed from the configuration, a self-hosted model
  without price): ``tollway.economics.simulate.unknown_sources`` checks that against the period's usage.

Prices are looked up per UTC day, at noon (``price_on``): genai-prices dates its price changes, and a day-time
window such as DeepSeek's off-peak hours is then outside noon, so the standard price applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from tollway.economics.simulate_request import SimulationError
from tollway.economics.tokenizer_ratios import Family, family_of

if TYPE_CHECKING:
    from tollway.pricing.cost import Price
    from tollway.pricing.overrides import PriceOverride
    from tollway.router.deployment import Deployment

__all__ = ["ModelDirectory", "Target", "noon"]

_NOON = time(12, tzinfo=UTC)


def noon(day: date) -> datetime:
    """The moment a day's prices are looked up at (12:00 UTC)."""
    return datetime.combine(day, _NOON)


@dataclass(frozen=True, slots=True)
class Target:
    """The model calls are re-priced as: ``name`` as asked, priced as ``provider/model`` with ``overrides``."""

    name: str
    provider: str
    model: str
    overrides: PriceOverride | None = None

    @property
    def priced_as(self) -> str:
        """``provider/model``."""
        return f"{self.provider}/{self.model}"

    @property
    def family(self) -> Family:
        """Its tokenizer family."""
        return family_of(self.model)

    def price_on(self, day: date) -> Price | None:
        """Its price on ``day`` (at noon UTC), None when unpriced."""
        from tollway.pricing import price_for

        return price_for(self.provider, self.model, at=noon(day), overrides=self.overrides)


def _deployment_target(name: str, deployment: Deployment) -> Target | None:
    """How ``deployment`` is priced (as ``tollway.proxy.estimate`` prices it); None when it cannot be resolved."""
    from tollway.calls import split_params
    from tollway.errors import TollwayError
    from tollway.pricing.overrides import parse_overrides
    from tollway.registry import resolve_model

    try:
        _, options = split_params(deployment.call_params)
        spec, model = resolve_model(deployment.model, options.custom_llm_provider)
        overrides = parse_overrides(options.prices) if options.prices else None
    except (TollwayError, ValueError):
        return None
    return Target(name, spec.name, model, overrides)


def _provider_model(name: str) -> tuple[str, str, bool]:
    """(provider, model, whether ``name`` spelled its provider out) of a provider model name."""
    from tollway.pricing.names import split_model

    provider, model = split_model(name)
    _, sep, rest = name.partition("/")
    return provider, model, bool(sep) and model == rest


class ModelDirectory:
    """The model groups of a configuration (from its deployments) and the price data, as the simulation asks them."""

    def __init__(self, deployments: Iterable[Deployment] = ()) -> None:
        self._groups: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            if "*" not in deployment.model_name:  # a wildcard group is a pattern, not a name to simulate
                self._groups.setdefault(deployment.model_name, []).append(deployment)

    @property
    def groups(self) -> frozenset[str]:
        """The model group names."""
        return frozenset(self._groups)

    def knows(self, name: str, day: date) -> bool:
        """Whether ``name`` is a model group or a model with a price on ``day``."""
        if name in self._groups:
            return True
        provider, model, _ = _provider_model(name)
        return Target(name, provider, model).price_on(day) is not None

    def target(self, name: str, day: date, *, param: str) -> Target:
        """What ``name`` is priced as on ``day`` (see the module docstring); SimulationError naming ``param``."""
        deployments = self._groups.get(name)
        if deployments is not None:
            for deployment in deployments:
                target = _deployment_target(name, deployment)
                if target is not None and target.price_on(day) is not None:
                    return target
            raise SimulationError(
                f"model group {name!r} has no deployment with a price: give one input_cost_per_token and "
                "output_cost_per_token in the configuration, or name a priced model",
                param=param,
                code="model_not_priced",
            )
        provider, model, explicit = _provider_model(name)
        target = Target(name, provider, model)
        if target.price_on(day) is not None:
            return target
        if explicit:
            raise SimulationError(
                f"{name!r} has no price (no price data for {provider}/{model}); name a priced model or a model group "
                "with prices",
                param=param,
                code="model_not_priced",
            )
        raise SimulationError(
            f"unknown model {name!r}: neither a model group of the configuration nor a priced model "
            "(see `tollway prices show MODEL`)",
            param=param,
            code="unknown_model",
        )
