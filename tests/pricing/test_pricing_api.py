"""completion_cost and cost_per_token: LiteLLM's shapes, Decimal money."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from tollway.pricing import completion_cost, cost_per_token, price_usage
from tollway.types import ChatCompletion, EmbeddingResponse, ResponseMeta
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
CHAT = {
    "id": "x",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [],
    "usage": {"prompt_tokens": 1_000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 500}},
}
# gpt-4o-mini, https://openai.com/api/pricing/: input $0.15, cached $0.075, output $0.60 per 1M.
GPT_4O_MINI = (500 * Decimal("0.15") + 500 * Decimal("0.075") + 100 * Decimal("0.60")) / M


def test_completion_cost_from_meta() -> None:
    meta = ResponseMeta(provider="openai", model="gpt-4o-mini", usage=TokenUsage.from_openai(CHAT["usage"]))  # type: ignore[arg-type]
    assert completion_cost(ChatCompletion(CHAT, meta)) == GPT_4O_MINI


def test_completion_cost_prefers_a_cost_already_on_meta() -> None:
    # ResponseMeta gains a ``cost`` field when the client prices calls; a stand-in shows the rule until then.
    cost = price_usage("openai", "gpt-4o-mini", TokenUsage(input_tokens=7))
    assert cost is not None
    meta = SimpleNamespace(provider="openai", model="gpt-4o-mini", usage=TokenUsage(input_tokens=1), cost=cost)
    assert completion_cost(SimpleNamespace(meta=meta)) == cost.total
    meta.cost = Decimal("0.5")
    assert completion_cost(SimpleNamespace(meta=meta)) == Decimal("0.5")


def test_completion_cost_of_a_hand_built_response_and_of_an_embedding() -> None:
    assert completion_cost(ChatCompletion(CHAT)) == GPT_4O_MINI
    embedding = {"object": "list", "data": [], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1_000}}
    # text-embedding-3-small: $0.02 per 1M tokens
    assert completion_cost(EmbeddingResponse(embedding)) == 1_000 * Decimal("0.02") / M


def test_completion_cost_unpriced_and_mock() -> None:
    unknown = ResponseMeta(provider="openai", model="no-such-model-xyz", usage=TokenUsage(input_tokens=1))
    assert completion_cost(ChatCompletion(CHAT, unknown)) is None
    no_usage = ResponseMeta(provider="openai", model="gpt-4o-mini")
    assert completion_cost(ChatCompletion(CHAT, no_usage)) is None
    assert completion_cost(ChatCompletion(CHAT, ResponseMeta(provider="mock", model="m", mock=True))) == 0


def test_completion_cost_text_form_is_an_estimate() -> None:
    # 3 (message) + 1 ("user") + 100 (400 chars) + 3 (reply) input tokens; 25 output tokens.
    cost = completion_cost(model="openai/gpt-4o-mini", prompt="p" * 400, completion="c" * 100)
    assert cost == (107 * Decimal("0.15") + 25 * Decimal("0.60")) / M


def test_cost_per_token() -> None:
    # Sonnet 4.5, https://docs.anthropic.com/en/docs/about-claude/pricing: $3 in, $0.30 read, $3.75 write, $15 out.
    prompt, completion = cost_per_token(  # type: ignore[misc]
        "anthropic/claude-sonnet-4-5",
        prompt_tokens=10_000,
        completion_tokens=1_000,
        cache_read_input_tokens=4_000,
        cache_creation_input_tokens=2_000,
    )
    assert prompt == (4_000 * Decimal(3) + 4_000 * Decimal("0.30") + 2_000 * Decimal("3.75")) / M
    assert completion == 1_000 * Decimal(15) / M
    assert cost_per_token("openai/no-such-model-xyz", 1, 1) is None
    assert cost_per_token("claude-sonnet-4-5", 1, 0, custom_llm_provider="anthropic") == (Decimal(3) / M, Decimal(0))
