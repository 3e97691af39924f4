"""The built-in mock provider: the whole pipeline runs offline and every answer says it is a mock."""

import base64
import struct

import openai.types as oai_types
import openai.types.chat as oai
import pytest

import tollway
from tollway import Client

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def client() -> Client:
    return Client(environ={})


async def test_mock_model_async(client: Client) -> None:
    response = await client.acompletion("mock/demo", MESSAGES)
    assert isinstance(response, tollway.ChatCompletion)
    oai.ChatCompletion.model_validate(response.to_dict())
    assert response.system_fingerprint == "tollway-mock"
    assert response.id.startswith("chatcmpl-mock-")
    assert response.choices[0].message.content == "This is a mock response from tollway."
    assert response.meta is not None
    assert response.meta.mock
    assert response.meta.provider == "mock"
    await client.aclose()


def test_mock_response_on_any_model_needs_no_key(client: Client) -> None:
    response = client.completion("anthropic/claude-sonnet-4-5", MESSAGES, mock_response="Bonjour")
    assert isinstance(response, tollway.ChatCompletion)
    assert response.choices[0].message.content == "Bonjour"
    assert response.model == "claude-sonnet-4-5"
    assert response.meta is not None
    assert response.meta.mock
    client.close()


def test_mock_stream_sync(client: Client) -> None:
    stream = client.completion("mock/demo", MESSAGES, stream=True, mock_response="one two three")
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    assert tollway.stream_chunk_builder(chunks).choices[0].message.content == "one two three"
    assert stream.usage is not None
    assert stream.usage.output_tokens > 0
    client.close()


def test_mock_tool_calls(client: Client) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    response = client.completion("mock/x", MESSAGES, mock_response={"tool_calls": [call]})
    assert isinstance(response, tollway.ChatCompletion)
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.to_dict()["choices"][0]["message"]["tool_calls"] == [call]
    client.close()


def test_mock_errors_are_typed_and_retried(client: Client) -> None:
    with pytest.raises(tollway.RateLimitError, match="slow down") as info:
        client.completion(
            "mock/x",
            MESSAGES,
            num_retries=1,
            mock_response={"status": 429, "error": "slow down", "headers": {"retry-after": "0"}},
        )
    assert info.value.retry_after == 0.0
    client.close()


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_mock_embeddings(client: Client, encoding: str) -> None:
    response = client.embedding("mock/embed", ["a", "b"], encoding_format=encoding, dimensions=4)
    if encoding == "float":  # the SDK decodes base64 itself before its model sees the data
        oai_types.CreateEmbeddingResponse.model_validate(response.to_dict())
    vectors = [e.embedding for e in response.data]
    assert len(vectors) == 2
    if encoding == "base64":
        assert isinstance(vectors[0], str)
        assert len(struct.unpack("<4f", base64.b64decode(vectors[0]))) == 4
    else:
        assert isinstance(vectors[0], list)
        assert len(vectors[0]) == 4
    client.close()


def test_sync_calls_from_many_threads_share_one_client(client: Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def call(i: int) -> str | None:
        response = client.completion("mock/x", MESSAGES, mock_response=f"answer {i}")
        assert isinstance(response, tollway.ChatCompletion)
        return response.choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(32)))
    assert answers == [f"answer {i}" for i in range(32)]
    client.close()
