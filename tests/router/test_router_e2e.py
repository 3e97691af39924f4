"""The Router end to end: outages, strategy distributions, cooldowns that recover, Redis-shared limits, the cache,
fallbacks and the errors they keep. Deployments are real clients against loopback fakes or the mock provider (whose
``mock_response`` scripts failures in the OpenAI wire format), so the whole pipeline runs."""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

import tollway
from fakes import OpenAIFake, Reply
from tollway import Router
from tollway.router.state_memory import MemoryState

MESSAGES = [{"role": "user", "content": "Say hello"}]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def entry(name: str, model: str, *, id: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, **params}, "model_info": {"id": id}}


def fake_entry(fake: OpenAIFake, name: str, id: str, **params: Any) -> dict[str, Any]:
    return entry(name, "openai/gpt-4o-mini", id=id, api_base=fake.url, api_key="sk-test", **params)


@pytest.fixture
def make_router() -> Iterator[Any]:
    routers: list[Router] = []

    def make(model_list: list[dict[str, Any]], **settings: Any) -> Router:
        router = Router(model_list, environ={}, **settings)
        routers.append(router)
        return router

    yield make
    for router in routers:
        router.close()


async def test_outage_of_one_of_three_deployments_serves_every_request(openai_fake: OpenAIFake) -> None:
    broken = entry("chat", "openai/gpt-4o-mini", id="down", api_base=f"http://127.0.0.1:{closed_port()}/v1",
                   api_key="sk-test")  # fmt: skip
    router = Router(
        [broken, fake_entry(openai_fake, "chat", "up-1"), fake_entry(openai_fake, "chat", "up-2")],
        environ={},
        num_retries=3,
        cooldown_time=60,
    )
    served = collections.Counter[str]()
    for _ in range(60):
        response = await router.acompletion("chat", MESSAGES)
        assert isinstance(response, tollway.ChatCompletion)
        assert response.meta is not None
        served[response.meta.deployment_id or "?"] += 1
    assert sum(served.values()) == 60
    assert served["down"] == 0
    assert served["up-1"] > 10
    assert served["up-2"] > 10
    cooling = await router.acooldowns()
    assert "down" in cooling  # the failing deployment is visible as cooling down
    await router.aclose()


