"""Azure OpenAI end to end against the loopback Azure fake, and the fake checked against the openai SDK's own Azure
clients (``AzureOpenAI`` for the deployment URLs, ``OpenAI(base_url=.../openai/v1/)`` for the v1 form)."""

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import openai
import openai.types.chat as oai
import pytest
from openai.types.chat import ChatCompletionMessageParam

import tollway
from fakes import Reply
from fakes.azure import SAFE, AzureFake
from tollway import Client

MODEL = "azure/my-gpt-4o"
MESSAGES = [{"role": "user", "content": "Say hello"}]
SDK_MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]
ANSWER = "Hello from the fake OpenAI upstream."


@pytest.fixture
def client(azure_fake: AzureFake) -> Iterator[Client]:
    client = Client(environ={"AZURE_API_KEY": "azure-key", "AZURE_API_BASE": azure_fake.url}, num_retries=0)
    yield client
    client.close()


def validated(response: object) -> tollway.ChatCompletion:
    assert isinstance(response, tollway.ChatCompletion)
    oai.ChatCompletion.model_validate(response.to_dict())
    return response


def chunks_of(stream: object) -> list[tollway.ChatCompletionChunk]:
    assert isinstance(stream, tollway.CompletionStream)
    chunks = list(stream)
    for chunk in chunks:
        oai.ChatCompletionChunk.model_validate(chunk.to_dict())
    return chunks


