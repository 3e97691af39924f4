"""The OpenAI stream decoder: fixture streams fed whole, byte by byte and in random splits."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from tollway.adapters.base import Endpoint, StreamDecoder
from tollway.adapters.openai import OpenAIAdapter
from tollway.adapters.openai_stream import OpenAIStreamDecoder
from tollway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadGatewayError,
    ContextWindowExceededError,
    InternalServerError,
    RateLimitError,
    TollwayError,
)

pytestmark = pytest.mark.usefixtures("still_clock")  # decodings compared with == (conftest.py)

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
ENDPOINT = Endpoint(provider="openai", model="gpt-4o", api_base="https://api.openai.com/v1", api_key="sk-test")
STREAMS = sorted(p.name for p in FIXTURES.glob("*.sse") if p.stem not in {"mid_stream_error", "truncated"})


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decoder(endpoint: Endpoint = ENDPOINT) -> StreamDecoder:
    return OpenAIAdapter().chat_stream_decoder({"model": "gpt-4o", "messages": [], "stream": True}, endpoint)


def decode(data: bytes, pieces: list[bytes] | None = None, endpoint: Endpoint = ENDPOINT) -> list[dict[str, Any]]:
    """Feed ``pieces`` (default: the whole of ``data``) then close; every chunk must be a valid SDK chunk."""
    dec = decoder(endpoint)
    chunks: list[dict[str, Any]] = []
    for piece in pieces if pieces is not None else [data]:
        chunks.extend(dec.feed(piece))
    chunks.extend(dec.close())
    for chunk in chunks:
        parsed = ChatCompletionChunk.model_validate(chunk)
        # every field survives the SDK model unchanged (extras such as Azure's filter results included)
        assert parsed.model_dump(mode="json", exclude_unset=True) == chunk
    return chunks


def random_pieces(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def text_of(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["index"] == index
    )


def tool_calls_of(chunks: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    """Reassemble tool-call deltas per tool index, as an OpenAI client does."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for delta in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.get("id") or call["id"]
                function = delta.get("function") or {}
                call["name"] = function.get("name") or call["name"]
                call["arguments"] += function.get("arguments") or ""
    return calls


def usage_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk for chunk in chunks if chunk.get("usage")]


# --- whole streams -------------------------------------------------------------------------------------------


def test_text_stream() -> None:
    chunks = decode(fixture("text.sse"))
    assert text_of(chunks) == "Hello"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:4]] == [None, None, None, "stop"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 11
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert len(usage_chunks(chunks)) == 1
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}
    usage = ChatCompletionChunk.model_validate(chunks[-1]).usage
    assert usage is not None
    assert usage.completion_tokens == 2


def test_usage_attribute_is_set() -> None:
    dec = decoder()
    dec.feed(fixture("text.sse"))
    assert dec.usage is not None
    assert dec.usage["prompt_tokens"] == 9
    assert dec.close() == []


def test_parallel_tool_calls_reassemble_per_index() -> None:
    chunks = decode(fixture("tool_calls.sse"))
    assert tool_calls_of(chunks) == {
        0: {"id": "call_a", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "call_b", "name": "get_time", "arguments": '{"tz":"Europe/Paris"}'},
    }
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}


def test_usage_on_last_content_chunk_is_moved_to_its_own_chunk() -> None:
    chunks = decode(fixture("usage_on_last_chunk.sse"))
    assert len(chunks) == 3
    content_chunk = chunks[1]
    assert content_chunk["choices"][0]["finish_reason"] == "stop"
    assert content_chunk["usage"] is None
    usage_chunk = chunks[2]
    assert usage_chunk["choices"] == []
    # total_tokens recomputed: the vendor said 7 for 5 + 3
    assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert usage_chunk["id"] == "chatcmpl-1"
    assert usage_chunk["model"] == "gpt-4o-2024-08-06"
    assert usage_chunk["object"] == "chat.completion.chunk"
    assert text_of(chunks) == "Bonjour !"


def test_cumulative_usage_keeps_only_the_last() -> None:
    head = b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    data = (
        head + b'[{"index":0,"delta":{"content":"a"},"finish_reason":null}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n'
        + head
        + b'[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
        b"data: [DONE]\n\n"
    )
    chunks = decode(data)
    assert [c["usage"] for c in chunks[:2]] == [None, None]
    assert usage_chunks(chunks) == [chunks[2]]
    assert chunks[2]["usage"]["completion_tokens"] == 2


