"""Strategies are checked statistically with a seeded RNG; filters and tiers with plain values."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from tollway.router.config import parse_router_settings
from tollway.router.deployment import Deployment, DeploymentStats
from tollway.router.strategies import (
    STRATEGIES,
    Candidate,
    LeastBusy,
    LowestCost,
    LowestLatency,
    UsageBased,
    WeightedShuffle,
    choose,
    filter_candidates,
    price_per_1k,
    priority_tier,
    strategy_for,
)

PICKS = 20_000


def dep(dep_id: str, **fields: Any) -> Deployment:
    return Deployment(id=dep_id, model_name="g", model="openai/gpt-4o", **fields)


def cand(dep_id: str, stats: DeploymentStats | None = None, price: str | None = None, **fields: Any) -> Candidate:
    return Candidate(dep(dep_id, **fields), stats or DeploymentStats(), None if price is None else Decimal(price))


def frequencies(strategy: Any, candidates: Sequence[Candidate], picks: int = PICKS) -> dict[str, float]:
    rng = random.Random(1234)
    counts: Counter[str] = Counter()
    for _ in range(picks):
        chosen = strategy.pick(candidates, rng)
        assert chosen is not None
        counts[chosen.deployment.id] += 1
    return {key: count / picks for key, count in counts.items()}


def assert_close(observed: dict[str, float], expected: dict[str, float], tolerance: float = 0.02) -> None:
    for key, share in expected.items():
        assert abs(observed.get(key, 0.0) - share) <= tolerance, (key, observed, expected)
    assert set(observed) <= {k for k, v in expected.items() if v > 0}, observed


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([{"weight": 1}, {"weight": 3}, {"weight": 6}], {"a": 0.1, "b": 0.3, "c": 0.6}),
        ([{"rpm": 100}, {"rpm": 300}, {"rpm": 600}], {"a": 0.1, "b": 0.3, "c": 0.6}),
        ([{"tpm": 1000}, {"tpm": 1000}, {"tpm": 2000}], {"a": 0.25, "b": 0.25, "c": 0.5}),
        ([{}, {}, {}, {}], {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}),
        # LiteLLM reads the weight key from deployments[0] only; an unweighted first deployment must not make
        # the group uniform.
        ([{}, {"weight": 1}, {"weight": 3}], {"a": 0.0, "b": 0.25, "c": 0.75}),
        # weight wins over rpm
        ([{"weight": 1, "rpm": 900}, {"weight": 1, "rpm": 100}], {"a": 0.5, "b": 0.5}),
        # every weight zero: uniform, not a ZeroDivisionError
        ([{"weight": 0}, {"weight": 0}], {"a": 0.5, "b": 0.5}),
    ],
)
def test_weighted_shuffle_matches_the_weights(fields: list[dict[str, Any]], expected: dict[str, float]) -> None:
    candidates = [cand("abcd"[i], **f) for i, f in enumerate(fields)]
    assert_close(frequencies(WeightedShuffle(), candidates), expected)


def test_weighted_shuffle_chi_square() -> None:
    weights = [1.0, 2.0, 3.0, 4.0]
    candidates = [cand(str(i), weight=w) for i, w in enumerate(weights)]
    observed = frequencies(WeightedShuffle(), candidates)
    total = sum(weights)
    chi2 = sum((observed[str(i)] * PICKS - PICKS * w / total) ** 2 / (PICKS * w / total) for i, w in enumerate(weights))
    assert chi2 < 11.34  # 3 degrees of freedom, p = 0.01


def test_empty_candidates_pick_nothing() -> None:
    rng = random.Random(0)
    for strategy in (WeightedShuffle(), LeastBusy(), LowestLatency(), UsageBased(), LowestCost()):
        assert strategy.pick([], rng) is None


def test_least_busy_always_picks_the_minimum_and_breaks_ties_at_random() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        loads = [rng.randrange(5) for _ in range(4)]
        candidates = [cand(str(i), DeploymentStats(in_flight=n)) for i, n in enumerate(loads)]
        chosen = LeastBusy().pick(candidates, rng)
        assert chosen is not None
        assert chosen.stats.in_flight == min(loads)
    tied = [
        cand("a", DeploymentStats(in_flight=1)),
        cand("b", DeploymentStats(in_flight=1)),
        cand("c", DeploymentStats(in_flight=2)),
    ]
    assert_close(frequencies(LeastBusy(), tied), {"a": 0.5, "b": 0.5, "c": 0.0})


def latency(dep_id: str, seconds: float | None) -> Candidate:
    return cand(dep_id, DeploymentStats(latency=seconds))


def test_lowest_latency_picks_the_fastest() -> None:
    candidates = [latency("slow", 2.0), latency("fast", 0.5), latency("mid", 1.0)]
    assert frequencies(LowestLatency(), candidates, 500) == {"fast": 1.0}


def test_lowest_latency_measures_unmeasured_deployments_first() -> None:
    candidates = [latency("fast", 0.1), latency("new1", None), latency("new2", None)]
    assert_close(frequencies(LowestLatency(), candidates), {"new1": 0.5, "new2": 0.5, "fast": 0.0})


def test_lowest_latency_buffer_spreads_over_near_best() -> None:
    candidates = [latency("a", 1.0), latency("b", 1.09), latency("c", 1.2), latency("d", 3.0)]
    assert_close(frequencies(LowestLatency(buffer=0.1), candidates), {"a": 0.5, "b": 0.5, "c": 0.0, "d": 0.0})
    assert_close(frequencies(LowestLatency(buffer=0.25), candidates), {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3, "d": 0.0})


def test_usage_based_picks_the_most_headroom_and_skips_full_deployments() -> None:
    candidates = [
        cand("full", DeploymentStats(rpm_used=10), rpm=10),
        cand("half", DeploymentStats(rpm_used=50, tpm_used=100), rpm=100, tpm=10_000),
        cand("tight_tpm", DeploymentStats(rpm_used=1, tpm_used=9_000), rpm=100, tpm=10_000),
        cand("idle", DeploymentStats(rpm_used=10), rpm=1000),
    ]
    assert frequencies(UsageBased(), candidates, 300) == {"idle": 1.0}
    assert frequencies(UsageBased(), candidates[:3], 300) == {"half": 1.0}
    assert UsageBased().pick(candidates[:1], random.Random(0)) is None
    tpm_full = [cand("x", DeploymentStats(tpm_used=500), tpm=500)]
    assert UsageBased().pick(tpm_full, random.Random(0)) is None


def test_usage_based_ties_go_to_lower_tpm_then_random() -> None:
    candidates = [cand("busy", DeploymentStats(tpm_used=900)), cand("calm", DeploymentStats(tpm_used=10))]
    assert frequencies(UsageBased(), candidates, 300) == {"calm": 1.0}
    even = [cand("a"), cand("b")]
    assert_close(frequencies(UsageBased(), even), {"a": 0.5, "b": 0.5})


def test_lowest_cost_picks_the_cheapest_priced_under_its_limits() -> None:
    candidates = [
        cand("cheap_full", DeploymentStats(rpm_used=5), price="0.001", rpm=5),
        cand("cheap", price="0.002"),
        cand("dear", price="0.030"),
        cand("unpriced"),
    ]
    assert frequencies(LowestCost(), candidates, 300) == {"cheap": 1.0}
    assert frequencies(LowestCost(), [candidates[0], candidates[3]], 300) == {"unpriced": 1.0}
    assert_close(frequencies(LowestCost(), [cand("x"), cand("y")]), {"x": 0.5, "y": 0.5})


def test_strategy_names_are_litellms() -> None:
    assert set(STRATEGIES) == {
        "simple-shuffle",
        "least-busy",
        "latency-based-routing",
        "usage-based-routing",
        "usage-based-routing-v2",
        "cost-based-routing",
    }
    assert strategy_for("latency-based-routing", {"lowest_latency_buffer": 0.3}) == LowestLatency(buffer=0.3)
    assert isinstance(strategy_for("simple-shuffle"), WeightedShuffle)


def test_filter_drops_cooled_deployments_until_they_recover() -> None:
    deps = [dep("a"), dep("b")]
    stats = {"a": DeploymentStats(cooldown_until=100.0)}
    assert [d.id for d in filter_candidates(deps, stats, 99.0)] == ["b"]
    assert [d.id for d in filter_candidates(deps, stats, 100.0)] == ["a", "b"]


def test_tag_filtering() -> None:
    deps = [
        dep("free", tags=frozenset({"free"})),
        dep("paid_eu", tags=frozenset({"paid", "eu"})),
        dep("untagged"),
    ]

    def ids(tags: Any, match_any: bool = False, pool: list[Deployment] = deps) -> list[str]:
        return [d.id for d in filter_candidates(pool, {}, 0.0, tags=tags, match_any=match_any)]

    assert ids(None) == ["free", "paid_eu", "untagged"]  # filtering off
    assert ids(["paid", "eu"]) == ["paid_eu"]
    assert ids(["paid", "free"]) == []
    assert ids(["paid", "free"], match_any=True) == ["free", "paid_eu"]
    assert ids([]) == ["free", "paid_eu", "untagged"]  # untagged requests are served
    with_default = [*deps, dep("default", tags=frozenset({"default"}))]
    assert ids([], pool=with_default) == ["default"]
    assert ids(["nothing-has-this"], pool=with_default) == ["default"]


def test_region_filter_keeps_only_known_matching_regions() -> None:
    deps = [dep("eu", region="eu-west-1"), dep("us", region="us-east-1"), dep("unknown")]
    assert [d.id for d in filter_candidates(deps, {}, 0.0, region="eu-west-1")] == ["eu"]


def test_priority_tier_keeps_only_the_lowest_order() -> None:
    deps = [dep("a", order=2), dep("b", order=1), dep("c"), dep("d", order=1)]
    assert [d.id for d in priority_tier(deps)] == ["b", "d"]
    assert [d.id for d in priority_tier([dep("c"), dep("e", order=3)])] == ["e"]
    assert [d.id for d in priority_tier([dep("c"), dep("f")])] == ["c", "f"]


def test_choose_falls_to_the_next_tier_when_the_first_is_cooling_excluded_or_full() -> None:
    deps = [dep("primary", order=1, rpm=10), dep("backup", order=2)]
    rng = random.Random(3)
    settings = parse_router_settings(routing_strategy="usage-based-routing-v2")
    chosen = choose(settings, deps, {}, 0.0, rng=rng)
    assert chosen is not None
    assert chosen.id == "primary"
    cooled = {"primary": DeploymentStats(cooldown_until=5.0)}
    assert choose(settings, deps, cooled, 1.0, rng=rng) == deps[1]
    assert choose(settings, deps, {}, 0.0, excluded={"primary"}, rng=rng) == deps[1]
    full = {"primary": DeploymentStats(rpm_used=10)}
    assert choose(settings, deps, full, 0.0, rng=rng) == deps[1]
    assert choose(settings, deps, {}, 0.0, excluded={"primary", "backup"}, rng=rng) is None


def picked_id(settings: Any, deps: list[Deployment], rng: random.Random, **kwargs: Any) -> str | None:
    chosen = choose(settings, deps, {}, 0.0, rng=rng, **kwargs)
    return None if chosen is None else chosen.id


def test_choose_applies_tags_only_when_tag_filtering_is_enabled() -> None:
    deps = [dep("free", tags=frozenset({"free"})), dep("paid", tags=frozenset({"paid"}))]
    rng = random.Random(5)
    on = parse_router_settings(enable_tag_filtering=True)
    assert {picked_id(on, deps, rng, tags={"paid"}) for _ in range(50)} == {"paid"}
    off = parse_router_settings()
    assert {picked_id(off, deps, rng, tags={"paid"}) for _ in range(200)} == {"free", "paid"}


def test_choose_with_cost_routing_prices_deployments() -> None:
    deps = [
        dep("dear", call_params={"input_cost_per_token": "0.00001", "output_cost_per_token": "0.00003"}),
        dep("cheap", call_params={"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}),
    ]
    settings = parse_router_settings(routing_strategy="cost-based-routing")
    assert {picked_id(settings, deps, random.Random(s)) for s in range(20)} == {"cheap"}


def test_price_per_1k_uses_custom_prices_and_is_none_when_unpriced() -> None:
    custom = dep("c", model_info={"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"})
    assert price_per_1k(custom) == Decimal("0.003")
    assert price_per_1k(Deployment(id="x", model_name="g", model="openai/no-such-model-xyz")) is None
