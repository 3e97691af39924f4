"""Routing strategies and candidate filters: pure functions of deployments, their stats, a clock and a seeded RNG.

A strategy has one method, ``pick(candidates, rng) -> Candidate | None`` (None only when no candidate is eligible,
e.g. every one is at its rpm/tpm limit). The router filters first (``filter_candidates``: cooldowns, tags, region;
then ``priority_tier``: the lowest ``order`` present) and picks among what is left. Names are LiteLLM's
``routing_strategy`` values (``STRATEGIES``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from tollway.router.deployment import Deployment, DeploymentStats

if TYPE_CHECKING:
    from tollway.router.config import RouterSettings

__all__ = [
    "DEFAULT_TAG",
    "STRATEGIES",
    "Candidate",
    "LeastBusy",
    "LowestCost",
    "LowestLatency",
    "Strategy",
    "UsageBased",
    "WeightedShuffle",
    "choose",
    "filter_candidates",
    "price_per_1k",
    "priority_tier",
    "strategy_for",
]

# LiteLLM's tag for deployments that serve requests carrying no tags.
DEFAULT_TAG = "default"

_ZERO_STATS = DeploymentStats()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A deployment with what the shared state knows about it now; ``price`` (USD per 1k input + 1k output
    tokens) is only needed by ``LowestCost`` and is None when the deployment cannot be priced."""

    deployment: Deployment
    stats: DeploymentStats = _ZERO_STATS
    price: Decimal | None = None


