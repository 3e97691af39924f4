"""The simulator's pure rules, with hand-computed Decimals: tokenizer families and ratios; re-pricing a group (cache
reads, reasoning, per-call fees, ratios, a target that cannot price); tiered prices applied per call, never to a
sum (checked against pricing every call on its own); price periods; which substitution a call gets; unpriced calls
in the report; reading and checking the request."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tollway.economics.revenue import parse_revenue
from tollway.economics.simulate import (
    Plan,
    Substitution,
    UsageGroup,
    make_plan,
    reprice,
    simulation_report,
    tier_boundary,
)
from tollway.economics.simulate_models import ModelDirectory, Target
from tollway.economics.simulate_request import SimulationError, SimulationRequest, check_request, parse_request
from tollway.economics.tokenizer_ratios import FAMILIES, UNKNOWN, Family, applied_ratio, family_named, family_of
from tollway.pricing.cost import Price, PriceTier, compute_cost
from tollway.router.config import parse_model_list

D = Decimal
DAY1, DAY2, DAY3 = date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)
FLAT = Price(input=D("0.000001"), output=D("0.000002"))


# -- tokenizer families ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4o", "openai-o200k"),
        ("gpt-4o-mini-2024-07-18", "openai-o200k"),
        ("gpt-5-nano", "openai-o200k"),
        ("o3-mini", "openai-o200k"),
        ("o1", "openai-o200k"),
        ("gpt-4-turbo", "openai-cl100k"),
        ("gpt-3.5-turbo", "openai-cl100k"),
        ("text-embedding-3-small", "openai-cl100k"),
        ("claude-sonnet-4-5", "anthropic-claude"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic-claude"),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic-claude"),
        ("claude-opus-4-7", "anthropic-claude-opus-4-7"),
        ("gemini-2.5-pro", "google-gemini"),
        ("models/gemini-2.0-flash", "google-gemini"),
        ("meta.llama3-1-70b-instruct-v1:0", "meta-llama-3"),
        ("llama-2-70b-chat", "meta-llama-2"),
        ("mistral-large-latest", "mistral-tekken"),
        ("open-mixtral-8x7b", "mistral-sentencepiece"),
        ("mock-model", "unknown"),
        ("", "unknown"),
    ],
)
def test_families(model: str, family: str) -> None:
    assert family_of(model).name == family
    assert family_named(family) == family_of(model)


def test_ratios() -> None:
    claude, o200k = family_named("anthropic-claude"), family_named("openai-o200k")
    assert applied_ratio(o200k, claude) == D("1.2000")
    assert applied_ratio(claude, o200k) == D("0.8333")  # 1 / 1.2 = 0.83333..., half-even at 4 places
    assert applied_ratio(claude, claude) == 1
    assert applied_ratio(family_named("meta-llama-2"), family_named("mistral-sentencepiece")) == D("1.04")
    assert all(family.ratio > 0 and family.basis for family in FAMILIES)
    assert FAMILIES[-1] is UNKNOWN
    with pytest.raises(KeyError):
        family_named("nope")


def test_tier_boundaries_are_exact_in_integers() -> None:
    # A call crosses 200000 scaled tokens exactly when input x ratio > 200000.
    assert tier_boundary(200_000, D("1.2")) == 166_666  # 166666 x 1.2 = 199999.2; 166667 x 1.2 = 200000.4
    assert tier_boundary(200_000, D("1")) == 200_000
    assert tier_boundary(200_000, D("0.8333")) == 240_009  # 240009 x 0.8333 = 199999.49; 240010 -> 200000.33
    for ratio in (D("1.2"), D("0.8333"), D("1.0909"), D("0.7143")):
        bound = tier_boundary(200_000, ratio)
        assert bound * ratio <= 200_000 < (bound + 1) * ratio


# -- re-pricing a group ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StubTarget:
    """A target whose price may change from one day to the next (``prices``: day -> price)."""

    name: str
    model: str
    prices: dict[date, Price | None]

    @property
    def priced_as(self) -> str:
        return f"test/{self.model}"

    @property
    def family(self) -> Family:
        return family_of(self.model)

    def price_on(self, day: date) -> Price | None:
        return self.prices.get(day, self.prices.get(DAY1))


class StubDirectory:
    """Every target name is a ``StubTarget`` of ``targets``."""

    def __init__(self, **targets: StubTarget) -> None:
        self.targets = targets

    def target(self, name: str, day: date, *, param: str) -> StubTarget:
        return self.targets[name]


def substitution(price: Price | None, model: str = "gpt-4o-mini", source: str = "gpt-4o") -> Substitution:
    return Substitution(source, StubTarget("t", model, {DAY1: price}), (price,))  # type: ignore[arg-type]


def group(**fields: Any) -> UsageGroup:
    base: dict[str, Any] = {"customer_id": "acme", "eligible": True, "provider": "openai", "model": "gpt-4o"}
    return UsageGroup(**(base | fields))


def test_plain_tokens_at_the_target_price() -> None:
    # 1000 x 1e-6 + 500 x 2e-6
    assert reprice(group(requests=2, input_tokens=1000, output_tokens=500), substitution(FLAT), ()) == D("0.002")


def test_cache_reads_reasoning_and_the_tokenizer_ratio() -> None:
    price = Price(input=D("0.000003"), output=D("0.000015"), cache_read=D("0.0000003"), reasoning=D("0.00001"))
    usage = group(requests=1, input_tokens=1000, cached_tokens=400, output_tokens=300, reasoning_tokens=100)
    # (600 x 3e-6 + 400 x 3e-7 + 200 x 1.5e-5 + 100 x 1e-5) x 1.2 (o200k -> Claude)
    #   = (0.0018 + 0.00012 + 0.003 + 0.001) x 1.2 = 0.00592 x 1.2 = 0.007104
    assert reprice(usage, substitution(price, "claude-sonnet-4-5"), ()) == D("0.007104")
    # Without a cache-read price, cached tokens are input; without a reasoning price, reasoning is output.
    assert reprice(usage, substitution(FLAT), ()) == D("0.0016")  # 1000 x 1e-6 + 300 x 2e-6
    # From Claude to o200k: x 0.8333
    claude_usage = group(model="claude-3-5-haiku", provider="anthropic", input_tokens=1000, output_tokens=500)
    assert reprice(claude_usage, substitution(FLAT), ()) == D("0.0016666")  # 0.002 x 0.8333


def test_a_per_call_fee_is_charged_per_call_and_not_scaled() -> None:
    price = Price(input=D("0.000001"), output=D("0.000002"), request=D("0.01"))
    usage = group(requests=3, input_tokens=1000, output_tokens=500)
    # 0.002 x 1.2 + 3 x 0.01
    assert reprice(usage, substitution(price, "claude-sonnet-4"), ()) == D("0.0324")


def test_a_target_that_cannot_price_the_tokens() -> None:
    embedding = Price(input=D("0.00000002"))
    assert reprice(group(requests=1, input_tokens=10, output_tokens=5), substitution(embedding), ()) is None
    assert reprice(group(requests=1, input_tokens=10), substitution(embedding), ()) == D("0.0000002")
    assert reprice(group(requests=1, input_tokens=10), substitution(None), ()) is None


# -- tiers: per call, never per sum ----------------------------------------------------------------------------------

TIERED = Price(
    input=D("0.000003"),
    output=D("0.000015"),
    cache_read=D("0.0000003"),
    tiers=(PriceTier(200_000, (("input", D("0.000006")), ("output", D("0.0000225")))),),
)


def plan_for(price: Price, target_model: str = "claude-sonnet-4-5", source: str = "gpt-4o") -> Plan:
    request = SimulationRequest(DAY1, DAY1, {source: "target"})
    return make_plan(request, StubDirectory(target=StubTarget("target", target_model, {DAY1: price})))  # type: ignore[arg-type]


def band_of(input_tokens: int, boundaries: tuple[int, ...]) -> int:
    """What the storage's SQL computes: how many boundaries the call's input tokens exceed."""
    return sum(input_tokens > bound for bound in boundaries)


def test_two_calls_under_the_tier_stay_at_the_base_price_though_their_sum_is_over_it() -> None:
    plan = plan_for(TIERED, "gpt-4o-mini")  # o200k -> o200k: ratio 1
    assert 200_000 in plan.boundaries
    (sub,) = plan.substitutions
    # 2 calls of 150k: band 0, summed: 300000 x 3e-6 + 2000 x 1.5e-5 = 0.93 (not 300000 x 6e-6 + ... = 1.845)
    both = group(requests=2, input_tokens=300_000, output_tokens=2000, band=band_of(150_000, plan.boundaries))
    assert reprice(both, sub, plan.boundaries) == D("0.93")
    # 1 call of 250k: over the tier, all its tokens at the tier: 250000 x 6e-6 + 1000 x 2.25e-5 = 1.5225
    long = group(requests=1, input_tokens=250_000, output_tokens=1000, band=band_of(250_000, plan.boundaries))
    assert reprice(long, sub, plan.boundaries) == D("1.5225")


def test_the_tier_is_crossed_by_the_scaled_tokens() -> None:
    plan = plan_for(TIERED)  # o200k -> Claude: 1.2
    (sub,) = plan.substitutions
    # 180000 x 1.2 = 216000 > 200k: (180000 x 6e-6 + 100 x 2.25e-5) x 1.2 = 1.2987
    crossing = group(requests=1, input_tokens=180_000, output_tokens=100, band=band_of(180_000, plan.boundaries))
    assert reprice(crossing, sub, plan.boundaries) == D("1.2987")
    # 166666 x 1.2 = 199999.2: base. (166666 x 3e-6) x 1.2 = 0.5999976
    under = group(requests=1, input_tokens=166_666, band=band_of(166_666, plan.boundaries))
    assert reprice(under, sub, plan.boundaries) == D("0.5999976")


def test_grouped_pricing_equals_pricing_every_call_on_its_own() -> None:
    # Random calls around the thresholds, from sources of several tokenizer families, grouped as the storage groups
    # them (family via the model, tier band): the group prices add up to the calls priced one by one. Token counts
    # are multiples of 10^4 so that every scaled count is a whole number compute_cost can take.
    plan = plan_for(TIERED, source="smart")
    (sub,) = plan.substitutions
    rng = random.Random(8)
    models = ["gpt-4o", "claude-3-5-sonnet", "llama-2-7b", "mistral-7b-instruct", "gemini-2.0-flash"]
    groups: dict[tuple[str, int], list[int]] = {}
    expected = D(0)
    for _ in range(300):
        model = rng.choice(models)
        tokens = [rng.randrange(12, 26) * 10**4, rng.randrange(0, 5) * 10**4, rng.randrange(0, 3) * 10**4]
        ratio = applied_ratio(family_of(model), sub.target.family)
        scaled = [int(count * ratio) for count in tokens]
        assert all(count * ratio == whole for count, whole in zip(tokens, scaled, strict=True))
        cost = compute_cost(TIERED, input_tokens=scaled[0], cache_read_tokens=scaled[1], output_tokens=scaled[2])
        assert cost is not None
        expected += cost.total
        key = (model, band_of(tokens[0], plan.boundaries))
        totals = groups.setdefault(key, [0, 0, 0, 0])
        for index, count in enumerate([1, *tokens]):
            totals[index] += count
    priced = D(0)
    for (model, band), (requests, input_tokens, cached, output) in groups.items():
        usage = group(
            model=model,
            model_group="smart",
            band=band,
            requests=requests,
            input_tokens=input_tokens,
            cached_tokens=cached,
            output_tokens=output,
        )
        result = reprice(usage, sub, plan.boundaries)
        assert result is not None
        priced += result
    assert priced == expected
    assert len(groups) <= len(models) * (len(plan.boundaries) + 1) < 300  # calls come as far fewer groups


def _fields(usage: UsageGroup) -> dict[str, Any]:
    return {name: getattr(usage, name) for name in UsageGroup.__dataclass_fields__}


def _with(usage: UsageGroup, **changes: Any) -> UsageGroup:
    return UsageGroup(**(_fields(usage) | changes))


# -- price periods and matching --------------------------------------------------------------------------------------


def test_a_price_change_in_the_period_makes_two_price_periods() -> None:
    cheaper = Price(input=D("0.0000005"), output=D("0.000001"))
    target = StubTarget("t", "gpt-4o-mini", {DAY1: FLAT, DAY2: FLAT, DAY3: cheaper})
    request = SimulationRequest(DAY1, DAY3, {"gpt-4o": "t"})
    plan = make_plan(request, StubDirectory(t=target))  # type: ignore[arg-type]
    assert plan.segments == (DAY1, DAY3)
    (sub,) = plan.substitutions
    assert sub.prices == (FLAT, cheaper)
    usage = group(requests=1, input_tokens=1000, output_tokens=500)
    assert reprice(usage, sub, ()) == D("0.002")
    assert reprice(_with(usage, segment=1), sub, ()) == D("0.001")


def test_the_model_group_wins_then_the_provider_model_then_the_model() -> None:
    names = {"smart": "a", "openai/gpt-4o": "b", "gpt-4o": "c"}
    targets = {name: StubTarget(name, "gpt-4o-mini", {DAY1: FLAT}) for name in "abc"}
    plan = make_plan(SimulationRequest(DAY1, DAY1, names), StubDirectory(**targets))  # type: ignore[arg-type]

    def chosen(**fields: Any) -> str | None:
        found = plan.substitution_for(group(**fields))
        return None if found is None else found.source

    assert chosen(model_group="smart") == "smart"
    assert chosen(model_group="other") == "openai/gpt-4o"
    assert chosen(model_group="other", provider="azure") == "gpt-4o"
    assert chosen(model_group="other", provider="azure", model="gpt-4.1") is None
    assert chosen(model_group=None, provider=None, model=None) is None


def test_a_group_target_is_its_first_priced_deployment() -> None:
    deployments = parse_model_list(
        [
            {"model_name": "g", "litellm_params": {"model": "ollama/llama3"}},
            {"model_name": "g", "litellm_params": {"model": "mock/x", "input_cost_per_token": "0.5"}},
            {"model_name": "g", "litellm_params": {"model": "mock/y", "input_cost_per_token": "0.7"}},
            {"model_name": "openai/*", "litellm_params": {"model": "openai/*"}},
        ],
        {},
    )
    directory = ModelDirectory(deployments)
    assert directory.groups == frozenset({"g"})  # a wildcard is not a name
    target = directory.target("g", DAY1, param="replace.a")
    assert (target.priced_as, target.price_on(DAY1).input) == ("mock/x", D("0.5"))  # type: ignore[union-attr]
    assert isinstance(target, Target)
    assert directory.knows("g", DAY1)
    assert directory.knows("gpt-4o", DAY1)
    assert not directory.knows("ollama/llama3", DAY1)


# -- the report ------------------------------------------------------------------------------------------------------


def test_unpriced_calls_are_counted_and_never_in_the_savings() -> None:
    # acme: a priced call substituted (0.01 -> 0.002), a call without a recorded cost substituted (its would-be cost
    # 0.0005 shown apart), a call the target cannot price (kept at its recorded 0.03), and an unpriced call of
    # another model (kept, counted). beta: a call of another model. Revenue: acme 1 USD, beta 2 EUR.
    price = Price(input=D("0.000001"), output=D("0.000002"))
    plan = Plan(
        SimulationRequest(DAY1, DAY1, {"gpt-4o": "t"}),
        (substitution(price),),
        (DAY1,),
    )
    groups = [
        group(requests=1, input_tokens=1000, output_tokens=500, cost=D("0.01")),
        group(requests=1, input_tokens=500, priced=False),
        group(requests=2, input_tokens=10, output_tokens=5, cost=D("0.03")),
        UsageGroup("acme", requests=4, priced=False),
        UsageGroup("beta", requests=1, cost=D("0.2")),
    ]
    # The call the target cannot price: make its price lack an output price for that group only.
    no_output = Substitution("gpt-4o", plan.substitutions[0].target, (Price(input=D("0.000001")),))
    plan_no_output = Plan(plan.request, (no_output,), plan.segments)
    records = [
        parse_revenue({"customer_id": "acme", "amount": "1", "currency": "USD", "date": "2025-06-01"}),
        parse_revenue({"customer_id": "beta", "amount": "2", "currency": "EUR", "date": "2025-06-01"}),
    ]
    report = simulation_report(plan, groups[:2] + groups[3:], records)
    body = report.to_api()
    assert (body["baseline_cost"], body["simulated_cost"], body["savings"]) == ("0.21", "0.202", "0.008")
    assert body["unpriced"] == {
        "baseline_requests": 5,
        "simulated_requests": 0,
        "simulated_cost_of_baseline_unpriced": "0.0005",
    }
    acme = body["customers"][1]
    assert acme == {
        "customer_id": "acme",
        "baseline_cost": "0.01",
        "simulated_cost": "0.002",
        "savings": "0.008",
        "savings_pct": "80.00",
        "revenue": "1",
        "margin_before": "0.99",
        "margin_after": "0.998",
        "margin_pct_before": "99.00",
        "margin_pct_after": "99.80",
        "requests": 6,
        "substituted_requests": 2,
        "unpriced_requests": 5,
    }
    assert body["customers"][0]["customer_id"] == "beta"  # margin after: -0.2 < 0.998
    assert body["other_currencies"] == [{"customer_id": "beta", "currency": "EUR", "revenue": "2"}]
    # The target cannot bill output tokens: that call keeps its recorded cost on both sides, and is counted.
    kept = simulation_report(plan_no_output, [groups[2]], []).to_api()
    assert (kept["baseline_cost"], kept["simulated_cost"], kept["savings"]) == ("0.03", "0.03", "0")
    assert kept["unpriced"]["simulated_requests"] == 2
    assert kept["substitutions"][0]["unpriced_requests"] == {"baseline": 0, "simulated": 2}
    assert kept["customers"][0]["unpriced_requests"] == 2


# -- the request -----------------------------------------------------------------------------------------------------


def test_a_request_is_read() -> None:
    request = parse_request(
        {
            "start": "2025-06-01",
            "end": "2025-06-30",
            "replace": {"gpt-4o": "gpt-4o-mini"},
            "customer_ids": ["a", "b", "a"],
            "features": None,
            "tags": ["x"],
        }
    )
    assert (request.start, request.end, request.days) == (DAY1, date(2025, 6, 30), 30)
    assert (request.customer_ids, request.features, request.tags) == (("a", "b"), None, ("x",))


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"start": "2025-06-01", "end": "2026-06-02", "replace": {"a": "b"}}, "end"),  # 367 days
        ({"start": "2025-06-01", "end": "2025-06-01", "replace": {"a": "b"}, "colour": 1}, "colour"),
        ({"start": "2025-06-01", "end": "2025-06-01", "replace": {"a ": "b"}}, "replace"),
        ({"start": "2025-06-01", "end": "2025-06-01", "replace": {"a": "b\n"}}, "replace.a"),
        ({"start": "2025-06-01", "end": "2025-06-01", "replace": {"a": "b"}, "features": [""]}, "features[0]"),
        ({"start": ["2025-06-01"], "end": "2025-06-01", "replace": {"a": "b"}}, "start"),
    ],
)
def test_bad_requests_name_the_field(payload: dict[str, Any], param: str) -> None:
    with pytest.raises(SimulationError) as raised:
        parse_request(payload)
    assert raised.value.param == param
    assert raised.value.message


def test_a_request_built_in_python_is_checked_too() -> None:
    for request, param in (
        (SimulationRequest(DAY2, DAY1, {"a": "b"}), "end"),
        (SimulationRequest(DAY1, DAY1, {}), "replace"),
        (SimulationRequest(DAY1, DAY1, {"a": "a"}), "replace.a"),
    ):
        with pytest.raises(SimulationError) as raised:
            check_request(request)
        assert raised.value.param == param
    assert parse_request({"start": "2024-02-29", "end": "2025-02-28", "replace": {"a": "b"}}).days == 366
