"""The model-swap simulator (``POST /simulate``, ``tollway simulate``): recorded usage re-priced at other models'
prices, and what that does to each customer's margin (pure: usage groups and revenue records in, a report out).

How a simulation is computed:

- **Baseline** is the recorded cost of the period's calls (``spend_logs.cost``, exact), unpriced calls counting 0 as
  in ``GET /margin``, so each customer's ``baseline_cost`` and ``margin_before`` are the margin report's figures.
- **Which calls are substituted**: successful calls (status 200) that were not answered from tollway's response
  cache (those cost nothing on any model), within ``features``/``tags`` when given, whose model matches a key of
  ``replace``: its model group first, else its provider model as ``provider/model``, else its bare model id. One
  substitution per call, never chained (``{"a": "b", "b": "c"}`` prices a's calls as b and b's as c).
- **Simulated** cost of a substituted call = its recorded token counts (input, cached, cache-write, output,
  reasoning) x the tokenizer ratio (``tollway.economics.tokenizer_ratios``: the target family's ratio over the
  source model's, rounded to 4 places) priced at the target's price of the call's UTC day by
  ``tollway.pricing.compute_cost``: the very arithmetic that prices a live call (cache reads at the cache price, or
  the input price when the target has none; reasoning as output unless priced apart). A per-request fee is charged
  per call. Every other call keeps its recorded cost.
- **Sums, not rows, are priced**: the storage groups calls (customer x model group x provider model x price period x
  tier band) and sums their tokens in SQL. Prices are linear within a group, so pricing a sum equals adding up the
  calls' prices, except for **tiered prices** (e.g. a higher rate once a call's input exceeds 200k tokens, for all
  of that call's tokens: the cliff rule of ``tollway.pricing.cost``). So the plan's ``boundaries`` split calls by
  which tier thresholds their scaled input crosses, and each group is priced at its own tier: 2 calls of 150k input
  tokens stay at the base price even though their sum is 300k. The split is exact: a call crosses a threshold S of
  a target with ratio r exactly when its input tokens exceed floor(S / r).
- **Unpriced calls are never counted as $0 silently**: a substituted call whose recorded cost is unknown, or whose
  target price cannot bill its tokens (an embedding model has no output price), keeps its recorded cost (0 when
  unknown) on both sides, so savings never include a guess; they are counted in ``unpriced`` (per substitution, per
  customer and in total), and what the target would charge for the calls without a recorded cost is shown apart
  (``simulated_cost_of_baseline_unpriced``).
- **Margins**: revenue as ``GET /margin`` computes it (``tollway.economics.revenue``: prorated by days, refunds
  subtracted), in USD only (costs are USD); revenue in other currencies is listed under ``other_currencies``, never
  added. ``margin = revenue - cost`` before and after; percentages to two places, null when the base is 0.
  Customers come least profitable after the swap first.
- **What it does not model**: the target answering at another length, thinking longer or shorter, or caching
  differently (the same counts are scaled by one ratio, so simulated token counts may be fractional); 1-hour cache
  writes (the rows keep one cache-write count: priced at the target's 5-minute write price); batch or flex service
  tiers (the target's standard price). Within a UTC day a price is the day's price at noon.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from tollway.economics.margin import COST_CURRENCY, margin_pct
from tollway.economics.revenue import RevenueRecord, totals_by_customer
from tollway.economics.simulate_request import SimulationRequest, check_request
from tollway.economics.tokenizer_ratios import FAMILIES, RATIO_PLACES, applied_ratio, family_of
from tollway.governance.records import money_str

if TYPE_CHECKING:
    from tollway.economics.simulate_models import ModelDirectory, Target
    from tollway.pricing.cost import Price

__all__ = [
    "Plan",
    "SimulationReport",
    "Substitution",
    "UsageGroup",
    "make_plan",
    "reprice",
    "simulation_report",
    "tier_boundary",
    "unknown_sources",
]

_ZERO = Decimal(0)
_PERCENT = Decimal("0.01")
_RATIO_SCALE: int = 10**RATIO_PLACES


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Summed usage of recorded calls that are priced alike. ``eligible`` calls may be substituted (see the module
    docstring) and carry their models, price period (``segment``) and tier ``band``; other calls are summed per
    customer only. ``priced``: whether the calls' recorded cost is known (``cost`` is then its exact sum)."""

    customer_id: str | None
    eligible: bool = False
    model_group: str | None = None
    provider: str | None = None
    model: str | None = None
    segment: int = 0
    band: int = 0
    priced: bool = True
    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)

    def names(self) -> tuple[str, ...]:
        """The names its model answers to, in matching order: model group, ``provider/model``, model."""
        names = [self.model_group]
        if self.provider and self.model:
            names.append(f"{self.provider}/{self.model}")
        names.append(self.model)
        return tuple(name for name in names if name)


