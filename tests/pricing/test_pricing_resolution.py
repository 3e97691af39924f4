"""Price resolution: names, dated and time-of-day prices, caching across periods, parity with genai-prices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from tollway.pricing import price_for, price_usage
from tollway.pricing import prices as prices_module
from tollway.pricing.entries import from_model_info
from tollway.pricing.names import model_refs, split_model
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


def test_o3_price_cut_is_priced_at_the_request_time() -> None:
    # OpenAI cut o3 by 80% on 2025-06-10 (https://platform.openai.com/docs/models/o3): $10/$40 -> $2/$8 per 1M.
    usage = TokenUsage(input_tokens=1_000, output_tokens=1_000)
    before = price_usage("openai", "o3", usage, at=datetime(2025, 6, 1, tzinfo=UTC))
    after = price_usage("openai", "o3", usage, at=datetime(2025, 7, 1, tzinfo=UTC))
    again = price_usage("openai", "o3", usage, at=datetime(2025, 6, 1, tzinfo=UTC))
    assert before is not None
    assert after is not None
    assert again is not None
    assert before.total == (1_000 * Decimal(10) + 1_000 * Decimal(40)) / M
    assert after.total == (1_000 * Decimal(2) + 1_000 * Decimal(8)) / M
    assert again.total == before.total  # the cache is per price period, not per model


def test_deepseek_time_of_day_prices_are_not_cached_across_periods() -> None:
    # DeepSeek bills 50% less off-peak, 16:30-00:30 UTC (https://api-docs.deepseek.com/quick_start/pricing);
    # genai-prices: $0.27 in / $1.10 out in 00:30-16:30 UTC, $0.135 / $0.55 otherwise.
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    day = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    night = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    totals = [price_usage("deepseek", "deepseek-chat", usage, at=t) for t in (day, night, day, night)]
    assert [c.total if c else None for c in totals] == [Decimal("1.37"), Decimal("0.685")] * 2


@pytest.fixture
def fake_snapshot(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from genai_prices import types
    from genai_prices.data_snapshot import DataSnapshot

    model = types.ModelInfo(
        id="fake-model",
        match=types.ClauseEquals(equals="fake-model"),
        prices=[
            types.ConditionalPrice(prices=types.ModelPrice(input_mtok=Decimal(4), output_mtok=Decimal(8))),
            types.ConditionalPrice(
                constraint=types.StartDateConstraint(start_date=date(2026, 1, 1)),
                prices=types.ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2)),
            ),
            types.ConditionalPrice(
                constraint=types.TimeOfDateConstraint(start_time=time(22, tzinfo=UTC), end_time=time(2, tzinfo=UTC)),
                prices=types.ModelPrice(input_mtok=Decimal("0.5"), output_mtok=Decimal(1)),
            ),
        ],
    )
    provider = types.Provider(id="openai", name="Fake", api_pattern="fake", models=[model])
    snap = DataSnapshot(providers=[provider], from_auto_update=False)
    prices_module.clear_caches()
    monkeypatch.setattr(prices_module, "snapshot", lambda: (snap, "genai-prices fake"))
    yield
    monkeypatch.undo()
    prices_module.clear_caches()


@pytest.mark.usefixtures("fake_snapshot")
@pytest.mark.parametrize(
    ("at", "input_mtok"),
    [
        (datetime(2025, 12, 31, 12, tzinfo=UTC), Decimal(4)),  # before the dated change
        (datetime(2026, 1, 1, 12, 0, tzinfo=UTC), Decimal(1)),  # the change's first day (UTC date)
        (datetime(2026, 1, 1, 23, 0, tzinfo=UTC), Decimal("0.5")),  # a later entry wins: the night window
        (datetime(2026, 1, 2, 1, 59, tzinfo=UTC), Decimal("0.5")),  # the window crosses midnight
        (datetime(2026, 1, 2, 2, 0, tzinfo=UTC), Decimal(1)),  # window end is exclusive
    ],
)
def test_fake_snapshot_periods(at: datetime, input_mtok: Decimal) -> None:
    price = price_for("openai", "fake-model", at=at)
    assert price is not None
    assert price.input == input_mtok / M
    assert price.source == "genai-prices fake"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("anthropic/claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        ("claude-3-haiku-20240307", ("anthropic", "claude-3-haiku-20240307")),
        ("gpt-4o", ("openai", "gpt-4o")),
        ("gemini-2.5-pro", ("gemini", "gemini-2.5-pro")),
        ("bedrock/us.anthropic.claude-3-haiku-20240307-v1:0", ("bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0")),
        ("openrouter/anthropic/claude-sonnet-4.5", ("openrouter", "anthropic/claude-sonnet-4.5")),
        ("xai/grok-4", ("xai", "grok-4")),
    ],
)
def test_split_model(model: str, expected: tuple[str, str]) -> None:
    assert split_model(model) == expected


def test_model_refs_normalise_after_the_exact_id() -> None:
    refs = model_refs("bedrock", "converse/eu.anthropic.claude-3-haiku-20240307-v1:0")
    assert refs[0] == "converse/eu.anthropic.claude-3-haiku-20240307-v1:0"
    assert refs[-1] == "anthropic.claude-3-haiku-20240307-v1"
    assert model_refs("vertex_ai", "claude-opus-4-1@20250805")[-1] == "claude-opus-4-1"


@pytest.mark.parametrize(
    ("provider", "model", "provider_id"),
    [
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "aws"),
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws"),
        ("bedrock", "converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws"),
        ("vertex_ai", "claude-sonnet-4-5@20250929", "google"),
        ("vertex_ai", "gemini-2.5-flash", "google"),
        ("azure", "gpt-4o", "azure"),
        ("xai", "grok-4", "x-ai"),
        ("groq", "llama-3.3-70b-versatile", "groq"),
        ("mistral", "mistral-large-latest", "mistral"),
        ("deepseek", "deepseek-reasoner", "deepseek"),
    ],
)
def test_provider_names_resolve(provider: str, model: str, provider_id: str) -> None:
    price = price_for(provider, model)
    assert price is not None, f"{provider}/{model} unpriced"
    assert price.provider_id == provider_id
    assert price.input is not None
    assert price.input > 0


PARITY_USAGES = [
    {"input_tokens": 1_234, "output_tokens": 567},
    {"input_tokens": 250_000, "cache_read_tokens": 1_000, "output_tokens": 2_000},
    {"input_tokens": 9_000, "cache_read_tokens": 3_000, "cache_write_tokens": 4_000, "output_tokens": 10},
    {"input_tokens": 9_000, "cache_write_tokens": 4_000, "cache_write_1h_tokens": 1_500, "output_tokens": 10},
]


def test_same_totals_as_genai_prices_calc_price_for_every_model() -> None:
    """Our cached conversion + arithmetic equals genai-prices' own calc_price, model by model, to the last digit."""
    import genai_prices
    from genai_prices.data_snapshot import get_snapshot

    from tollway.pricing.cost import compute_cost

    at = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    compared = 0
    for provider in get_snapshot().providers:
        for info in provider.models:
            entry = from_model_info(provider.id, info, "x", own=True)
            price = prices_module._converted(entry, prices_module._period(entry, at) if entry.conditional else 0, ())
            if price.ignored:  # units tollway does not bill (audio hours, pages...): not comparable
                continue
            for raw in PARITY_USAGES:
                ours = compute_cost(price, **{"output_tokens": 0, **raw})
                if ours is None:
                    continue
                theirs = info.calc_price(genai_prices.Usage(**raw), provider, genai_request_timestamp=at)
                assert ours.total == theirs.total_price, (provider.id, info.id, raw)
                compared += 1
    assert compared > 3_000
