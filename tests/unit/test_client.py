"""The client loop with a scripted in-memory transport: retries, timeouts, credentials, stream ownership."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

import tollway
from tollway import Client
from tollway.http import HttpRequest
from tollway.transport import Timeouts

MESSAGES = [{"role": "user", "content": "hi"}]
OK = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop", "logprobs": None}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@dataclass
class Reply:
    status: int = 200
    body: bytes = orjson.dumps(OK)
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    chunks: list[bytes] | None = None
    delay: float = 0.0
    raises: Exception | None = None


class _Response:
    def __init__(self, reply: Reply, log: list[str]) -> None:
        self.status = reply.status
        self.headers = reply.headers
        self._reply = reply
        self._log = log
        self._finished = False

    async def read(self) -> bytes:
        self._finished = True
        return self._reply.body

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for piece in self._reply.chunks or [self._reply.body]:
            await asyncio.sleep(0)
            yield piece
        self._finished = True

    async def aclose(self) -> None:
        self._log.append("released" if self._finished else "closed-unfinished")


class ScriptedTransport:
    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.sent: list[HttpRequest] = []
        self.log: list[str] = []

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> _Response:
        self.sent.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raises is not None:
            raise reply.raises
        return _Response(reply, self.log)

    async def aclose(self) -> None:
        self.log.append("pool-closed")


def client_with(replies: list[Reply], **kwargs: Any) -> tuple[Client, ScriptedTransport]:
    transport = ScriptedTransport(replies)
    factory: Callable[[], ScriptedTransport] = lambda: transport  # noqa: E731
    return Client(environ={"OPENAI_API_KEY": "sk-test"}, transport_factory=factory, **kwargs), transport


def error(status: int, message: str = "upstream says no", **headers: str) -> Reply:
    body = orjson.dumps({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
    return Reply(status=status, body=body, headers={"content-type": "application/json", **headers})


async def test_success_builds_the_request_and_wraps_the_answer() -> None:
    client, transport = client_with([Reply()])
    response = await client.acompletion("gpt-4o-mini", MESSAGES, temperature=0.2, extra_headers={"x-t": "1"})
    assert isinstance(response, tollway.ChatCompletion)
    assert response.choices[0].message.content == "ok"
    assert response.meta is not None
    assert response.meta.attempts == 1
    assert response.meta.usage is not None
    sent = transport.sent[0]
    assert sent.url == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["x-t"] == "1"
    assert orjson.loads(sent.body)["temperature"] == 0.2
    assert transport.log == ["released"]
    await client.aclose()
    assert transport.log[-1] == "pool-closed"


async def test_retries_retryable_errors_then_succeeds() -> None:
    client, transport = client_with([error(500), error(429, **{"retry-after": "0"}), Reply()])
    response = await client.acompletion("gpt-4o-mini", MESSAGES)
    assert response.meta is not None
    assert response.meta.attempts == 3
    assert len(transport.sent) == 3
    await client.aclose()


async def test_gives_up_after_num_retries_keeping_the_upstream_error() -> None:
    client, transport = client_with([error(503, **{"retry-after": "0"})], num_retries=1)
    with pytest.raises(tollway.ServiceUnavailableError) as info:
        await client.acompletion("gpt-4o-mini", MESSAGES)
    assert len(transport.sent) == 2
    assert info.value.upstream_status == 503
    assert info.value.provider == "openai"
    assert info.value.model == "gpt-4o-mini"
    assert b"upstream says no" in (info.value.body or b"")
    await client.aclose()


async def test_non_retryable_errors_fail_at_once() -> None:
    client, transport = client_with([error(401, "bad key")])
    with pytest.raises(tollway.AuthenticationError, match="bad key"):
        await client.acompletion("gpt-4o-mini", MESSAGES)
    assert len(transport.sent) == 1
    await client.aclose()


async def test_per_call_num_retries_zero() -> None:
    client, transport = client_with([error(500)])
    with pytest.raises(tollway.InternalServerError):
        await client.acompletion("gpt-4o-mini", MESSAGES, num_retries=0)
    assert len(transport.sent) == 1
    await client.aclose()


async def test_total_timeout_raises_timeout() -> None:
    client, _transport = client_with([Reply(delay=5)], num_retries=0)
    with pytest.raises(tollway.Timeout, match=r"within 0\.05s"):
        await client.acompletion("gpt-4o-mini", MESSAGES, timeout=0.05)
    await client.aclose()


async def test_connection_errors_are_retried() -> None:
    refused = tollway.APIConnectionError("cannot connect to api.openai.com: refused")
    client, _transport = client_with([Reply(raises=refused), Reply()])
    response = await client.acompletion("gpt-4o-mini", MESSAGES)
    assert response.meta is not None
    assert response.meta.attempts == 2
    await client.aclose()


async def test_non_json_answer_is_a_bad_gateway_error() -> None:
    client, _ = client_with([Reply(body=b"<html>oops</html>", headers={"content-type": "text/html"})], num_retries=0)
    with pytest.raises(tollway.BadGatewayError, match="not JSON"):
        await client.acompletion("gpt-4o-mini", MESSAGES)
    await client.aclose()


def sse(*chunks: dict[str, Any], done: bool = True) -> list[bytes]:
    out = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
    return out + ([b"data: [DONE]\n\n"] if done else [])


HEAD = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
STREAM = sse(
    {**HEAD, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    *({**HEAD, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in "abcdef"),
    {**HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {**HEAD, "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}},
)


async def test_stream_hides_usage_chunk_unless_asked_but_knows_usage() -> None:
    client, transport = client_with([Reply(chunks=STREAM, headers={"content-type": "text/event-stream"})])
    stream = await client.acompletion("gpt-4o-mini", MESSAGES, stream=True)
    assert isinstance(stream, tollway.AsyncCompletionStream)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "abcdef"
    assert stream.usage is not None
    assert stream.usage.output_tokens == 6
    assert orjson.loads(transport.sent[0].body)["stream_options"] == {"include_usage": True}
    assert transport.log == ["released"]

    stream = await client.acompletion("gpt-4o-mini", MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    await client.aclose()


async def test_breaking_out_of_a_stream_closes_the_upstream_connection() -> None:
    client, transport = client_with([Reply(chunks=STREAM)])
    stream = await client.acompletion("gpt-4o-mini", MESSAGES, stream=True)
    async with stream:
        async for _ in stream:
            break
    assert transport.log == ["closed-unfinished"]
    await client.aclose()


async def test_error_before_first_chunk_is_retried_but_truncation_later_is_raised() -> None:
    truncated = STREAM[:3]
    mid_error = sse(
        {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}, done=False
    )
    client, _transport = client_with([Reply(chunks=mid_error), Reply(chunks=truncated)])
    stream = await client.acompletion("gpt-4o-mini", MESSAGES, stream=True)
    assert stream.meta.attempts == 2
    with pytest.raises(tollway.APIConnectionError, match="before it finished"):
        async for _ in stream:
            pass
    await client.aclose()


def test_missing_credentials_name_the_variable() -> None:
    client = Client(environ={})
    with pytest.raises(tollway.MissingCredentialsError, match="ANTHROPIC_API_KEY"):
        client.completion("anthropic/claude-sonnet-4-5", MESSAGES)
    with pytest.raises(tollway.MissingCredentialsError, match="OPENAI_API_KEY"):
        client.completion("gpt-4o", MESSAGES)
    client.close()


def test_unknown_provider_and_router_only_params() -> None:
    client = Client(environ={})
    with pytest.raises(tollway.UnknownProviderError):
        client.completion("nope/model", MESSAGES)
    with pytest.raises(tollway.BadRequestError, match="Router"):
        client.completion("gpt-4o", MESSAGES, fallbacks=["claude-3"])
    client.close()


def test_sync_api_shares_the_async_core() -> None:
    transport = ScriptedTransport([Reply(), Reply(chunks=STREAM)])
    client = Client(environ={"OPENAI_API_KEY": "k"}, transport_factory=lambda: transport)
    response = client.completion("gpt-4o-mini", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    stream = client.completion("gpt-4o-mini", MESSAGES, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    with stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "abcdef"
    client.close()
    assert transport.log[-1] == "pool-closed"
    with pytest.raises(RuntimeError, match="closed"):
        client.completion("gpt-4o-mini", MESSAGES)


def test_pool_closes_when_asyncio_run_ends() -> None:
    transport = ScriptedTransport([Reply()])
    client = Client(environ={"OPENAI_API_KEY": "k"}, transport_factory=lambda: transport)
    asyncio.run(client.acompletion("gpt-4o-mini", MESSAGES))
    assert transport.log == ["released", "pool-closed"]
