"""Bedrock end to end: tollway and the real boto3 client against the loopback fake, which verifies SigV4 signatures
with botocore and judges bodies with botocore's own service model; botocore decodes the fake's event stream."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import openai.types.chat as oai
import orjson
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError

import tollway
from fakes import Reply
from fakes.bedrock import ANSWER, BedrockFake
from tollway import Client
from tollway.adapters.base import Endpoint
from tollway.adapters.bedrock import BedrockAdapter

MODEL = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
KEY_ID, SECRET = "AKIDFAKEBEDROCK", "fake-bedrock-secret"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def environ(fake: BedrockFake, **extra: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_BEDROCK_RUNTIME_ENDPOINT": fake.url,
        **extra,
    }


@pytest.fixture
def client(bedrock_fake: BedrockFake) -> Iterator[Client]:
    client = Client(environ=environ(bedrock_fake), num_retries=0)
    yield client
    client.close()


_BOTO_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def _close_boto_clients() -> Iterator[None]:
    yield
    while _BOTO_CLIENTS:
        _BOTO_CLIENTS.pop().close()  # their pooled sockets would be ResourceWarnings (errors here)


def boto(fake: BedrockFake, secret: str = SECRET) -> Any:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )
    _BOTO_CLIENTS.append(client)
    return client


def test_completion_signed_with_env_keys(client: Client, bedrock_fake: BedrockFake) -> None:
    response = client.completion(MODEL, MESSAGES, max_tokens=50)
    assert isinstance(response, tollway.ChatCompletion)
    data = response.to_dict()
    oai.ChatCompletion.model_validate(data)
    assert data["choices"][0]["message"]["content"] == ANSWER
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"] > 0
    sent = bedrock_fake.last_request
    assert sent.path == "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert sent.json["system"] == [{"text": "Be brief."}]
    assert sent.json["inferenceConfig"] == {"maxTokens": 50}


def test_wrong_secret_is_rejected_by_the_fake(bedrock_fake: BedrockFake) -> None:
    client = Client(environ={**environ(bedrock_fake), "AWS_SECRET_ACCESS_KEY": "wrong"}, num_retries=0)
    with pytest.raises(tollway.AuthenticationError, match="signature"):
        client.completion(MODEL, MESSAGES)
    client.close()


def test_bearer_api_key(bedrock_fake: BedrockFake) -> None:
    env = {
        "AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-fake",
        "AWS_REGION": "us-west-2",
        "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock_fake.url,
    }
    client = Client(environ=env, num_retries=0)
    assert client.completion(MODEL, MESSAGES).choices[0].message.content == ANSWER  # type: ignore[union-attr]
    assert bedrock_fake.last_request.headers["authorization"] == "Bearer bedrock-api-key-fake"
    client.close()


def test_profile_from_shared_files_and_session_token(bedrock_fake: BedrockFake, tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        f"[team]\naws_access_key_id={KEY_ID}\naws_secret_access_key={SECRET}\naws_session_token=tok\n"
    )
    (tmp_path / "config").write_text("[profile team]\nregion = eu-west-3\n")
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock_fake.url,
    }
    client = Client(environ=env, num_retries=0)
    client.completion(MODEL, MESSAGES, aws_profile_name="team")
    headers = bedrock_fake.last_request.headers
    assert "/eu-west-3/bedrock/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "tok"
    client.close()


def test_invalid_region_fails_before_any_request(bedrock_fake: BedrockFake) -> None:
    client = Client(environ=environ(bedrock_fake, AWS_REGION="us-east1"), num_retries=0)
    with pytest.raises(tollway.BadRequestError, match="not an AWS region"):
        client.completion(MODEL, MESSAGES)
    assert bedrock_fake.requests == []
    client.close()


def test_stream_with_tools_and_usage(client: Client) -> None:
    messages = [{"role": "user", "content": "Use get_weather please"}]
    stream = client.completion(MODEL, messages, tools=[WEATHER], stream=True, stream_options={"include_usage": True})
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    rebuilt = tollway.stream_chunk_builder(chunks).to_dict()
    assert rebuilt["choices"][0]["finish_reason"] == "tool_calls"
    assert orjson.loads(rebuilt["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "city": "example city"
    }
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


def test_reasoning_round_trip(client: Client, bedrock_fake: BedrockFake) -> None:
    first = client.completion(MODEL, [{"role": "user", "content": "Hi"}], reasoning_effort="low")
    message = first.choices[0].message.to_dict()  # type: ignore[union-attr]
    assert message["reasoning_content"]
    assert message["thinking_blocks"][0]["signature"]
    client.completion(MODEL, [{"role": "user", "content": "Hi"}, message, {"role": "user", "content": "More"}])
    sent = bedrock_fake.last_request.json["messages"][1]["content"][0]
    assert sent["reasoningContent"]["reasoningText"]["signature"] == message["thinking_blocks"][0]["signature"]


def test_cache_points_report_writes_then_reads(client: Client) -> None:
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": "policy " * 500, "cache_control": {"type": "ephemeral"}}],
        },
        {"role": "user", "content": "Hi"},
    ]
    first = client.completion(MODEL, messages).to_dict()  # type: ignore[union-attr]
    second = client.completion(MODEL, messages).to_dict()  # type: ignore[union-attr]
    assert first["usage"]["prompt_tokens_details"]["cache_write_tokens"] > 0
    assert (
        second["usage"]["prompt_tokens_details"]["cached_tokens"]
        == first["usage"]["prompt_tokens_details"]["cache_write_tokens"]
    )
    assert second["usage"]["prompt_tokens"] == first["usage"]["prompt_tokens"]


def test_context_window_error(client: Client, bedrock_fake: BedrockFake) -> None:
    bedrock_fake.script(Reply.error(400, "Input is too long for requested model.", type="ValidationException"))
    with pytest.raises(tollway.ContextWindowExceededError):
        client.completion(MODEL, MESSAGES)


def test_titan_embedding_single_input(client: Client, bedrock_fake: BedrockFake) -> None:
    response = client.embedding("bedrock/amazon.titan-embed-text-v2:0", "hello", dimensions=8)
    assert len(response.data[0].embedding) == 8
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0
    assert bedrock_fake.last_request.json == {"inputText": "hello", "dimensions": 8}


def test_titan_embeds_several_inputs_one_request_each(client: Client, bedrock_fake: BedrockFake) -> None:
    response = client.embedding("bedrock/amazon.titan-embed-text-v2:0", ["one", "two", "three"], dimensions=8)
    assert [item.index for item in response.data] == [0, 1, 2]
    assert len({tuple(item.embedding) for item in response.data}) == 3
    sent = sorted(request.json["inputText"] for request in bedrock_fake.requests)
    assert sent == ["one", "three", "two"]
    single = client.embedding("bedrock/amazon.titan-embed-text-v2:0", "one", dimensions=8)
    assert response.data[0].embedding == single.data[0].embedding
    assert response.usage is not None
    assert single.usage is not None
    assert response.usage.prompt_tokens > single.usage.prompt_tokens


# -- the fake against the official SDK (PROVIDERS.md §8.8) --------------------------------------------------------
def test_boto3_converse_against_the_fake(bedrock_fake: BedrockFake) -> None:
    answer = boto(bedrock_fake).converse(
        modelId="us.anthropic.claude-sonnet-4-20250514-v1:0",
        messages=[
            {"role": "user", "content": [{"text": "Hi"}, {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}]}
        ],
        inferenceConfig={"maxTokens": 100},
    )
    assert answer["output"]["message"]["content"] == [{"text": ANSWER}]
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["totalTokens"] == answer["usage"]["inputTokens"] + answer["usage"]["outputTokens"]
    assert bedrock_fake.last_request.headers["authorization"].startswith("AWS4-HMAC-SHA256")


def test_boto3_converse_stream_against_the_fake(bedrock_fake: BedrockFake) -> None:
    answer = boto(bedrock_fake).converse_stream(
        modelId="anthropic.claude-3-5-haiku-20241022-v1:0",
        messages=[{"role": "user", "content": [{"text": "Use get_weather"}]}],
        toolConfig={
            "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER["function"]["parameters"]}}}]
        },
    )
    events = list(answer["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart"
    assert kinds[-2:] == ["messageStop", "metadata"]
    assert "contentBlockStart" in kinds
    fragments = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "toolUse" in e.get("contentBlockDelta", {}).get("delta", {})
    )
    assert orjson.loads(fragments) == {"city": "example city"}


def test_boto3_sees_scripted_errors_typed(bedrock_fake: BedrockFake) -> None:
    bedrock_fake.script(Reply.error(429, "Too many requests"))
    with pytest.raises(ClientError) as info:
        boto(bedrock_fake).converse(modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    bedrock_fake.script(Reply.stream_error(after=2), route="converse_stream")
    stream = boto(bedrock_fake).converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}])[
        "stream"
    ]
    with pytest.raises(ClientError) as info:
        list(stream)
    stream.close()  # the failed stream still holds its connection
    assert info.value.response["Error"]["Code"] == "throttlingException"


def test_fake_rejects_a_bad_boto3_signature_and_unknown_fields(bedrock_fake: BedrockFake) -> None:
    with pytest.raises(ClientError) as info:
        boto(bedrock_fake, secret="wrong").converse(
            modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}]
        )
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    client = Client(environ=environ(bedrock_fake), num_retries=0)
    with pytest.raises(tollway.BadRequestError, match="Unknown parameter"):
        client.completion(MODEL, MESSAGES, extra_body={"notAField": 1})
    client.close()


def test_botocore_decodes_the_raw_stream_tollway_receives(bedrock_fake: BedrockFake) -> None:
    endpoint = Endpoint(
        "bedrock",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        bedrock_fake.url,
        params={"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "aws_region_name": "us-east-1"},
    )
    request = BedrockAdapter().build_chat_request({"model": MODEL, "messages": MESSAGES, "stream": True}, endpoint)
    parts = urlsplit(request.url)
    connection = http.client.HTTPConnection(parts.netloc)
    connection.request("POST", parts.path, body=request.body, headers=dict(request.headers))
    answer = connection.getresponse()
    assert answer.status == 200
    assert answer.getheader("content-type") == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(answer.read())
    connection.close()
    messages = list(buffer)
    assert [m.headers[":event-type"] for m in messages][-2:] == ["messageStop", "metadata"]
    text = "".join(
        orjson.loads(m.payload)["delta"]["text"] for m in messages if m.headers[":event-type"] == "contentBlockDelta"
    )
    assert text == ANSWER
