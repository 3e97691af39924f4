"""Vertex AI end to end: tollway's Client with a service account (token from the loopback Google token fake) against
the Vertex fakes, and the official SDKs (anthropic's AnthropicVertex, google-genai with vertexai=True) against the
same fakes, so that the fakes are known to accept what the real clients send and to answer what they can read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai.types.chat as oai
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import tollway
from fakes import Reply
from fakes.vertex import GoogleTokenFake, VertexClaudeFake, VertexGeminiFake
from tollway import Client

EMAIL = "sdk-test@tollway-project.iam.gserviceaccount.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
CLAUDE = "vertex_ai/claude-sonnet-4-5@20250929"
GEMINI = "vertex_ai/gemini-2.5-flash"


@pytest.fixture
def account(google_token_fake: GoogleTokenFake) -> dict[str, Any]:
    google_token_fake.add_service_account(EMAIL, KEY.public_key(), key_id="k1")
    pem = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "k1",
        "private_key": pem.decode(),
        "client_email": EMAIL,
        "token_uri": google_token_fake.token_uri,
    }


@pytest.fixture
def sa_file(account: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "service-account.json"
    path.write_bytes(orjson.dumps(account))
    return path


@pytest.fixture
def client(vertex_fake: VertexClaudeFake, vertex_gemini_fake: VertexGeminiFake, sa_file: Path) -> Iterator[Client]:
    # One client per test; two fakes (one per publisher) so each speaks one dialect.
    client = Client(environ={"GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)}, num_retries=0)
    yield client
    client.close()


def validated(response: object) -> tollway.ChatCompletion:
    assert isinstance(response, tollway.ChatCompletion)
    oai.ChatCompletion.model_validate(response.to_dict())
    return response


def test_claude_with_a_service_account_file(
    client: Client, vertex_fake: VertexClaudeFake, google_token_fake: GoogleTokenFake
) -> None:
    vertex_fake.accepted_tokens = {"ya29.fake-1"}
    for _ in range(3):
        response = validated(client.completion(CLAUDE, MESSAGES, api_base=vertex_fake.url, max_tokens=50))
        assert response.choices[0].message.content == "Hello from the fake Anthropic upstream."
        assert response.choices[0].finish_reason == "stop"
        assert response.usage is not None
        assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0
    assert len(google_token_fake.requests) == 1  # the token is cached across calls
    sent = vertex_fake.last_request
    assert sent.path == (
        "/v1/projects/sa-project/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    )
    assert sent.headers["authorization"] == "Bearer ya29.fake-1"
    assert sent.json["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in sent.json
    assert sent.json["system"] == "Be brief."


def test_claude_stream_with_usage(client: Client, vertex_fake: VertexClaudeFake) -> None:
    stream = client.completion(
        CLAUDE, MESSAGES, api_base=vertex_fake.url, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    rebuilt = tollway.stream_chunk_builder(chunks)
    assert rebuilt.choices[0].message.content == "Hello from the fake Anthropic upstream."
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert vertex_fake.last_request.path.endswith(":streamRawPredict")


def test_gemini_with_project_location_and_one_token(
    client: Client, vertex_gemini_fake: VertexGeminiFake, google_token_fake: GoogleTokenFake
) -> None:
    vertex_gemini_fake.accepted_tokens = {"ya29.fake-1"}
    response = validated(
        client.completion(
            GEMINI, MESSAGES, api_base=vertex_gemini_fake.url, vertex_project="p2", vertex_location="europe-west4"
        )
    )
    assert response.choices[0].message.content == "Hello from the fake Gemini upstream."
    embedded = client.embedding("vertex_ai/text-embedding-005", ["a", "b"], api_base=vertex_gemini_fake.url)
    assert len(embedded.data) == 2
    assert len(embedded.data[0].embedding) == 768
    assert len(google_token_fake.requests) == 1
    paths = [r.path for r in vertex_gemini_fake.requests]
    assert paths == [
        "/v1/projects/p2/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
        "/v1/projects/sa-project/locations/us-central1/publishers/google/models/text-embedding-005:predict",
    ]


def test_expired_or_rejected_token_is_an_authentication_error(client: Client, vertex_fake: VertexClaudeFake) -> None:
    vertex_fake.accepted_tokens = {"ya29.some-other-token"}
    with pytest.raises(tollway.AuthenticationError) as info:
        client.completion(CLAUDE, MESSAGES, api_base=vertex_fake.url)
    assert info.value.upstream_status == 401
    assert info.value.provider == "vertex_ai"


def test_nothing_configured_fails_before_any_request(vertex_fake: VertexClaudeFake) -> None:
    client = Client(environ={"VERTEXAI_PROJECT": "p"})
    with pytest.raises(tollway.MissingCredentialsError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        client.completion(CLAUDE, MESSAGES, api_base=vertex_fake.url)
    assert vertex_fake.requests == []
    client.close()


def test_malformed_service_account_fails_before_any_request(vertex_fake: VertexClaudeFake, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"type": "service_account", "client_email": "x@y"}')
    client = Client(environ={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    with pytest.raises(tollway.BadRequestError, match="no private_key"):
        client.completion(CLAUDE, MESSAGES, api_base=vertex_fake.url)
    assert vertex_fake.requests == []
    client.close()


def test_in_stream_error_from_the_fake(client: Client, vertex_gemini_fake: VertexGeminiFake) -> None:
    vertex_gemini_fake.script(Reply.stream_error(after=1), route="stream")
    stream = client.completion(GEMINI, MESSAGES, api_base=vertex_gemini_fake.url, stream=True)
    assert isinstance(stream, tollway.CompletionStream)
    with pytest.raises(tollway.ServiceUnavailableError):
        list(stream)


# -- the official SDKs against the same fakes ---------------------------------------------------------------------
def test_anthropic_vertex_sdk_is_accepted_and_matches_tollway(client: Client, vertex_fake: VertexClaudeFake) -> None:
    sdk = anthropic.AnthropicVertex(
        region="us-central1",
        project_id="sa-project",
        access_token="ya29.sdk",
        base_url=vertex_fake.url + "/v1",
        max_retries=0,
    )
    message = sdk.messages.create(
        model="claude-sonnet-4-5@20250929", max_tokens=50, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake Anthropic upstream."
    sdk_request = vertex_fake.last_request
    with sdk.messages.stream(
        model="claude-sonnet-4-5@20250929", max_tokens=50, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        assert stream.get_final_text() == "Hello from the fake Anthropic upstream."
    assert vertex_fake.last_request.path.endswith(":streamRawPredict")
    client.completion(CLAUDE, [{"role": "user", "content": "Say hello"}], api_base=vertex_fake.url, max_tokens=50)
    ours = vertex_fake.last_request
    assert ours.path == sdk_request.path
    assert set(ours.json) == set(sdk_request.json)  # messages, max_tokens, anthropic_version; no model
    assert sdk_request.json["messages"] == [{"role": "user", "content": "Say hello"}]
    assert ours.json["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]


def test_anthropic_vertex_sdk_reads_the_fake_errors(vertex_fake: VertexClaudeFake) -> None:
    sdk = anthropic.AnthropicVertex(
        region="us-central1", project_id="p", access_token="t", base_url=vertex_fake.url + "/v1", max_retries=0
    )
    vertex_fake.script(Reply.error(429, headers={"retry-after": "0"}))
    with pytest.raises(anthropic.RateLimitError):
        sdk.messages.create(
            model="claude-sonnet-4-5@20250929", max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        )
    vertex_fake.script(Reply.stream_error(after=2), route="stream_raw_predict")
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        sdk.messages.stream(
            model="claude-sonnet-4-5@20250929", max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        ) as s,
    ):
        s.get_final_text()


def test_google_genai_vertex_client_against_the_gemini_fake(vertex_gemini_fake: VertexGeminiFake) -> None:
    from google.genai import Client as GenAIClient
    from google.genai import types
    from google.oauth2.credentials import Credentials

    sdk = GenAIClient(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=Credentials("ya29.genai"),
        http_options=types.HttpOptions(base_url=vertex_gemini_fake.url),
    )
    answer = sdk.models.generate_content(
        model="gemini-2.5-flash",
        contents="Say hello",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=50),
    )
    assert answer.text == "Hello from the fake Gemini upstream."
    sent = vertex_gemini_fake.last_request
    assert (
        sent.path
        == "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert sent.headers["authorization"] == "Bearer ya29.genai"
    streamed = "".join(
        chunk.text or "" for chunk in sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="Say hello")
    )
    assert streamed == "Hello from the fake Gemini upstream."
    embedded = sdk.models.embed_content(
        model="text-embedding-005", contents=["a", "b"], config=types.EmbedContentConfig(output_dimensionality=8)
    )
    assert embedded.embeddings is not None
    assert [len(e.values or []) for e in embedded.embeddings] == [8, 8]
    assert vertex_gemini_fake.last_request.path.endswith("/models/text-embedding-005:predict")
