"""Per-deployment custom prices: LiteLLM's per-token names, per-million forms, base_model, validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tollway.pricing import parse_overrides, price_for, price_usage
from tollway.usage import TokenUsage


@pytest.fixture(autouse=True)
def bundled_price_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Price from genai-prices' bundled data even where `tollway prices update` has written a cache file."""
    from tollway.pricing.prices import clear_caches

    monkeypatch.setenv("TOLLWAY_CACHE_DIR", str(tmp_path))
    clear_caches()
    yield
    clear_caches()


M = Decimal(1_000_000)
AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
USAGE = TokenUsage(input_tokens=10_000, cache_read_tokens=4_000, cache_write_tokens=1_000, output_tokens=2_000)


@pytest.mark.parametrize(
    "overrides",
    [
        # LiteLLM per-token names, values as the YAML loader hands them (float, str, int, Decimal).
        {
            "input_cost_per_token": 0.000002,
            "output_cost_per_token": "0.000008",
            "cache_read_input_token_cost": Decimal("0.0000005"),
            "cache_creation_input_token_cost": "2.5e-6",
        },
        # The same prices per million tokens.
        {
            "input_cost_per_million_tokens": 2,
            "output_cost_per_million_tokens": "8",
            "cache_read_input_cost_per_million_tokens": 0.5,
            "cache_creation_input_cost_per_million_tokens": "2.5",
        },
        # genai-prices' own keys.
        {"input_mtok": "2", "output_mtok": 8, "cache_read_mtok": "0.5", "cache_write_mtok": 2.5},
    ],
)
def test_custom_priced_deployment(overrides: dict[str, Any]) -> None:
    # A self-hosted or negotiated deployment: $2 in, $0.50 cached read, $2.50 cache write, $8 out per 1M.
    cost = price_usage("openai", "my-finetune", USAGE, at=AT, overrides=overrides)
    assert cost is not None
    assert cost.source == "override"
    assert cost.total == (5_000 * Decimal(2) + 4_000 * Decimal("0.5") + 1_000 * Decimal("2.5") + 2_000 * Decimal(8)) / M
    assert all(type(v) is Decimal for v in cost.breakdown().values())


def test_base_model_prices_an_azure_deployment_name() -> None:
    # Azure deployment "prod-chat" runs gpt-4o: OpenAI list price $2.50 in, $1.25 cached, $10 out per 1M
    # (https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/ lists the same global price).
    assert price_usage("azure", "prod-chat", USAGE, at=AT) is None
    usage = TokenUsage(input_tokens=3_000, cache_read_tokens=1_000, output_tokens=100)
    for base in ("gpt-4o", "azure/gpt-4o", "openai/gpt-4o"):
        cost = price_usage("azure", "prod-chat", usage, at=AT, overrides={"base_model": base})
        assert cost is not None
        assert cost.total == (2_000 * Decimal("2.50") + 1_000 * Decimal("1.25") + 100 * Decimal(10)) / M
        assert cost.model_id == "gpt-4o"


def test_base_model_with_one_price_replaced_and_its_tiers_dropped() -> None:
    overrides = {"base_model": "anthropic/claude-sonnet-4-5", "input_cost_per_token": "0.000001"}
    price = price_for("bedrock", "my-claude", overrides=overrides, at=AT)
    assert price is not None
    assert price.input == Decimal("0.000001")
    assert price.output == Decimal(15) / M
    assert all("input" not in dict(t.rates) for t in price.tiers)  # the override is flat
    assert any("output" in dict(t.rates) for t in price.tiers)  # the rest keeps the 200k tier


def test_batch_override_prices() -> None:
    overrides = {
        "input_cost_per_token": "0.000002",
        "output_cost_per_token": "0.000008",
        "input_cost_per_token_batches": "0.000001",
        "output_cost_per_token_batches": "0.000004",
    }
    usage = TokenUsage(input_tokens=1_000, output_tokens=1_000)
    normal = price_usage("openai", "x", usage, overrides=overrides)
    batch = price_usage("openai", "x", usage, overrides=overrides, batch=True)
    assert normal is not None
    assert batch is not None
    assert (normal.total, batch.total) == (Decimal("0.010"), Decimal("0.005"))


def test_long_context_tier_override() -> None:
    overrides = {
        "input_cost_per_token": "0.000001",
        "output_cost_per_token": "0.000002",
        "input_cost_per_token_above_200k_tokens": "0.000003",
    }
    small = price_usage("openai", "x", TokenUsage(input_tokens=200_000, output_tokens=1), overrides=overrides)
    large = price_usage("openai", "x", TokenUsage(input_tokens=200_001, output_tokens=1), overrides=overrides)
    assert small is not None
    assert large is not None
    assert small.total == Decimal("0.200002")
    assert large.total == Decimal("0.600003") + Decimal("0.000002")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"input_cost_per_token": -1}, "input_cost_per_token"),
        ({"output_cost_per_token": "cheap"}, "output_cost_per_token"),
        ({"input_cost_per_million_tokens": None}, "input_cost_per_million_tokens"),
        ({"input_cost_per_token": True}, "input_cost_per_token"),
        ({"input_cost_per_token": float("nan")}, "input_cost_per_token"),
        ({"input_cost_per_tokens": 1}, "input_cost_per_tokens"),
        ({"base_model": 3}, "base_model"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        parse_overrides(overrides)


def test_non_price_model_info_keys_are_ignored() -> None:
    assert parse_overrides({"mode": "chat", "max_tokens": 4096, "id": "abc"}) is None
    parsed = parse_overrides({"input_cost_per_token": 0.1, "mode": "chat"})
    assert parsed is not None
    assert parsed.rates == (("input", Decimal("0.1")),)  # 0.1 via str(), not the binary float
    assert parse_overrides(parsed) is parsed


def test_override_prices_the_mock_for_simulations() -> None:
    cost = price_usage("mock", "m", TokenUsage(input_tokens=1_000_000), overrides={"input_cost_per_million_tokens": 3})
    assert cost is not None
    assert (cost.total, cost.source) == (Decimal(3), "override")
