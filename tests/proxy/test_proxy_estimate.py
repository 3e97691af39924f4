"""The budget reservation estimate: the dearest deployment of the group, at an upper bound of the request's tokens."""

from __future__ import annotations

from decimal import Decimal

from tollway.proxy.estimate import CostEstimator
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
