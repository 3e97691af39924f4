"""Every response carries its exact cost or an explicit "unpriced" (None); streams are never costed at zero.

List prices used below (USD per million tokens, https://openai.com/api/pricing/ as carried by genai-prices):
gpt-4o-mini input 0.15, cached input 0.075, output 0.60.
"""

from collections.abc import Iterator
from decimal import Decimal

import orjson
import pytest

import tollway
from fakes import SSE, OpenAIFake, Reply
from tollway import Client

MESSAGES = [{"role": "user", "content": "Say hello"}]
PER_MILLION = Decimal(1_000_000)


@pytest.fixture
def client(openai_fake: OpenAIFake) -> Iterator[Client]:
    client = Client(environ={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_fake.url}, num_retries=0)
    yield client
    client.close()


def expected_gpt_4o_mini(usage: tollway.TokenUsage) -> Decimal:
    uncached = usage.input_tokens - usage.cache_read_tokens
    return (
        uncached * Decimal("0.15") + usage.cache_read_tokens * Decimal("0.075") + usage.output_tokens * Decimal("0.60")
    ) / PER_MILLION


def test_whole_response_is_priced_exactly(client: Client) -> None:
    response = client.completion("gpt-4o-mini", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert response.meta is not None
    assert response.meta.usage is not None
    cost = response.meta.cost
    assert cost is not None
    assert isinstance(cost.total, Decimal)
    assert cost.total == expected_gpt_4o_mini(response.meta.usage)
    assert cost.total > 0
    assert cost.source.startswith("genai-prices")
    assert tollway.completion_cost(response) == cost.total


def test_cached_input_is_cheaper(client: Client) -> None:
    messages = [{"role": "system", "content": "policy " * 2000}, *MESSAGES]
    client.completion("gpt-4o-mini", messages)
    again = client.completion("gpt-4o-mini", messages)
    assert isinstance(again, tollway.ChatCompletion)
    assert again.meta is not None
    assert again.meta.usage is not None
    assert again.meta.usage.cache_read_tokens > 0
    assert again.meta.cost is not None
    assert again.meta.cost.total == expected_gpt_4o_mini(again.meta.usage)


def test_stream_with_provider_usage_is_priced_exactly(client: Client) -> None:
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    assert chunks
    usage, cost = stream.meta.usage, stream.meta.cost
    assert usage is not None
    assert not usage.estimated
    assert cost is not None
    assert cost.total == expected_gpt_4o_mini(usage)
    assert not cost.estimated


def test_stream_without_provider_usage_is_estimated_not_zero(client: Client, openai_fake: OpenAIFake) -> None:
    # A vendor that sends no usage at all (the fake's default stream minus its usage chunk).
    events = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello there, friend."},
                      "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]  # fmt: skip
    openai_fake.script(Reply.stream(events))
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    list(stream)  # type: ignore[call-overload]
    usage, cost = stream.meta.usage, stream.meta.cost  # type: ignore[union-attr]
    assert usage is not None
    assert usage.estimated
    assert usage.output_tokens > 0
    assert usage.input_tokens > 0
    assert cost is not None
    assert cost.estimated
    assert cost.total > 0


def test_abandoned_stream_is_estimated_from_what_was_streamed(client: Client, openai_fake: OpenAIFake) -> None:
    def chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, object]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [choice]}

    usage = {"prompt_tokens": 9, "completion_tokens": 99, "total_tokens": 108}
    late = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": []}
    events = [
        chunk({"role": "assistant", "content": "Hello"}),
        chunk({"content": " there"}),
        SSE(data=orjson.dumps(chunk({}, "stop")).decode(), delay=2.0),  # never read: the caller leaves first
        {**late, "usage": usage},
    ]
    openai_fake.script(Reply.stream(events))
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    with stream:
        assert next(stream).choices[0].delta.content == "Hello"
        assert next(stream).choices[0].delta.content == " there"
    usage_seen = stream.meta.usage
    assert usage_seen is not None
    assert usage_seen.estimated
    assert 0 < usage_seen.output_tokens < 99
    assert stream.meta.cost is not None
    assert stream.meta.cost.estimated
    assert stream.meta.cost.total > 0


def test_unknown_model_is_unpriced_not_zero(client: Client) -> None:
    response = client.completion("openai/my-private-finetune-xyz", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert response.meta is not None
    assert response.meta.usage is not None
    assert response.meta.cost is None
    assert tollway.completion_cost(response) is None


def test_custom_prices_per_call(client: Client) -> None:
    response = client.completion(
        "openai/my-private-finetune-xyz", MESSAGES, input_cost_per_token="0.000001", output_cost_per_token="0.000002"
    )
    assert isinstance(response, tollway.ChatCompletion)
    assert response.meta is not None
    usage, cost = response.meta.usage, response.meta.cost
    assert usage is not None
    assert cost is not None
    assert cost.total == usage.input_tokens * Decimal("0.000001") + usage.output_tokens * Decimal("0.000002")
    based = client.completion("openai/my-private-finetune-xyz", MESSAGES, base_model="gpt-4o-mini")
    assert isinstance(based, tollway.ChatCompletion)
    assert based.meta is not None
    assert based.meta.usage is not None
    assert based.meta.cost is not None
    assert based.meta.cost.total == expected_gpt_4o_mini(based.meta.usage)


def test_invalid_custom_price_is_a_bad_request(client: Client) -> None:
    with pytest.raises(tollway.BadRequestError, match="input_cost_per_token"):
        client.completion("gpt-4o-mini", MESSAGES, input_cost_per_token="-1")


def test_embeddings_are_priced(client: Client) -> None:
    response = client.embedding("text-embedding-3-small", ["a", "b"])
    assert response.meta is not None
    assert response.meta.usage is not None
    assert response.meta.cost is not None
    # text-embedding-3-small: 0.02 per million input tokens.
    assert response.meta.cost.total == response.meta.usage.input_tokens * Decimal("0.02") / PER_MILLION


def test_mock_costs_exactly_zero() -> None:
    client = Client(environ={})
    response = client.completion("mock/x", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert response.meta is not None
    assert response.meta.cost is not None
    assert response.meta.cost.total == Decimal(0)
    assert response.meta.cost.source == "mock"
    client.close()