class Strategy(Protocol):
    """One routing strategy: choose among eligible candidates."""

    def pick(self, candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
        """The chosen candidate, or None when none is eligible."""
        ...


def _random_among(best: Sequence[Candidate], rng: random.Random) -> Candidate | None:
    return rng.choice(best) if best else None


def _under_limits(candidate: Candidate) -> bool:
    dep, stats = candidate.deployment, candidate.stats
    if dep.rpm is not None and stats.rpm_used >= dep.rpm:
        return False
    return dep.tpm is None or stats.tpm_used < dep.tpm


@dataclass(frozen=True, slots=True)
class WeightedShuffle:
    """LiteLLM's ``simple-shuffle``: random, weighted by ``weight``, else ``rpm``, else ``tpm``, else uniform.

    The weight key is the first of weight/rpm/tpm that ANY candidate sets; LiteLLM looks only at
    ``healthy_deployments[0]``, so one unweighted first deployment made the whole group uniform. A candidate
    without the key weighs 0, as in LiteLLM. When every weight is 0 the pick is uniform (LiteLLM divides by the
    sum with no zero guard).
    """

    def pick(self, candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
        """A weighted random candidate."""
        if not candidates:
            return None
        weights = _weights(candidates)
        if weights is None:
            return rng.choice(candidates)
        return rng.choices(candidates, weights=weights)[0]


def _weight_key(deployment: Deployment) -> float | None:
    return deployment.weight


def _rpm_key(deployment: Deployment) -> float | None:
    return None if deployment.rpm is None else float(deployment.rpm)


def _tpm_key(deployment: Deployment) -> float | None:
    return None if deployment.tpm is None else float(deployment.tpm)


_WEIGHT_KEYS: tuple[Callable[[Deployment], float | None], ...] = (_weight_key, _rpm_key, _tpm_key)


def _weights(candidates: Sequence[Candidate]) -> list[float] | None:
    for key in _WEIGHT_KEYS:
        values = [key(c.deployment) for c in candidates]
        if any(v is not None for v in values):
            weights = [max(v or 0.0, 0.0) for v in values]
            return weights if sum(weights) > 0 else None
    return None


@dataclass(frozen=True, slots=True)
class LeastBusy:
    """LiteLLM's ``least-busy``: fewest requests in flight (counted atomically by the shared state, not by
    LiteLLM's read-modify-write of a cached dict); ties broken at random."""

    def pick(self, candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
        """The least busy candidate."""
        if not candidates:
            return None
        fewest = min(c.stats.in_flight for c in candidates)
        return _random_among([c for c in candidates if c.stats.in_flight == fewest], rng)


@dataclass(frozen=True, slots=True)
class LowestLatency:
    """LiteLLM's ``latency-based-routing``: lowest EWMA latency (time to first token for streams).

    Unmeasured candidates come first, at random, so every deployment gets measured (otherwise a new deployment
    would never be tried). ``buffer`` is LiteLLM's ``lowest_latency_buffer``: pick at random among candidates
    within ``best * (1 + buffer)``, which spreads load over near-equal deployments.
    """

    buffer: float = 0.0

    def pick(self, candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
        """The fastest candidate (or one within the buffer of it)."""
        unmeasured = [c for c in candidates if c.stats.latency is None]
        if unmeasured:
            return rng.choice(unmeasured)
        if not candidates:
            return None
        best = min(c.stats.latency or 0.0 for c in candidates)
        limit = best * (1.0 + self.buffer)
        return _random_among([c for c in candidates if (c.stats.latency or 0.0) <= limit], rng)


@dataclass(frozen=True, slots=True)
class UsageBased:
    """LiteLLM's ``usage-based-routing`` (v1 and v2): the most rpm/tpm headroom this minute.

    Headroom is the smaller remaining fraction of the limits a deployment sets (1.0 without limits); ties go to
    the lower absolute tpm use, then at random. Deployments at a limit are not eligible. The counters are the
    shared state's, so several routers see the same usage (LiteLLM reads local memory, #27736 / #40291).
    """

    def pick(self, candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
        """The candidate with the most headroom, or None when all are at a limit."""
        eligible = [c for c in candidates if _under_limits(c)]
        if not eligible:
            return None
        best = min(_usage_key(c) for c in eligible)
        return _random_among([c for c in eligible if _usage_key(c) == best], rng)


def _usage_key(candidate: Candidate) -> tuple[float, int]:
    dep, stats = candidate.deployment, candidate.stats
    fractions = [1.0]
    if dep.rpm:
        fractions.append(1.0 - stats.rpm_used / dep.rpm)
    if dep.tpm:
        fractions.append(1.0 - stats.tpm_used / dep.tpm)
    return (-min(fractions), stats.tpm_used)


@dataclass(frozen=True, slots=True)
class LowestCost:
    """LiteLLM's ``cost-based-routing``: the cheapest known price among deployments under their limits.

    Unpriced deployments (``price`` None) are used only when no priced one is eligible; ties at random.
    """

    def pick(self, candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
        """The cheapest eligible candidate."""
        eligible = [c for c in candidates if _under_limits(c)]
        priced = [c for c in eligible if c.price is not None]
        if not priced:
            return _random_among(eligible, rng)
        cheapest = min(c.price for c in priced if c.price is not None)
        return _random_among([c for c in priced if c.price == cheapest], rng)


# LiteLLM's routing_strategy names. usage-based-routing (v1) and v2 differ in LiteLLM only in how they count;
# tollway's counters are atomic in the shared state, so both names get the same policy.
STRATEGIES: Mapping[str, Callable[[Mapping[str, Any]], Strategy]] = {
    "simple-shuffle": lambda _args: WeightedShuffle(),
    "least-busy": lambda _args: LeastBusy(),
    "latency-based-routing": lambda args: LowestLatency(buffer=float(args.get("lowest_latency_buffer", 0.0))),
    "usage-based-routing": lambda _args: UsageBased(),
    "usage-based-routing-v2": lambda _args: UsageBased(),
    "cost-based-routing": lambda _args: LowestCost(),
}


def strategy_for(name: str, args: Mapping[str, Any] | None = None) -> Strategy:
    """The strategy named ``name`` (a LiteLLM ``routing_strategy``) with its ``routing_strategy_args``.

    Raises KeyError for an unknown name; ``parse_router_settings`` has already rejected it with a
    ConfigurationError listing the valid names.
    """
    return STRATEGIES[name](args or {})


def filter_candidates(
    deployments: Iterable[Deployment],
    stats: Mapping[str, DeploymentStats],
    now: float,
    *,
    tags: Collection[str] | None = None,
    match_any: bool = False,
    region: str | None = None,
) -> list[Deployment]:
    """The deployments that may serve a request at ``now``.

    - Cooling down (``stats[id].cooldown_until > now``): dropped.
    - ``tags`` None: no tag filtering (``enable_tag_filtering`` off). Otherwise a request's tags must all be on
      the deployment (any one with ``match_any``). A request without tags goes to the deployments tagged
      ``"default"`` when there are any, else to every deployment (LiteLLM's tag routing docs: untagged requests
      are served; "default" marks where they go). A tagged request nothing matches falls back to the
      ``"default"`` deployments, else gets none (the router reports it).
    - ``region`` (LiteLLM's ``region_name``, checked by its pre-call checks): only deployments in that region; a
      deployment with no region is dropped, because a region constraint is usually data residency and an
      unknown region cannot prove it.
    """
    ready = [d for d in deployments if not _cooling(stats.get(d.id), now)]
    if region is not None:
        ready = [d for d in ready if d.region == region]
    if tags is None:
        return ready
    wanted = frozenset(tags)
    defaults = [d for d in ready if DEFAULT_TAG in d.tags]
    if not wanted:
        return defaults or ready
    matched = [d for d in ready if (wanted & d.tags if match_any else wanted <= d.tags)]
    return matched or defaults


def _cooling(stats: DeploymentStats | None, now: float) -> bool:
    return stats is not None and stats.cooldown_until is not None and stats.cooldown_until > now


def priority_tier(deployments: Sequence[Deployment]) -> list[Deployment]:
    """Only the deployments of the lowest ``order`` present (LiteLLM's priority ``order``: 1 before 2).

    Deployments without ``order`` form the last tier, as in LiteLLM, which keeps only the minimum order when any
    deployment sets one. Call it after ``filter_candidates``, so a cooled-down tier gives way to the next one.
    """
    orders = [d.order for d in deployments if d.order is not None]
    if not orders:
        return list(deployments)
    lowest = min(orders)
    return [d for d in deployments if d.order == lowest]


def price_per_1k(deployment: Deployment) -> Decimal | None:
    """USD for 1k input plus 1k output tokens on ``deployment`` (its custom prices applied), or None if unpriced.

    LiteLLM's cost-based routing ranks by ``input_cost_per_token + output_cost_per_token``; this is the same sum
    per 1k tokens, in Decimal. Reads bundled price data only (no network).
    """
    from tollway.pricing import price_for
    from tollway.registry import resolve_model

    spec, upstream = resolve_model(deployment.model, deployment.call_params.get("custom_llm_provider"))
    overrides = {**deployment.model_info, **deployment.call_params}
    try:
        price = price_for(spec.name, upstream, overrides=overrides)
    except ValueError:
        return None
    if price is None or price.input is None or price.output is None:
        return None
    return (price.input + price.output) * 1000


def choose(
    settings: RouterSettings,
    deployments: Sequence[Deployment],
    stats: Mapping[str, DeploymentStats],
    now: float,
    *,
    tags: Collection[str] = (),
    excluded: Collection[str] = (),
    region: str | None = None,
    rng: random.Random,
    strategy: Strategy | None = None,
) -> Deployment | None:
    """The whole selection for one attempt: filter (cooldowns; ``tags`` when ``enable_tag_filtering``; ``region``),
    drop ``excluded`` ids (e.g. found at a limit by ``RouterState.acquire``), then pick with the configured
    strategy in the lowest ``order`` tier that has an eligible deployment. None when nothing is eligible.
    ``strategy``: the settings' strategy, built once by the caller (else built here).
    """
    if strategy is None:
        strategy = strategy_for(settings.routing_strategy, settings.routing_strategy_args)
    ready = filter_candidates(
        [d for d in deployments if d.id not in excluded] if excluded else deployments,
        stats,
        now,
        tags=tags if settings.enable_tag_filtering else None,
        match_any=settings.tag_filtering_match_any,
        region=region,
    )
    if len(ready) == 1:
        # One eligible deployment (the usual group of one): no choice to make, so no candidates, no weights and no
        # random draw; only the strategies that refuse a deployment at its rpm/tpm limit look at its stats.
        only = ready[0]
        if isinstance(strategy, UsageBased | LowestCost) and not _under_limits(
            Candidate(only, stats.get(only.id, _ZERO_STATS))
        ):
            return None
        return only
    priced = isinstance(strategy, LowestCost)
    while ready:
        tier = priority_tier(ready)
        candidates = [Candidate(d, stats.get(d.id, _ZERO_STATS), price_per_1k(d) if priced else None) for d in tier]
        chosen = strategy.pick(candidates, rng)
        if chosen is not None:
            return chosen.deployment
        # Every deployment of this tier is at a limit: the next tier serves, as LiteLLM's order fallback does.
        tier_ids = {d.id for d in tier}
        ready = [d for d in ready if d.id not in tier_ids]
    return None