async def test_retries_and_attempt_errors_are_kept_on_the_answer(openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply.error(500, "boom", headers={"retry-after": "0"}))
    router = Router([fake_entry(openai_fake, "chat", "only")], environ={}, num_retries=2)
    response = await router.acompletion("chat", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert response.meta is not None
    assert response.meta.attempts == 2
    assert [type(e) for e in response.meta.attempt_errors] == [tollway.InternalServerError]
    await router.aclose()


def test_weighted_shuffle_distribution_end_to_end(make_router: Any) -> None:
    router = make_router(
        [
            entry("chat", "mock/a", id="heavy", weight=3),
            entry("chat", "mock/b", id="light", weight=1),
        ],
        # Seeded: unseeded, the share fell outside ±0.05 about once in a thousand runs (3.3 standard deviations),
        # and did in CI once. A seeded generator still draws as an unseeded one does; broken weights give ~0.5.
        rng=random.Random(20261127),
    )
    served = collections.Counter(router.completion("chat", MESSAGES).meta.deployment_id for _ in range(800))
    share = served["heavy"] / 800
    assert 0.70 <= share <= 0.80, served  # expected 0.75; ±0.05 is > 3 standard deviations at n=800


def test_least_busy_prefers_idle_deployments(make_router: Any) -> None:
    state = MemoryState()
    router = make_router(
        [entry("chat", "mock/a", id="busy"), entry("chat", "mock/b", id="idle")],
        routing_strategy="least-busy",
        state=state,
    )

    async def hold_slots() -> None:
        for _ in range(5):
            assert await state.acquire("busy", time.time(), rpm_limit=None, max_parallel=None)

    asyncio.run(hold_slots())
    served = {router.completion("chat", MESSAGES).meta.deployment_id for _ in range(20)}
    assert served == {"idle"}


async def test_cooldown_recovers_and_an_all_cooled_group_waits_instead_of_failing(openai_fake: OpenAIFake) -> None:
    # One deployment, a 429 asking for 1 s: LiteLLM fails at once with "no deployments available" (#3646);
    # tollway cools the deployment for the retry-after, waits for its recovery, and serves the request.
    openai_fake.script(Reply.error(429, "slow down", headers={"retry-after": "1"}))
    router = Router([fake_entry(openai_fake, "chat", "only")], environ={}, num_retries=1, cooldown_time=0.2)
    started = time.monotonic()
    response = await router.acompletion("chat", MESSAGES)
    elapsed = time.monotonic() - started
    assert isinstance(response, tollway.ChatCompletion)
    assert response.meta is not None
    assert response.meta.deployment_id == "only"
    assert 0.9 <= elapsed < 5
    assert await router.acooldowns() == {}  # recovered
    await router.aclose()


async def test_fallback_to_another_group_and_all_errors_kept(make_router: Any) -> None:
    failing = {"status": 503, "error": "down for maintenance", "headers": {"retry-after": "0"}}
    router = Router(
        [
            entry("primary", "mock/p", id="p1", mock_response=failing),
            entry("backup", "mock/b", id="b1", mock_response="from backup"),
            entry("broken", "mock/x", id="x1", mock_response=failing),
            entry("broken-too", "mock/y", id="y1", mock_response=failing),
        ],
        environ={},
        num_retries=1,
        fallbacks=[{"primary": ["backup"]}],
    )
    response = await router.acompletion("primary", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert response.choices[0].message.content == "from backup"
    assert response.meta is not None
    assert response.meta.model_group == "backup"
    assert len(response.meta.attempt_errors) == 2  # the first try and its retry, both on "primary"

    with pytest.raises(tollway.ServiceUnavailableError):
        await router.acompletion("broken", MESSAGES, num_retries=0)  # one attempt: its own error

    with pytest.raises(tollway.AllAttemptsFailedError) as retried:
        await router.acompletion("broken", MESSAGES)  # a try and a retry: both errors kept
    assert [type(e) for e in retried.value.errors] == [tollway.ServiceUnavailableError] * 2

    with pytest.raises(tollway.AllAttemptsFailedError) as info:
        await router.acompletion("broken", MESSAGES, fallbacks=["broken-too"])
    assert len(info.value.errors) == 4
    assert info.value.status_code == 503
    await router.aclose()


async def test_context_window_fallback(make_router: Any) -> None:
    too_long = {"status": 400, "error": "This model's maximum context length is 8192 tokens",
                "code": "context_length_exceeded"}  # fmt: skip
    router = Router(
        [
            entry("small", "mock/s", id="s1", mock_response=too_long),
            entry("large", "mock/l", id="l1", mock_response="long context answer"),
        ],
        environ={},
        context_window_fallbacks=[{"small": ["large"]}],
    )
    response = await router.acompletion("small", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert response.choices[0].message.content == "long context answer"
    assert isinstance(response.meta.attempt_errors[0], tollway.ContextWindowExceededError)  # type: ignore[union-attr]
    await router.aclose()


async def test_pre_call_check_routes_long_prompts_to_a_larger_context() -> None:
    router = Router(
        [
            entry("small", "mock/s", id="s1", mock_response="small answer")
            | {"model_info": {"id": "s1", "max_input_tokens": 100}},
            entry("large", "mock/l", id="l1", mock_response="large answer"),
        ],
        environ={},
        enable_pre_call_checks=True,
        context_window_fallbacks=[{"small": ["large"]}],
    )
    short = await router.acompletion("small", MESSAGES)
    assert isinstance(short, tollway.ChatCompletion)
    assert short.choices[0].message.content == "small answer"
    long = await router.acompletion("small", [{"role": "user", "content": "word " * 2000}])
    assert isinstance(long, tollway.ChatCompletion)
    assert long.choices[0].message.content == "large answer"
    assert isinstance(long.meta.attempt_errors[0], tollway.ContextWindowExceededError)  # type: ignore[union-attr]
    await router.aclose()


async def test_stream_fallback_before_the_first_byte_is_invisible(openai_fake: OpenAIFake) -> None:
    router = Router(
        [
            entry("primary", "mock/p", id="p1", mock_response={"status": 500, "error": "no"}),
            fake_entry(openai_fake, "backup", "b1"),
        ],
        environ={},
        num_retries=0,
        fallbacks=[{"primary": ["backup"]}],
    )
    stream = await router.acompletion("primary", MESSAGES, stream=True)
    assert isinstance(stream, tollway.AsyncCompletionStream)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "Hello from the fake OpenAI upstream."
    assert stream.meta.deployment_id == "b1"
    await router.aclose()


async def test_cache_serves_repeats_at_zero_cost_and_replays_streams(openai_fake: OpenAIFake) -> None:
    router = Router([fake_entry(openai_fake, "chat", "only")], environ={}, cache=True)
    first = await router.acompletion("chat", MESSAGES)
    second = await router.acompletion("chat", MESSAGES)
    assert isinstance(first, tollway.ChatCompletion)
    assert isinstance(second, tollway.ChatCompletion)
    assert len(openai_fake.requests) == 1
    assert second.meta is not None
    assert second.meta.cache_hit
    assert second.meta.cost is not None
    assert second.meta.cost.total == 0
    assert second.choices[0].message.content == first.choices[0].message.content
    stream = await router.acompletion("chat", MESSAGES, stream=True, stream_options={"include_usage": True})
    assert isinstance(stream, tollway.AsyncCompletionStream)
    chunks = [c async for c in stream]
    assert tollway.stream_chunk_builder(chunks).choices[0].message.content == first.choices[0].message.content
    assert chunks[-1].usage is not None
    assert len(openai_fake.requests) == 1
    await router.acompletion("chat", MESSAGES, cache={"no-cache": True})
    assert len(openai_fake.requests) == 2
    await router.aclose()


async def test_two_routers_sharing_redis_respect_a_deployment_rpm_together(redis_url: str, redis_prefix: str) -> None:
    from tollway.router.state_redis import RedisState

    model_list = [entry("chat", "mock/m", id="limited", rpm=10, mock_response="ok")]
    routers = [
        Router(model_list, environ={}, state=RedisState.from_url(redis_url, prefix=redis_prefix), timeout=0.3)
        for _ in range(2)
    ]
    # Stay inside one minute window so the limit is not refreshed during the test.
    if time.time() % 60 > 55:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)

    async def one(router: Router) -> bool:
        try:
            await router.acompletion("chat", MESSAGES)
        except tollway.RateLimitError:
            return False
        return True

    results = await asyncio.gather(*(one(routers[i % 2]) for i in range(30)))
    assert sum(results) == 10
    for router in routers:
        await router.aclose()


def test_configuration_errors_name_the_entry() -> None:
    with pytest.raises(tollway.ConfigurationError, match=r"model_list\[1\]"):
        Router([entry("a", "mock/a", id="a"), {"model_name": "b"}], environ={})
    with pytest.raises(tollway.ConfigurationError, match="routing_strategy"):
        Router([entry("a", "mock/a", id="a")], environ={}, routing_strategy="fastest-please")
    with pytest.raises(tollway.ConfigurationError, match="nowhere"):
        Router([entry("a", "mock/a", id="a")], environ={}, fallbacks=[{"a": ["nowhere"]}])
    with pytest.raises(tollway.ConfigurationError, match="cycle"):
        Router(
            [entry("a", "mock/a", id="a"), entry("b", "mock/b", id="b")],
            environ={},
            fallbacks=[{"a": ["b"]}, {"b": ["a"]}],
        )


def test_unknown_group_and_bad_request_fallbacks(make_router: Any) -> None:
    router = make_router([entry("a", "mock/a", id="a")])
    with pytest.raises(tollway.NotFoundError, match="no model group named 'zzz'"):
        router.completion("zzz", MESSAGES)
    with pytest.raises(tollway.NotFoundError):
        router.completion("a", MESSAGES, fallbacks=["zzz"])


def test_sync_stream_and_embeddings(make_router: Any) -> None:
    router = make_router([entry("chat", "mock/a", id="a"), entry("embed", "mock/e", id="e")])
    stream = router.completion("chat", MESSAGES, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "This is a mock response from tollway."
    vectors = router.embedding("embed", ["a", "b"])
    assert len(vectors.data) == 2
    assert vectors.meta is not None
    assert vectors.meta.deployment_id == "e"


# -- fault injection, over both state implementations ------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def shared_state(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryState()
    from tollway.router.state_redis import RedisState

    url = request.getfixturevalue("redis_url")
    return RedisState.from_url(url, prefix=request.getfixturevalue("redis_prefix"))


async def test_429_storm_moves_traffic_and_honours_retry_after(shared_state: Any) -> None:
    storm = {"status": 429, "error": "rate limited", "headers": {"retry-after": "30"}}
    router = Router(
        [entry("chat", "mock/a", id="stormy", mock_response=storm), entry("chat", "mock/b", id="calm")],
        environ={},
        state=shared_state,
        num_retries=2,
        cooldown_time=1,
    )
    started = time.time()
    served = collections.Counter()
    for _ in range(40):
        response = await router.acompletion("chat", MESSAGES)
        assert isinstance(response, tollway.ChatCompletion)
        served[response.meta.deployment_id] += 1  # type: ignore[union-attr]
    assert served == {"calm": 40}
    cooling = await router.acooldowns()
    assert cooling["stormy"] >= started + 29  # the provider's retry-after (30 s), not the 1 s default
    await router.aclose()


async def test_timeouts_and_mid_stream_disconnects(openai_fake: OpenAIFake, shared_state: Any) -> None:
    router = Router(
        [
            fake_entry(openai_fake, "slow", "s1", timeout=0.2),
            entry("slow", "mock/fast", id="f1", mock_response="fast answer"),
        ],
        environ={},
        state=shared_state,
        num_retries=1,
        rng=random.Random(7),
    )
    timeouts = 0
    for _ in range(6):
        openai_fake.script(Reply.delay(3.0))  # s1 never answers in time
        response = await router.acompletion("slow", MESSAGES)
        assert isinstance(response, tollway.ChatCompletion)
        assert response.choices[0].message.content == "fast answer"  # a timed-out try is retried on f1
        assert response.meta is not None
        timeouts += sum(isinstance(e, tollway.Timeout) for e in response.meta.attempt_errors)
        openai_fake.reset()
    assert timeouts >= 1  # with this seed s1 is picked first at least once

    openai_fake.script(Reply.stream(truncate_after=3, abort=True))
    solo = Router([fake_entry(openai_fake, "chat", "solo")], environ={}, state=shared_state)
    stream = await solo.acompletion("chat", MESSAGES, stream=True)
    assert isinstance(stream, tollway.AsyncCompletionStream)
    with pytest.raises(tollway.APIConnectionError):
        async for _ in stream:  # after the first byte a failure reaches the caller: no silent restart
            pass
    stats = await shared_state.stats(["solo"], time.time())
    assert stats["solo"].in_flight == 0  # the slot was released when the stream failed
    await router.aclose()
    await solo.aclose()


async def test_streams_release_their_slot_and_record_time_to_first_token(shared_state: Any) -> None:
    router = Router([entry("chat", "mock/a", id="a", max_parallel_requests=1)], environ={}, state=shared_state)
    for _ in range(3):  # with max_parallel_requests=1 each stream must free its slot for the next
        stream = await router.acompletion("chat", MESSAGES, stream=True)
        assert isinstance(stream, tollway.AsyncCompletionStream)
        assert [c async for c in stream]
    stats = (await shared_state.stats(["a"], time.time()))["a"]
    assert stats.in_flight == 0
    assert stats.rpm_used == 3
    assert stats.latency is not None
    await router.aclose()


async def test_rerank_is_routed_with_retries(cohere_fake: Any) -> None:
    model_list = [
        entry("rerank", "cohere/rerank-v3.5", id="co", api_base=cohere_fake.url, api_key="co-key"),
    ]
    router = Router(model_list, environ={}, num_retries=1)
    cohere_fake.script(Reply.error(503, "busy", headers={"retry-after": "0"}), route="rerank")
    ranked = await router.arerank("rerank", "capital of France", ["Paris is the capital.", "Bananas."], top_n=1)
    assert len(ranked.results) == 1
    assert ranked.results[0].index == 0
    assert ranked.meta is not None
    assert ranked.meta.deployment_id == "co"
    assert ranked.meta.attempts == 2  # the 503 was retried
    await router.aclose()


async def test_a_deployments_own_num_retries_retries_that_deployment(openai_fake: OpenAIFake) -> None:
    # LiteLLM's litellm_params.num_retries: the call to that deployment retries itself, beside the router's retries.
    openai_fake.script(Reply.error(503, "busy", headers={"retry-after": "0"}))
    router = Router([fake_entry(openai_fake, "chat", "only", num_retries=1)], environ={}, num_retries=0)
    response = await router.acompletion("chat", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    assert len(openai_fake.requests) == 2
    await router.aclose()
    openai_fake.script(Reply.error(503, "busy", headers={"retry-after": "0"}))
    plain = Router([fake_entry(openai_fake, "chat", "only")], environ={}, num_retries=0)
    with pytest.raises(tollway.ServiceUnavailableError):
        await plain.acompletion("chat", MESSAGES)
    await plain.aclose()