def text_of(chunks: list[tollway.ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- tollway against the fake ------------------------------------------------------------------------------------


def test_classic_url_with_key_and_filter_results_kept(client: Client, azure_fake: AzureFake) -> None:
    response = validated(client.completion(MODEL, MESSAGES))
    assert response.choices[0].message.content == ANSWER
    data = response.to_dict()
    assert data["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
        "filtered": False,
        "detected": False,
    }
    assert data["choices"][0]["content_filter_results"] == SAFE
    sent = azure_fake.last_request
    assert sent.path == "/openai/deployments/my-gpt-4o/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "azure-key"
    assert "authorization" not in sent.headers
    assert sent.json["model"] == "my-gpt-4o"


def test_module_function_with_openai_sdk_environment_names(
    azure_fake: AzureFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure_fake.url + "/")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    validated(tollway.completion(model=MODEL, messages=MESSAGES))
    sent = azure_fake.last_request
    assert sent.query == {"api-version": "2025-04-01-preview"}
    assert sent.headers["api-key"] == "env-key"


@pytest.mark.parametrize("how", ["version", "base"])
def test_v1_url_with_entra_token(azure_fake: AzureFake, how: str) -> None:
    environ = {"AZURE_AD_TOKEN": "entra-token"}
    if how == "version":
        environ |= {"AZURE_API_BASE": azure_fake.url, "AZURE_API_VERSION": "v1"}
    else:
        environ |= {"AZURE_API_BASE": azure_fake.v1_url, "AZURE_API_VERSION": "2024-10-21"}
    with closing(Client(environ=environ, num_retries=0)) as client:
        validated(client.completion(MODEL, MESSAGES))
        chunks = chunks_of(client.completion(MODEL, MESSAGES, stream=True))
        client.embedding("azure/text-embedding-3-small", "hi")
    assert text_of(chunks) == ANSWER
    chat, streamed, embedded = azure_fake.requests
    for sent in (chat, streamed):
        assert sent.path == "/openai/v1/chat/completions"
        assert sent.query == {}
        assert sent.headers["authorization"] == "Bearer entra-token"
        assert "api-key" not in sent.headers
        assert sent.json["model"] == "my-gpt-4o"
    assert embedded.path == "/openai/v1/embeddings"


def test_token_passed_per_call(azure_fake: AzureFake) -> None:
    with closing(Client(environ={"AZURE_API_BASE": azure_fake.url}, num_retries=0)) as client:
        validated(client.completion(MODEL, MESSAGES, azure_ad_token="call-token"))
    assert azure_fake.last_request.headers["authorization"] == "Bearer call-token"
    assert "azure_ad_token" not in azure_fake.last_request.json


def test_stream_folds_the_prompt_filter_chunk(client: Client, azure_fake: AzureFake) -> None:
    chunks = chunks_of(client.completion(MODEL, MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert text_of(chunks) == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].to_dict()["prompt_filter_results"][0]["prompt_index"] == 0
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].id
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert azure_fake.last_request.json["stream_options"] == {"include_usage": True}


def test_stream_without_usage_request_has_choices_in_every_chunk(client: Client) -> None:
    stream = client.completion(MODEL, MESSAGES, stream=True)
    chunks = chunks_of(stream)
    assert all(c.choices for c in chunks)
    assert isinstance(stream, tollway.CompletionStream)
    assert stream.usage is not None
    assert stream.usage.output_tokens > 0


def test_embeddings(client: Client, azure_fake: AzureFake) -> None:
    response = client.embedding("azure/text-embedding-3-small", ["a", "b"], dimensions=8)
    assert [len(item.embedding) for item in response.data] == [8, 8]
    sent = azure_fake.last_request
    assert sent.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert sent.query == {"api-version": "2024-10-21"}


def test_blocked_prompt_is_a_content_policy_violation(client: Client, azure_fake: AzureFake) -> None:
    azure_fake.script(AzureFake.prompt_filtered())
    with pytest.raises(tollway.ContentPolicyViolationError, match="content management policy") as info:
        client.completion(MODEL, MESSAGES)
    assert info.value.code == "content_filter"
    assert info.value.upstream_status == 400
    assert info.value.provider == "azure"


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_output_finishes_with_content_filter(client: Client, azure_fake: AzureFake, stream: bool) -> None:
    azure_fake.script(AzureFake.output_filtered(stream=stream))
    if stream:
        chunks = chunks_of(client.completion(MODEL, MESSAGES, stream=True))
        assert text_of(chunks) == "I will"
        assert chunks[-1].choices[0].finish_reason == "content_filter"
        assert chunks[-1].to_dict()["choices"][0]["content_filter_results"]["violence"]["filtered"] is True
    else:
        response = validated(client.completion(MODEL, MESSAGES))
        assert response.choices[0].finish_reason == "content_filter"


def test_rate_limit_uses_retry_after_ms_and_is_retried(azure_fake: AzureFake) -> None:
    azure_fake.script(AzureFake.rate_limited(6))
    environ = {"AZURE_API_KEY": "k", "AZURE_API_BASE": azure_fake.url}
    with (
        closing(Client(environ=environ, num_retries=0)) as client,
        pytest.raises(tollway.RateLimitError, match="Please retry after 6 seconds") as info,
    ):
        client.completion(MODEL, MESSAGES)
    assert info.value.retry_after == 6.0
    assert info.value.upstream_status == 429
    azure_fake.script(Reply.error(429, headers={"retry-after-ms": "10", "retry-after": "1"}))
    with closing(Client(environ=environ, num_retries=1)) as client:
        response = validated(client.completion(MODEL, MESSAGES))
    assert response.meta is not None
    assert response.meta.attempts == 2


def test_unknown_deployment_is_not_found(client: Client, azure_fake: AzureFake) -> None:
    azure_fake.script(Reply.error(404))
    with pytest.raises(tollway.NotFoundError, match="deployment for this resource does not exist"):
        client.completion("azure/nope", MESSAGES)


def test_unsupported_parameter_never_reaches_azure(client: Client, azure_fake: AzureFake) -> None:
    with pytest.raises(tollway.UnsupportedParamsError, match="azure does not support the parameter 'top_k'"):
        client.completion(MODEL, MESSAGES, top_k=3)
    assert azure_fake.requests == []
    validated(client.completion(MODEL, MESSAGES, top_k=3, drop_params=True))
    assert "top_k" not in azure_fake.last_request.json


def test_data_sources_reach_azure(client: Client, azure_fake: AzureFake) -> None:
    sources = [{"type": "azure_search", "parameters": {"endpoint": "https://s.search.windows.net", "index_name": "i"}}]
    validated(client.completion(MODEL, MESSAGES, data_sources=sources))
    assert azure_fake.last_request.json["data_sources"] == sources


def test_missing_base_url_says_what_to_set() -> None:
    with closing(Client(environ={"AZURE_API_KEY": "k"})) as client, pytest.raises(tollway.BadRequestError) as info:
        client.completion(MODEL, MESSAGES)
    message = str(info.value)
    assert "azure needs a base URL" in message
    assert "set AZURE_API_BASE or AZURE_OPENAI_ENDPOINT in the environment or pass api_base=" in message
    assert info.value.param == "api_base"


def test_missing_credentials_say_what_to_set(azure_fake: AzureFake) -> None:
    with (
        closing(Client(environ={"AZURE_API_BASE": azure_fake.url})) as client,
        pytest.raises(tollway.MissingCredentialsError, match=r"AZURE_API_KEY .*AZURE_AD_TOKEN"),
    ):
        client.completion(MODEL, MESSAGES)
    assert azure_fake.requests == []


# -- the fake itself -----------------------------------------------------------------------------------------------


def test_fake_refuses_requests_azure_refuses(azure_fake: AzureFake) -> None:
    url = azure_fake.url + "/openai/deployments/d/chat/completions"
    body = {"messages": MESSAGES}
    with httpx.Client() as http:
        check_fake_refusals(http, azure_fake, url, body)


def check_fake_refusals(http: httpx.Client, azure_fake: AzureFake, url: str, body: dict[str, Any]) -> None:
    no_version = http.post(url, json=body, headers={"api-key": "k"})
    assert (no_version.status_code, no_version.json()["error"]["code"]) == (404, "404")
    no_auth = http.post(url, params={"api-version": "2024-10-21"}, json=body)
    assert (no_auth.status_code, no_auth.json()["error"]["code"]) == (401, "401")
    bad_version = http.post(url, params={"api-version": "yesterday"}, json=body, headers={"api-key": "k"})
    assert bad_version.status_code == 400
    ok = http.post(url, params={"api-version": "2024-10-21"}, json=body, headers={"api-key": "k"})
    assert ok.status_code == 200
    assert ok.json()["model"] == "d"
    v1_without_model = http.post(azure_fake.v1_url + "/chat/completions", json=body, headers={"api-key": "k"})
    assert v1_without_model.status_code == 400


# -- the fake judged by the openai SDK's Azure clients --------------------------------------------------------------


@pytest.fixture
def azure_sdk(azure_fake: AzureFake) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=azure_fake.url, api_key="sdk-key", api_version="2024-10-21", max_retries=0
    ) as sdk:
        yield sdk


def test_azure_openai_chat(azure_fake: AzureFake, azure_sdk: openai.AzureOpenAI) -> None:
    completion = azure_sdk.chat.completions.create(model="my-gpt-4o", messages=SDK_MESSAGES)
    assert completion.choices[0].message.content == ANSWER
    assert completion.model_extra is not None
    assert completion.model_extra["prompt_filter_results"]
    sent = azure_fake.last_request
    assert sent.path == "/openai/deployments/my-gpt-4o/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "sdk-key"


def test_azure_openai_stream(azure_fake: AzureFake, azure_sdk: openai.AzureOpenAI) -> None:
    stream = azure_sdk.chat.completions.create(
        model="my-gpt-4o",
        messages=SDK_MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert (chunks[0].choices, chunks[0].id, chunks[0].created) == ([], "", 0)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


def test_azure_openai_embeddings(azure_fake: AzureFake, azure_sdk: openai.AzureOpenAI) -> None:
    # No encoding_format: the SDK asks for base64 and decodes it, which the fake must honour (§2).
    response = azure_sdk.embeddings.create(model="text-embedding-3-small", input=["a"], dimensions=4)
    assert len(response.data[0].embedding) == 4
    assert azure_fake.last_request.path == "/openai/deployments/text-embedding-3-small/embeddings"


def test_azure_openai_errors(azure_fake: AzureFake, azure_sdk: openai.AzureOpenAI) -> None:
    sdk = azure_sdk
    azure_fake.script(AzureFake.prompt_filtered())
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="my-gpt-4o", messages=SDK_MESSAGES)
    assert bad.value.code == "content_filter"
    azure_fake.script(AzureFake.rate_limited(6))
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(model="my-gpt-4o", messages=SDK_MESSAGES)
    assert limited.value.response.headers["retry-after-ms"] == "6000"
    azure_fake.script(Reply.stream_error(after=2))
    with pytest.raises(openai.APIError):
        list(sdk.chat.completions.create(model="my-gpt-4o", messages=SDK_MESSAGES, stream=True))


def test_openai_client_on_the_v1_form(azure_fake: AzureFake) -> None:
    with openai.OpenAI(base_url=azure_fake.v1_url + "/", api_key="sdk-key", max_retries=0) as sdk:
        check_v1_form(sdk, azure_fake)


def check_v1_form(sdk: openai.OpenAI, azure_fake: AzureFake) -> None:
    completion = sdk.chat.completions.create(model="my-gpt-4o", messages=SDK_MESSAGES)
    assert completion.model == "my-gpt-4o"
    sent = azure_fake.last_request
    assert (sent.path, sent.query, sent.headers["authorization"]) == (
        "/openai/v1/chat/completions",
        {},
        "Bearer sdk-key",
    )
    chunks = list(sdk.chat.completions.create(model="my-gpt-4o", messages=SDK_MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert sdk.embeddings.create(model="text-embedding-3-small", input="a").data[0].embedding
