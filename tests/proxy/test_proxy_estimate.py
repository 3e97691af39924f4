"""The budget reservation estimate: the dearest deployment of the group, at an upper bound of the request's tokens."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tollway.governance.counters import usd_to_nano
from tollway.pricing.cost import Price
from tollway.proxy.estimate import PRICE_TTL_SECONDS, CostEstimator, rounded_up
from tollway.router.config import parse_model_list


def estimator(allowance: int = 100) -> CostEstimator:
    cheap = {"model": "mock/a", "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
    dear = {"model": "mock/b", "input_cost_per_token": 0.003, "output_cost_per_token": 0.004}
    models = [
        {"model_name": "g", "litellm_params": cheap},
        {"model_name": "g", "litellm_params": dear},
        {"model_name": "free", "litellm_params": {"model": "mock/c"}},
    ]
    return CostEstimator(parse_model_list(models, {}), output_allowance=allowance)


def test_the_estimate_prices_the_dearest_deployment_at_the_body_size_and_max_tokens() -> None:
    # 300 bytes -> 100 input tokens at 0.003, 10 output tokens at 0.004 (the dearer deployment).
    assert estimator().estimate("g", 300, {"max_tokens": 10}) == Decimal("0.340")
    assert estimator().estimate("g", 300, {"max_completion_tokens": 5}) == Decimal("0.320")


def test_without_a_token_limit_the_configured_allowance_is_reserved() -> None:
    assert estimator(allowance=50).estimate("g", 3, {}) == Decimal("0.203")
    assert estimator(allowance=50).estimate("g", 3, {"max_tokens": True}) == Decimal("0.203")  # not a number


def test_unpriced_and_unknown_groups_reserve_nothing() -> None:
    assert estimator().estimate("free", 300, {}) == 0
    assert estimator().estimate("nope", 300, {}) == 0


def test_rounding_up_adds_at_most_a_sixteenth() -> None:
    assert [rounded_up(n) for n in (1, 31, 32, 33, 100, 1000, 1025)] == [1, 31, 32, 34, 100, 1024, 1088]
    for tokens in range(1, 70_000, 7):
        assert tokens <= rounded_up(tokens) <= tokens * 17 / 16


def test_the_reservation_is_the_estimate_at_the_rounded_size_in_nano_dollars_rounded_up() -> None:
    # 3,000 bytes -> 1,000 input tokens -> 1,024 reserved for; 10 output tokens; the dearer deployment.
    assert estimator().reserve_nano("g", 3000, {"max_tokens": 10}) == usd_to_nano(Decimal("3.112"), round_up=True)
    assert estimator().reserve_nano("free", 3000, {}) == 0
    tiny = {"model": "mock/t", "input_cost_per_token": 1e-12, "output_cost_per_token": 0}
    one = CostEstimator(parse_model_list([{"model_name": "t", "litellm_params": tiny}], {}))
    assert one.reserve_nano("t", 3, {}) == 1  # 1e-12 dollars: never reserved as 0


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_remembered_reservation_lasts_until_the_prices_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    model = {"model": "mock/p", "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
    estimate = CostEstimator(parse_model_list([{"model_name": "p", "litellm_params": model}], {}), clock=clock)
    first = estimate.reserve_nano("p", 300, {"max_tokens": 10})
    assert first == usd_to_nano(Decimal("0.120"), round_up=True)
    # The price changes: the remembered amount holds until the group's prices expire, then the new price counts.
    monkeypatch.setattr(
        "tollway.proxy.estimate.price_for", lambda *a, **k: Price(input=Decimal("0.002"), output=Decimal(0), source="t")
    )
    assert estimate.reserve_nano("p", 300, {"max_tokens": 10}) == first
    clock.now = PRICE_TTL_SECONDS + 1
    assert estimate.reserve_nano("p", 300, {"max_tokens": 10}) == usd_to_nano(Decimal("0.200"), round_up=True)
    # Another size, another entry; the same size and output, the same entry.
    assert estimate.reserve_nano("p", 3000, {"max_tokens": 10}) == usd_to_nano(
        Decimal("2.048"), round_up=True
    )  # 1,024 in
