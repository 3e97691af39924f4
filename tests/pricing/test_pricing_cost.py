"""Exact Decimal costs from list prices: each expectation is computed here from the provider's published prices.

Prices are USD per million tokens, as the cited pricing pages list them; ``M`` turns them into per-token prices.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tollway.pricing import Cost, price_usage, quantize
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
AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def d(text: str) -> Decimal:
    return Decimal(text)


CASES = [
    # OpenAI https://openai.com/api/pricing/ — gpt-4o-mini: input $0.15, cached input $0.075, output $0.60.
    pytest.param(
        "openai",
        "gpt-4o-mini",
        TokenUsage(input_tokens=10_000, cache_read_tokens=8_000, output_tokens=500),
        (2_000 * d("0.15") + 8_000 * d("0.075") + 500 * d("0.60")) / M,
        id="openai-gpt-4o-mini-cached-input",
    ),
    # gpt-4o: input $2.50, cached input $1.25, output $10.
    pytest.param(
        "openai",
        "gpt-4o",
        TokenUsage(input_tokens=3_000, cache_read_tokens=1_024, output_tokens=200),
        (1_976 * d("2.50") + 1_024 * d("1.25") + 200 * d("10")) / M,
        id="openai-gpt-4o-cached-input",
    ),
    # o4-mini: input $1.10, cached $0.275, output $4.40; reasoning tokens are output tokens, billed as output.
    pytest.param(
        "openai",
        "o4-mini",
        TokenUsage(input_tokens=1_000, output_tokens=5_000, reasoning_tokens=4_200),
        (1_000 * d("1.10") + 5_000 * d("4.40")) / M,
        id="openai-o4-mini-reasoning-as-output",
    ),
    # gpt-5: input $1.25, cached $0.125, output $10 (reasoning billed as output).
    pytest.param(
        "openai",
        "gpt-5",
        TokenUsage(input_tokens=20_000, cache_read_tokens=4_000, output_tokens=3_000, reasoning_tokens=2_500),
        (16_000 * d("1.25") + 4_000 * d("0.125") + 3_000 * d("10")) / M,
        id="openai-gpt-5-reasoning-and-cache",
    ),
    # text-embedding-3-small: $0.02 per 1M input tokens, no output.
    pytest.param(
        "openai",
        "text-embedding-3-small",
        TokenUsage(input_tokens=123_457),
        123_457 * d("0.02") / M,
        id="openai-embedding",
    ),
    # Anthropic https://docs.anthropic.com/en/docs/about-claude/pricing — Sonnet 4.5: input $3, 5m cache write
    # $3.75, 1h cache write $6, cache read $0.30, output $15. input_tokens includes reads and writes.
    pytest.param(
        "anthropic",
        "claude-sonnet-4-5",
        TokenUsage(
            input_tokens=50_000,
            cache_read_tokens=30_000,
            cache_write_tokens=15_000,
            cache_write_1h_tokens=5_000,
            output_tokens=1_000,
        ),
        (5_000 * d("3") + 30_000 * d("0.30") + 10_000 * d("3.75") + 5_000 * d("6") + 1_000 * d("15")) / M,
        id="anthropic-sonnet-4-5-5m-1h-writes-and-reads",
    ),
    # Opus 4.1: input $15, 5m write $18.75, 1h write $30, read $1.50, output $75.
    pytest.param(
        "anthropic",
        "claude-opus-4-1",
        TokenUsage(input_tokens=12_000, cache_write_tokens=10_000, cache_write_1h_tokens=10_000, output_tokens=100),
        (2_000 * d("15") + 10_000 * d("30") + 100 * d("75")) / M,
        id="anthropic-opus-4-1-1h-write",
    ),
    # Opus 4.5: input $5, 5m write $6.25, read $0.50, output $25.
    pytest.param(
        "anthropic",
        "claude-opus-4-5",
        TokenUsage(input_tokens=9_000, cache_read_tokens=6_000, cache_write_tokens=2_000, output_tokens=700),
        (1_000 * d("5") + 6_000 * d("0.50") + 2_000 * d("6.25") + 700 * d("25")) / M,
        id="anthropic-opus-4-5-5m-write-and-read",
    ),
    # Sonnet 4.5 above 200k input tokens: ALL tokens at input $6, output $22.50, read $0.60 (cliff, not marginal).
    pytest.param(
        "anthropic",
        "claude-sonnet-4-5",
        TokenUsage(input_tokens=250_000, cache_read_tokens=100_000, output_tokens=2_000),
        (150_000 * d("6") + 100_000 * d("0.60") + 2_000 * d("22.50")) / M,
        id="anthropic-sonnet-4-5-long-context-tier",
    ),
    # Google https://ai.google.dev/gemini-api/docs/pricing — Gemini 2.5 Pro: input $1.25 (<=200k prompt) / $2.50
    # (>200k), output $10 / $15, cached input $0.125 / $0.25.
    pytest.param(
        "gemini",
        "gemini-2.5-pro",
        TokenUsage(input_tokens=200_000, output_tokens=1_000),
        (200_000 * d("1.25") + 1_000 * d("10")) / M,
        id="gemini-2.5-pro-at-200k-stays-base",
    ),
    pytest.param(
        "gemini",
        "gemini-2.5-pro",
        TokenUsage(input_tokens=200_001, cache_read_tokens=1, output_tokens=1_000),
        (200_000 * d("2.50") + 1 * d("0.25") + 1_000 * d("15")) / M,
        id="gemini-2.5-pro-above-200k-all-tokens-tier",
    ),
    # Vertex serves the same Gemini 2.5 Pro at the same list price https://cloud.google.com/vertex-ai/generative-ai/pricing
    pytest.param(
        "vertex_ai",
        "gemini-2.5-pro",
        TokenUsage(input_tokens=1_000, output_tokens=1_000),
        (1_000 * d("1.25") + 1_000 * d("10")) / M,
        id="vertex-gemini",
    ),
    # Vertex Claude with a publisher version: Sonnet 4.5 at Anthropic's list price.
    pytest.param(
        "vertex_ai",
        "claude-sonnet-4-5@20250929",
        TokenUsage(input_tokens=1_000, output_tokens=1_000),
        (1_000 * d("3") + 1_000 * d("15")) / M,
        id="vertex-claude-at-version",
    ),
    # Bedrock https://aws.amazon.com/bedrock/pricing/ — Sonnet 4.5 through a geo ("us.") or in-region profile is
    # billed 10% above the global price: input $3.30, output $16.50.
    pytest.param(
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        TokenUsage(input_tokens=1_000, output_tokens=1_000),
        (1_000 * d("3.30") + 1_000 * d("16.50")) / M,
        id="bedrock-us-profile",
    ),
    # The mock provider costs exactly nothing.
    pytest.param("mock", "anything", TokenUsage(input_tokens=10, output_tokens=10), Decimal(0), id="mock"),
]


@pytest.mark.parametrize(("provider", "model", "usage", "expected"), CASES)
def test_list_price_tables(provider: str, model: str, usage: TokenUsage, expected: Decimal) -> None:
    cost = price_usage(provider, model, usage, at=AT)
    assert cost is not None
    assert cost.total == expected
    assert cost.total == cost.input + cost.output + cost.units
    assert sum(cost.breakdown().values(), Decimal(0)) == cost.total
    assert cost.currency == "USD"
    assert all(
        type(v) is Decimal for v in (cost.total, cost.input, cost.output, cost.units, *cost.breakdown().values())
    )


def test_source_and_match_are_recorded() -> None:
    cost = price_usage("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", TokenUsage(input_tokens=1), at=AT)
    assert cost is not None
    assert cost.source.startswith("genai-prices ")
    assert cost.provider_id == "aws"
    assert "claude-sonnet-4-5" in (cost.model_id or "")
    mock = price_usage("mock", "m", TokenUsage(input_tokens=1))
    assert mock is not None
    assert (mock.total, mock.source) == (Decimal(0), "mock")


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "no-such-model-xyz"), ("not_a_provider", "gpt-4o"), ("ollama", "llama3"), ("azure", "my-deploy-1")],
)
def test_unknown_is_unpriced_not_zero(provider: str, model: str) -> None:
    assert price_usage(provider, model, TokenUsage(input_tokens=100, output_tokens=100)) is None


def test_estimated_usage_is_flagged_on_the_cost() -> None:
    usage = TokenUsage(input_tokens=1_000, output_tokens=100, estimated=True)
    cost = price_usage("openai", "gpt-4o-mini", usage, at=AT)
    assert cost is not None
    assert cost.estimated
    assert cost.total == (1_000 * d("0.15") + 100 * d("0.60")) / M


def test_streamed_call_with_provider_usage_is_exact() -> None:
    # A stream whose final event carried usage (OpenAI include_usage) prices like a whole response.
    usage = TokenUsage.from_openai(
        {"prompt_tokens": 1_200, "completion_tokens": 80, "prompt_tokens_details": {"cached_tokens": 1_024}}
    )
    cost = price_usage("openai", "gpt-4o", usage, at=AT)
    assert cost is not None
    assert not cost.estimated
    assert cost.total == (176 * d("2.50") + 1_024 * d("1.25") + 80 * d("10")) / M


def test_web_searches_are_billed_per_search() -> None:
    # Anthropic web search: $10 per 1,000 searches https://docs.anthropic.com/en/docs/about-claude/pricing
    usage = TokenUsage(input_tokens=1_000, output_tokens=100, web_search_requests=3)
    cost = price_usage("anthropic", "claude-sonnet-4-5", usage, at=AT)
    assert cost is not None
    assert cost.breakdown()["web_search"] == 3 * d("10") / 1000
    assert cost.total == (1_000 * d("3") + 100 * d("15")) / M + 3 * d("10") / 1000
    assert TokenUsage.from_openai(usage.to_openai()) == usage


def test_batch_discount_from_the_data() -> None:
    # Anthropic Message Batches: 50% of standard rates https://docs.anthropic.com/en/docs/build-with-claude/batch-processing
    usage = TokenUsage(input_tokens=10_000, output_tokens=1_000)
    cost = price_usage("anthropic", "claude-sonnet-4-5", usage, at=AT, batch=True)
    assert cost is not None
    assert cost.total == (10_000 * d("1.50") + 1_000 * d("7.50")) / M


def test_quantize_is_display_only() -> None:
    cost = price_usage("openai", "gpt-4o-mini", TokenUsage(input_tokens=1, output_tokens=1), at=AT)
    assert cost is not None
    assert cost.total == Decimal("0.00000075")
    assert quantize(cost.total) == Decimal("0.000001")
    assert quantize(cost.total, 8) == Decimal("0.00000075")
    assert isinstance(cost, Cost)