@dataclass(frozen=True, slots=True)
class Substitution:
    """Calls to ``source`` priced as ``target``, whose price in each price period of the plan is ``prices``."""

    source: str
    target: Target
    prices: tuple[Price | None, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked request with its substitutions resolved: the price periods (``segments``, the first day of each:
    the days on which some target's price changes) and the tier ``boundaries`` (input token counts; see the module
    docstring) the storage groups calls by."""

    request: SimulationRequest
    substitutions: tuple[Substitution, ...]
    segments: tuple[date, ...]
    boundaries: tuple[int, ...] = ()

    def substitution_for(self, group: UsageGroup) -> Substitution | None:
        """The substitution that applies to an eligible group (matching order in the module docstring)."""
        by_source = {substitution.source: substitution for substitution in self.substitutions}
        for name in group.names():
            if name in by_source:
                return by_source[name]
        return None


def tier_boundary(start: int, ratio: Decimal) -> int:
    """The input tokens above which a call's scaled input (``tokens x ratio``) exceeds ``start``: floor(start / ratio),
    in integers (``ratio`` has ``RATIO_PLACES`` places)."""
    scaled = max(int(ratio.scaleb(RATIO_PLACES)), 1)
    return (start * _RATIO_SCALE) // scaled


def _segments(days: Sequence[date], prices: Sequence[Sequence[Price | None]]) -> list[int]:
    """Indices of the days on which a price period starts (the first day, and every day some price changes)."""
    return [0] + [index for index in range(1, len(days)) if any(row[index] != row[index - 1] for row in prices)]


def _boundaries(substitutions: Iterable[Substitution]) -> tuple[int, ...]:
    """Every tier threshold of every target, for every source family the calls may have."""
    found: set[int] = set()
    for substitution in substitutions:
        starts = {tier.start for price in substitution.prices if price is not None for tier in price.tiers}
        for source in FAMILIES:
            ratio = applied_ratio(source, substitution.target.family)
            found.update(tier_boundary(start, ratio) for start in starts)
    return tuple(sorted(found))


def make_plan(request: SimulationRequest, directory: ModelDirectory) -> Plan:
    """Check ``request`` and resolve its targets (SimulationError naming the first bad one); sources are checked
    by the storage, against the period's calls as well."""
    check_request(request)
    days = [request.start + timedelta(days=offset) for offset in range(request.days)]
    targets = [
        directory.target(name, request.end, param=f"replace.{source}") for source, name in request.replace.items()
    ]
    daily = [[target.price_on(day) for day in days] for target in targets]
    starts = _segments(days, daily)
    substitutions = tuple(
        Substitution(source, target, tuple(prices[index] for index in starts))
        for source, target, prices in zip(request.replace, targets, daily, strict=True)
    )
    return Plan(request, substitutions, tuple(days[index] for index in starts), _boundaries(substitutions))


def unknown_sources(plan: Plan, directory: ModelDirectory, groups: Iterable[UsageGroup]) -> list[str]:
    """The keys of ``replace`` that are neither a model group, nor a priced model, nor a name of the period's
    substitutable calls (``groups``)."""
    request = plan.request
    unknown = [name for name in request.replace if not directory.knows(name, request.end)]
    if not unknown:
        return []
    seen = {name for group in groups if group.eligible for name in group.names()}
    return [name for name in unknown if name not in seen]


def _flat(price: Price, ratio: Decimal, boundaries: Sequence[int], band: int) -> Price:
    """The tierless price of a group's calls: the tiers that every call of tier band ``band`` crosses applied."""
    floor = boundaries[band - 1] if band > 0 else None
    crossed = [tier.start for tier in price.tiers if floor is not None and tier_boundary(tier.start, ratio) <= floor]
    flat = price.for_input_tokens(max(crossed) + 1) if crossed else price
    return dataclasses.replace(flat, tiers=())


def reprice(group: UsageGroup, substitution: Substitution, boundaries: Sequence[int]) -> Decimal | None:
    """What the target would have charged for a group's calls (see the module docstring); None when it cannot
    price them."""
    from tollway.pricing.cost import compute_cost

    price = substitution.prices[group.segment]
    if price is None:
        return None
    ratio = applied_ratio(family_of(group.model), substitution.target.family)
    flat = _flat(price, ratio, boundaries, group.band)
    cost = compute_cost(
        dataclasses.replace(flat, request=None),  # a per-call fee does not scale with tokens: added per call below
        input_tokens=group.input_tokens,
        output_tokens=group.output_tokens,
        cache_read_tokens=group.cached_tokens,
        cache_write_tokens=group.cache_write_tokens,
        reasoning_tokens=group.reasoning_tokens,
    )
    if cost is None:
        return None
    fee = flat.request * group.requests if flat.request is not None else _ZERO
    return cost.total * ratio + fee


# -- the report -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _CustomerTally:
    requests: int = 0
    substituted: int = 0
    unpriced: int = 0
    baseline: Decimal = _ZERO
    simulated: Decimal = _ZERO


@dataclass(slots=True)
class _SubstitutionTally:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_after: Decimal = _ZERO
    output_after: Decimal = _ZERO
    baseline: Decimal = _ZERO
    simulated: Decimal = _ZERO
    unpriced_baseline: int = 0
    unpriced_simulated: int = 0
    cost_of_unpriced: Decimal = _ZERO
    sources: dict[str, list[Any]] = field(default_factory=dict)  # "provider/model" -> [family, ratio, requests]


@dataclass(slots=True)
class _Tally:
    customers: dict[str | None, _CustomerTally] = field(default_factory=dict)
    substitutions: dict[str, _SubstitutionTally] = field(default_factory=dict)
    unpriced_baseline: int = 0

    def customer(self, customer_id: str | None) -> _CustomerTally:
        return self.customers.setdefault(customer_id, _CustomerTally())


def _substituted(group: UsageGroup, substitution: Substitution, plan: Plan, tally: _Tally) -> Decimal:
    """Count a substituted group; its simulated cost (its recorded cost when either side is unpriced)."""
    customer = tally.customer(group.customer_id)
    counts = tally.substitutions[substitution.source]
    customer.substituted += group.requests
    counts.requests += group.requests
    ratio = applied_ratio(family_of(group.model), substitution.target.family)
    counts.input_tokens += group.input_tokens
    counts.output_tokens += group.output_tokens
    counts.input_after += group.input_tokens * ratio
    counts.output_after += group.output_tokens * ratio
    source = f"{group.provider}/{group.model}" if group.provider and group.model else group.model or "(unknown)"
    counts.sources.setdefault(source, [family_of(group.model).name, ratio, 0])[2] += group.requests
    simulated = reprice(group, substitution, plan.boundaries)
    if not group.priced:
        counts.unpriced_baseline += group.requests
        counts.cost_of_unpriced += simulated or _ZERO
    if simulated is None:
        counts.unpriced_simulated += group.requests
    if simulated is None or not group.priced:
        customer.unpriced += group.requests
        return group.cost
    counts.baseline += group.cost
    counts.simulated += simulated
    return simulated


def _tally(plan: Plan, groups: Iterable[UsageGroup]) -> _Tally:
    tally = _Tally(substitutions={substitution.source: _SubstitutionTally() for substitution in plan.substitutions})
    for group in groups:
        customer = tally.customer(group.customer_id)
        customer.requests += group.requests
        customer.baseline += group.cost
        tally.unpriced_baseline += 0 if group.priced else group.requests
        substitution = plan.substitution_for(group) if group.eligible else None
        if substitution is None:
            customer.simulated += group.cost
            customer.unpriced += 0 if group.priced else group.requests
        else:
            customer.simulated += _substituted(group, substitution, plan, tally)
    return tally


def _pct(part: Decimal, whole: Decimal) -> str | None:
    """``100 * part / whole`` to two places (half up; never "-0.00"), None when ``whole`` is 0."""
    if whole == 0:
        return None
    return str((part * 100 / whole).quantize(_PERCENT, rounding=ROUND_HALF_UP) + 0)


def _costs(baseline: Decimal, simulated: Decimal) -> dict[str, Any]:
    savings = baseline - simulated
    return {
        "baseline_cost": money_str(baseline),
        "simulated_cost": money_str(simulated),
        "savings": money_str(savings),
        "savings_pct": _pct(savings, baseline),
    }


def _margins(revenue: Decimal, baseline: Decimal, simulated: Decimal) -> dict[str, Any]:
    before, after = revenue - baseline, revenue - simulated
    return {
        "revenue": money_str(revenue),
        "margin_before": money_str(before),
        "margin_after": money_str(after),
        "margin_pct_before": margin_pct(revenue, before),
        "margin_pct_after": margin_pct(revenue, after),
    }


def _substitution_row(substitution: Substitution, counts: _SubstitutionTally) -> dict[str, Any]:
    target = substitution.target
    return {
        "from": substitution.source,
        "to": target.name,
        "priced_as": target.priced_as,
        "target_family": target.family.name,
        "requests": counts.requests,
        "input_tokens": counts.input_tokens,
        "output_tokens": counts.output_tokens,
        "simulated_input_tokens": money_str(counts.input_after),
        "simulated_output_tokens": money_str(counts.output_after),
        **_costs(counts.baseline, counts.simulated),
        "unpriced_requests": {"baseline": counts.unpriced_baseline, "simulated": counts.unpriced_simulated},
        "simulated_cost_of_baseline_unpriced": money_str(counts.cost_of_unpriced),
        "tokenizer": [
            {"model": model, "family": family, "ratio": money_str(ratio), "requests": requests}
            for model, (family, ratio, requests) in sorted(counts.sources.items())
        ],
    }


def _revenue(
    records: Iterable[RevenueRecord], request: SimulationRequest
) -> tuple[dict[str, Decimal], list[dict[str, Any]]]:
    """USD revenue per customer in the period, and the other currencies' totals (listed, never added)."""
    wanted = None if request.customer_ids is None else set(request.customer_ids)
    usd: dict[str, Decimal] = {}
    others: list[dict[str, Any]] = []
    for (customer, currency), amount in sorted(totals_by_customer(records, request.start, request.end).items()):
        if wanted is not None and customer not in wanted:
            continue
        if currency == COST_CURRENCY:
            usd[customer] = amount
        else:
            others.append({"customer_id": customer, "currency": currency, "revenue": money_str(amount)})
    return usd, others


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """A simulation's answer: ``to_api()`` is ``POST /simulate``'s JSON; the CLI prints the same values."""

    start: date
    end: date
    totals: dict[str, Any]
    unpriced: dict[str, Any]
    substitutions: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    other_currencies: list[dict[str, Any]]
    currency: str = COST_CURRENCY

    def to_api(self) -> dict[str, Any]:
        """``{"start", "end", "currency", <totals>, "unpriced", "substitutions", "customers", "other_currencies"}``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "currency": self.currency,
            **self.totals,
            "unpriced": self.unpriced,
            "substitutions": self.substitutions,
            "customers": self.customers,
            "other_currencies": self.other_currencies,
        }


def _customer_rows(tally: _Tally, revenue: dict[str, Decimal]) -> list[dict[str, Any]]:
    for paying in revenue:
        tally.customer(paying)
    ranked: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for customer, counts in tally.customers.items():
        amount = revenue.get(customer, _ZERO) if customer is not None else _ZERO
        row = {
            "customer_id": customer,
            **_costs(counts.baseline, counts.simulated),
            **_margins(amount, counts.baseline, counts.simulated),
            "requests": counts.requests,
            "substituted_requests": counts.substituted,
            "unpriced_requests": counts.unpriced,
        }
        ranked.append(((amount - counts.simulated, customer is None, customer or ""), row))
    return [row for _, row in sorted(ranked, key=lambda pair: pair[0])]


def simulation_report(plan: Plan, groups: Iterable[UsageGroup], records: Sequence[RevenueRecord]) -> SimulationReport:
    """The simulation of ``plan`` over the period's usage groups and the revenue records overlapping the period."""
    tally = _tally(plan, groups)
    revenue, others = _revenue(records, plan.request)
    customers = _customer_rows(tally, revenue)
    baseline = sum((counts.baseline for counts in tally.customers.values()), _ZERO)
    simulated = sum((counts.simulated for counts in tally.customers.values()), _ZERO)
    totals = {
        **_costs(baseline, simulated),
        **_margins(sum(revenue.values(), _ZERO), baseline, simulated),
        "requests": sum(counts.requests for counts in tally.customers.values()),
        "substituted_requests": sum(counts.substituted for counts in tally.customers.values()),
    }
    parts = tally.substitutions.values()
    unpriced = {
        "baseline_requests": tally.unpriced_baseline,
        "simulated_requests": sum(counts.unpriced_simulated for counts in parts),
        "simulated_cost_of_baseline_unpriced": money_str(sum((counts.cost_of_unpriced for counts in parts), _ZERO)),
    }
    rows = [_substitution_row(s, tally.substitutions[s.source]) for s in plan.substitutions]
    return SimulationReport(plan.request.start, plan.request.end, totals, unpriced, rows, customers, others)