def test_n2_interleaved_choices() -> None:
    chunks = decode(fixture("n2.sse"))
    assert text_of(chunks, 0) == "Aa"
    assert text_of(chunks, 1) == "Bb"
    finishes = {ch["index"]: ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]}
    assert finishes == {0: "length", 1: "stop"}
    assert chunks[-1]["usage"]["total_tokens"] == 8


def test_azure_empty_choices_chunk_and_crlf() -> None:
    data = fixture("azure.sse")
    assert b"\r\n" in data
    chunks = decode(data)
    first = chunks[0]
    assert first["choices"] == []
    assert first["prompt_filter_results"][0]["prompt_index"] == 0
    assert first["object"] == "chat.completion.chunk"  # Azure sends "" here
    assert first["id"] == ""
    assert "usage" not in first
    assert text_of(chunks) == "Hi"
    assert chunks[2]["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    assert usage_chunks(chunks) == []


def test_keep_alive_comments_and_reasoning_content() -> None:
    chunks = decode(fixture("keepalive.sse"))
    assert len(chunks) == 4
    assert chunks[0]["choices"][0]["delta"]["reasoning_content"] == "Think"
    assert text_of(chunks) == "42"
    usage = chunks[-1]["usage"]
    assert usage["prompt_cache_hit_tokens"] == 6
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 12}


def test_reasoning_field_quirk_and_stream_without_done() -> None:
    endpoint = Endpoint(
        provider="groq",
        model="qwen-qwq",
        api_base="https://api.groq.com/openai/v1",
        quirks={"reasoning_field": "reasoning"},
    )
    chunks = decode(fixture("reasoning_no_done.sse"), endpoint=endpoint)
    delta = chunks[0]["choices"][0]["delta"]
    assert delta["reasoning"] == "Let me see"
    assert delta["reasoning_content"] == "Let me see"
    assert chunks[0]["x_groq"] == {"id": "req_1"}
    # no [DONE], but every choice finished: the usage chunk comes out of close()
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["queue_time"] == 0.01
    assert chunks[-1]["usage"]["total_tokens"] == 5


def test_reasoning_field_untouched_without_quirk() -> None:
    chunks = decode(fixture("reasoning_no_done.sse"))
    assert "reasoning_content" not in chunks[0]["choices"][0]["delta"]


@pytest.mark.parametrize("name", STREAMS)
def test_crlf_framing_gives_the_same_chunks(name: str) -> None:
    data = fixture(name).replace(b"\r\n", b"\n")
    assert decode(data.replace(b"\n", b"\r\n")) == decode(data)
    assert decode(data.replace(b"\n", b"\r")) == decode(data)


@pytest.mark.parametrize("name", STREAMS)
def test_byte_by_byte_gives_the_same_chunks(name: str) -> None:
    data = fixture(name)
    whole = decode(data)
    assert whole
    assert decode(data, [data[i : i + 1] for i in range(len(data))]) == whole


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("seed", range(5))
def test_random_splits_give_the_same_chunks(name: str, seed: int) -> None:
    data = fixture(name)
    assert decode(data, random_pieces(data, random.Random(seed))) == decode(data)


def test_multibyte_utf8_split_inside_a_character() -> None:
    data = (
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"content":"héllo → 世界"},"finish_reason":"stop"}]}\n\n'
        "data: [DONE]\n\n"
    ).encode()
    cut = data.index("世".encode()) + 1
    assert text_of(decode(data, [data[:cut], data[cut:]])) == "héllo → 世界"


def test_nothing_after_done_is_read() -> None:
    dec = decoder()
    chunks = dec.feed(fixture("text.sse") + b"data: not json\n\n")
    assert len(chunks) == 5
    assert dec.feed(b"data: also not json\n\n") == []
    assert dec.close() == []


def test_data_without_space_and_multiline_data() -> None:
    data = (
        b'data:{"id":"x","object":"chat.completion.chunk","created":1,"model":"m",\n'
        b'data:"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
        b"data:[DONE]\n\n"
    )
    assert text_of(decode(data)) == "ok"


# --- failures ------------------------------------------------------------------------------------------------


