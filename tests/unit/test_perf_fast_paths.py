"""The request path's fast paths give exactly what the general code gives (SSE bytes, pricing, routing, endpoints)."""

import random
from decimal import Decimal

import pytest

from tollway.adapters.base import Endpoint
from tollway.adapters.openai_stream import OpenAIStreamDecoder
from tollway.calls import ClientSettings, EndpointCache, plan_call
from tollway.errors import BadRequestError
from tollway.pricing.cost import Price, compute_cost
from tollway.retry import RetryPolicy
from tollway.router.config import parse_router_settings
from tollway.router.deployment import Deployment, DeploymentStats
from tollway.router.response_cache import ResponseCache
from tollway.router.strategies import choose
from tollway.sse import SSEDecoder
from tollway.transport import Timeouts

STREAM = (
    b": keep-alive\r\n\r\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b'data:{"no":"space"}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"event: lonely\n\n"
    b"data: \xe2\x82 broken\n\n"
    b"data: [DONE]"
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(STREAM)])
def test_feed_data_is_the_utf8_of_feed(size: int) -> None:
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    events_decoder, data_decoder = SSEDecoder(), SSEDecoder()
    events = [e for piece in pieces for e in events_decoder.feed(piece)] + events_decoder.flush()
    payloads = [d for piece in pieces for d in data_decoder.feed_data(piece)] + data_decoder.flush_data()
    assert [e.data for e in events] == [p.decode("utf-8", errors="replace") for p in payloads]
    assert payloads[-1] == b"[DONE]"
    assert events[0].event == "message_start"


def test_stream_decoder_reads_invalid_utf8_like_a_text_decoder() -> None:
    decoder = OpenAIStreamDecoder(Endpoint(provider="openai", model="m", api_base="http://x"))
    raw = b'data: {"choices": [{"index": 0, "delta": {"content": "a\xff"}}]}\n\ndata: [DONE]\n\n'
    chunks = decoder.feed(raw)
    assert chunks[0]["choices"][0]["delta"]["content"] == "a\ufffd"


def test_plain_cost_has_the_general_parts() -> None:
    price = Price(input=Decimal("1.5E-7"), output=Decimal("6E-7"), source="s", provider_id="p", model_id="m")
    cost = compute_cost(price, input_tokens=9, output_tokens=12)
    assert cost is not None
    assert cost.parts == (("input", Decimal("0.00000135")), ("output", Decimal("0.0000072")))
    assert cost.total == Decimal("0.00000855")
    assert (cost.input, cost.output, cost.units, cost.unpriced) == (Decimal("0.00000135"), Decimal("0.0000072"), 0, ())
    # Counts the fast path does not handle take the general split, with the same plain parts first.
    cached = compute_cost(price, input_tokens=9, output_tokens=12, reasoning_tokens=2)
    assert cached is not None
    assert cached.parts == cost.parts
    assert compute_cost(Price(input=Decimal(1)), input_tokens=1, output_tokens=1) is None


def test_one_deployment_needs_no_random_draw_and_keeps_its_limits() -> None:
    only = Deployment(id="a", model_name="g", model="openai/m", rpm=2)
    rng = random.Random(7)
    state = rng.getstate()
    settings = parse_router_settings()
    assert choose(settings, [only], {}, 0.0, rng=rng) is only
    assert rng.getstate() == state
    cooling = {"a": DeploymentStats(cooldown_until=10.0)}
    assert choose(settings, [only], cooling, 0.0, rng=rng) is None
    at_limit = {"a": DeploymentStats(rpm_used=2)}
    assert choose(parse_router_settings(routing_strategy="usage-based-routing"), [only], at_limit, 0.0, rng=rng) is None
    assert choose(settings, [only], at_limit, 0.0, rng=rng) is only  # simple-shuffle leaves rpm to acquire()


async def test_cache_off_still_refuses_a_malformed_cache_value() -> None:
    cache = ResponseCache(None, ttl=None, namespace=None, clock=lambda: 0.0)
    assert await cache.lookup("g", {"messages": []}) is None
    with pytest.raises(BadRequestError):
        await cache.lookup("g", {"messages": [], "cache": "yes"})


def test_endpoints_are_reused_only_for_explicit_key_and_base() -> None:
    settings = ClientSettings(
        retry=RetryPolicy(), timeouts=Timeouts(), drop_params=False, environ={"OPENAI_API_KEY": "env-key"}
    )
    cache: EndpointCache = {}
    fields = {"messages": [{"role": "user", "content": "hi"}]}
    explicit = {"api_key": "k1", "api_base": "http://h/v1"}
    first = plan_call("openai/m", explicit, fields, settings, cache).endpoint
    assert plan_call("openai/m", explicit, fields, settings, cache).endpoint is first
    other = plan_call("openai/m", {**explicit, "api_key": "k2"}, fields, settings, cache).endpoint
    assert other.api_key == "k2"
    headers = plan_call("openai/m", {**explicit, "extra_headers": {"x": "1"}}, fields, settings, cache).endpoint
    assert headers.headers == {"x": "1"}
    assert len(cache) == 2
    from_env = plan_call("openai/m", {"api_base": "http://h/v1"}, fields, settings, cache).endpoint
    assert from_env.api_key == "env-key"
    assert len(cache) == 2


def test_the_per_request_values_that_are_no_longer_frozen_still_compare_and_hash_by_value() -> None:
    from tollway.http import HttpRequest
    from tollway.usage import TokenUsage

    usage = {"prompt_tokens": 12, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 2}}
    first, second = TokenUsage.from_openai(usage), TokenUsage.from_openai(dict(usage))
    assert first == second
    assert hash(first) == hash(second)
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens) == (12, 9, 2)
    assert {first: 1}[second] == 1  # usable as a key, as a frozen dataclass was
    price = Price(input=Decimal("0.000001"), output=Decimal("0.000002"))
    cost = compute_cost(price, input_tokens=12, output_tokens=9)
    assert cost is not None
    assert hash(cost) == hash(compute_cost(price, input_tokens=12, output_tokens=9))
    assert hash(RetryPolicy(num_retries=2)) == hash(RetryPolicy(num_retries=2))
    assert HttpRequest("POST", "http://x/v1", {}, b"{}") == HttpRequest("POST", "http://x/v1", {}, b"{}")
    stats = DeploymentStats(1, 2, 3, 0.5, None, 0)
    assert stats == DeploymentStats(rpm_used=1, tpm_used=2, in_flight=3, latency=0.5)
    assert hash(stats) == hash(DeploymentStats(rpm_used=1, tpm_used=2, in_flight=3, latency=0.5))
