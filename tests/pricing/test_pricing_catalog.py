"""get_model_info and supports_* with LiteLLM's keys; unknown models raise a clear NotFoundError."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tollway.errors import NotFoundError
from tollway.pricing import get_model_info, supports_function_calling, supports_reasoning, supports_vision


@pytest.fixture(autouse=True)
def bundled_price_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Price from genai-prices' bundled data even where `tollway prices update` has written a cache file."""
    from tollway.pricing.prices import clear_caches

    monkeypatch.setenv("TOLLWAY_CACHE_DIR", str(tmp_path))
    clear_caches()
    yield
    clear_caches()


def test_model_info_for_a_known_model() -> None:
    info = get_model_info("anthropic/claude-sonnet-4-5")
    assert info["litellm_provider"] == "anthropic"
    assert info["mode"] == "chat"
    assert info["max_input_tokens"] == 200_000
    assert info["max_output_tokens"] == 64_000
    assert info["input_cost_per_token"] == Decimal("0.000003")
    assert info["output_cost_per_token"] == Decimal("0.000015")
    assert info["cache_read_input_token_cost"] == Decimal("0.0000003")
    assert info["cache_creation_input_token_cost"] == Decimal("0.00000375")
    assert info["cache_creation_input_token_cost_above_1hr"] == Decimal("0.000006")
    assert info["input_cost_per_token_above_200k_tokens"] == Decimal("0.000006")
    assert info["supports_prompt_caching"] is True
    assert info["price_source"].startswith("genai-prices")


@pytest.mark.parametrize(
    ("model", "vision", "tools", "reasoning"),
    [
        ("gpt-4o", True, True, False),
        ("openai/gpt-4o-mini-2024-07-18", True, True, False),
        ("o4-mini", True, True, True),
        ("gpt-5", True, True, True),
        ("gpt-3.5-turbo", False, True, False),
        ("claude-3-5-sonnet-20241022", True, True, False),
        ("anthropic/claude-opus-4-1", True, True, True),
        ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", True, True, True),
        ("vertex_ai/claude-sonnet-4-5@20250929", True, True, True),
        ("gemini/gemini-2.5-pro", True, True, True),
        ("gemini/gemini-2.0-flash", True, True, False),
        ("deepseek/deepseek-reasoner", False, True, True),
        ("unknown/whatever", False, False, False),
    ],
)
def test_supports(model: str, vision: bool, tools: bool, reasoning: bool) -> None:
    assert (supports_vision(model), supports_function_calling(model), supports_reasoning(model)) == (
        vision,
        tools,
        reasoning,
    )


def test_embedding_model_info() -> None:
    info = get_model_info("text-embedding-3-small")
    assert info["mode"] == "embedding"
    assert info["max_input_tokens"] == 8_192  # genai-prices' context window wins over the table's 8,191
    assert info["input_cost_per_token"] == Decimal("0.00000002")


def test_genai_prices_only_model_has_prices_and_no_capability_claims() -> None:
    info = get_model_info("groq/llama-3.3-70b-versatile")
    assert info["input_cost_per_token"] is not None
    assert info["supports_vision"] is False
    assert info["capabilities_source"] is None


def test_unknown_model_raises_not_found_naming_it() -> None:
    with pytest.raises(NotFoundError, match="no-such-model-xyz") as caught:
        get_model_info("openai/no-such-model-xyz")
    assert caught.value.status_code == 404
    with pytest.raises(NotFoundError, match="no price data for 'ollama'"):
        get_model_info("ollama/llama3")