def test_mid_stream_error_raises_mapped_error() -> None:
    dec = decoder()
    data = fixture("mid_stream_error.sse")
    first, rest = data.split(b"\n\n", 1)
    assert len(dec.feed(first + b"\n\n")) == 1
    with pytest.raises(InternalServerError) as info:
        dec.feed(rest)
    err = info.value
    assert type(err) is InternalServerError
    assert err.message == "The server had an error while processing your request."
    assert err.upstream_status is None
    assert err.provider == "openai"
    assert err.model == "gpt-4o"
    assert err.retryable


@pytest.mark.parametrize(
    ("error", "cls", "code"),
    [
        ({"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}, RateLimitError, None),
        ({"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"},
         ContextWindowExceededError, "context_length_exceeded"),
        ({"message": "bad key", "type": "authentication_error", "code": None}, AuthenticationError, None),
        # OpenRouter: numeric code = HTTP status, and the error chunk also carries choices
        ({"code": 429, "message": "Rate limited upstream"}, RateLimitError, None),
        ({"code": 502, "message": "Upstream down"}, InternalServerError, None),
        ("plain string error", InternalServerError, None),
    ],
)  # fmt: skip
def test_mid_stream_error_classes(error: object, cls: type[TollwayError], code: str | None) -> None:
    payload = {"id": "x", "object": "chat.completion.chunk", "error": error, "choices": []}
    dec = decoder()
    with pytest.raises(cls) as info:
        dec.feed(b"data: " + orjson.dumps(payload) + b"\n\n")
    assert type(info.value) is cls
    assert info.value.upstream_status is None
    if code is not None:
        assert info.value.code == code
    if isinstance(error, dict):
        assert info.value.message == error["message"]


def test_falsy_error_key_is_not_an_error() -> None:
    data = (
        b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","error":null,'
        b'"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    assert text_of(decode(data)) == "ok"


def test_truncated_stream_raises_on_close() -> None:
    dec = decoder()
    chunks = dec.feed(fixture("truncated.sse"))
    assert text_of(chunks) == "Partial"
    with pytest.raises(APIConnectionError) as info:
        dec.close()
    assert type(info.value) is APIConnectionError
    assert info.value.message == "openai closed the stream before it finished"
    assert info.value.provider == "openai"
    assert info.value.model == "gpt-4o"


def test_truncated_stream_keeps_usage_seen_so_far() -> None:
    data = fixture("usage_on_last_chunk.sse").replace(b'"stop"', b"null").replace(b"data: [DONE]\n\n", b"")
    dec = decoder()
    dec.feed(data)
    with pytest.raises(APIConnectionError):
        dec.close()
    assert dec.usage == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_empty_stream_raises_on_close() -> None:
    dec = decoder()
    assert dec.feed(b": keep-alive\n\n") == []
    with pytest.raises(APIConnectionError):
        dec.close()


def test_one_of_two_choices_unfinished_is_truncated() -> None:
    data = fixture("n2.sse").replace(b'"length"', b"null").replace(b"data: [DONE]\n\n", b"")
    dec = decoder()
    dec.feed(data)
    with pytest.raises(APIConnectionError):
        dec.close()


def test_done_without_trailing_blank_line_is_seen_at_close() -> None:
    data = fixture("truncated.sse") + b"data: [DONE]"
    dec = decoder()
    assert text_of(dec.feed(data)) == "Partial"
    assert dec.close() == []


@pytest.mark.parametrize("payload", [b"data: {not json\n\n", b"data: <html>502</html>\n\n", b"data: [1, 2]\n\n"])
def test_non_json_data_raises_bad_gateway(payload: bytes) -> None:
    with pytest.raises(BadGatewayError) as info:
        decoder().feed(payload)
    assert info.value.provider == "openai"
    assert info.value.body == payload[len(b"data: ") :].strip()


def test_decoder_class_is_exported() -> None:
    assert isinstance(decoder(), OpenAIStreamDecoder)


def test_registry_loads_the_adapter() -> None:
    from tollway.adapters.base import Adapter
    from tollway.registry import PROVIDERS, load_adapter

    adapter: Adapter = OpenAIAdapter()  # mypy checks the protocol here
    assert isinstance(adapter, OpenAIAdapter)
    assert isinstance(load_adapter(PROVIDERS["openai"].adapter), OpenAIAdapter)
