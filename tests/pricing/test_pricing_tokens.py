"""token_counter without tiktoken: the documented estimate, monotonic, never the network."""

from __future__ import annotations

import pytest

from tollway.pricing import estimate_usage, price_usage, token_counter
from tollway.pricing import tokens as tokens_module


@pytest.fixture(autouse=True)
def no_tiktoken_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # An empty tiktoken cache: even with tiktoken installed, nothing may be downloaded.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens_module._tiktoken_counter.cache_clear()


def test_text_estimate_is_chars_over_four_rounded_up() -> None:
    assert token_counter("gpt-4o", text="") == 0
    assert token_counter("gpt-4o", text="abcd") == 1
    assert token_counter("gpt-4o", text="abcde") == 2
    assert token_counter("gpt-4o", text=["abcd", "abcde"]) == 3


def test_messages_estimate() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},  # 3 + ceil(6/4)=2 + ceil(14/4)=4
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
    ]
    # user: 3 + ceil(4/4)=1 + 1 (text "hi") + 765 (image) + name 1 + ceil(3/4)=1; reply priming 3
    assert token_counter("gpt-4o", messages=messages) == (3 + 2 + 4) + (3 + 1 + 1 + 765 + 1 + 1) + 3


def test_tools_are_counted() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    assert token_counter("gpt-4o", text="x", tools=tools) > token_counter("gpt-4o", text="x")


@pytest.mark.parametrize("model", ["gpt-4o", "anthropic/claude-sonnet-4-5", "unknown/model"])
def test_monotonic(model: str) -> None:
    counts = [token_counter(model, messages=[{"role": "user", "content": "word " * n}]) for n in range(0, 200, 7)]
    assert counts == sorted(counts)
    assert counts[-1] > counts[0]


def test_no_cached_encoding_means_no_tiktoken() -> None:
    assert tokens_module._cached_encoding_file("o200k_base") is None
    assert tokens_module._tiktoken_counter("o200k_base") is None


def test_streamed_call_without_provider_usage_is_estimated_and_flagged() -> None:
    messages = [{"role": "user", "content": "x" * 4_000}]
    usage = estimate_usage("gpt-4o-mini", messages, "y" * 400, reasoning_text="z" * 40)
    assert usage.estimated
    assert usage.input_tokens == 3 + 1 + 1_000 + 3
    assert (usage.output_tokens, usage.reasoning_tokens) == (110, 10)
    cost = price_usage("openai", "gpt-4o-mini", usage)
    assert cost is not None
    assert cost.estimated
    assert cost.total > 0
