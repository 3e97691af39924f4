"""Voyage and Jina end to end: the official voyageai client judges the Voyage fake, then tollway's embeddings and
rerank run against both fakes (answers judged by the openai SDK's embedding type and by value)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import voyageai
from openai.types import CreateEmbeddingResponse

import tollway
from fakes import Reply
from fakes.jina import JinaFake
from fakes.voyage import VoyageFake
from tollway import Client

DOCUMENTS = ["Bananas are yellow.", "Paris is the capital of France.", "France's capital city is Paris."]


@pytest.fixture
def client(voyage_fake: VoyageFake, jina_fake: JinaFake) -> Iterator[Client]:
    environ = {
        "VOYAGE_API_KEY": "pa-test",
        "VOYAGE_API_BASE": voyage_fake.url,
        "JINA_AI_API_KEY": "jina-test",
        "JINA_AI_API_BASE": jina_fake.url,
    }
    client = Client(environ=environ, num_retries=0)
    yield client
    client.close()


def test_voyage_sdk_against_the_fake(voyage_fake: VoyageFake) -> None:
    sdk = voyageai.Client(api_key="pa-test", base_url=voyage_fake.url, max_retries=0)
    embedded = sdk.embed(["a", "b"], model="voyage-3.5", input_type="document", output_dimension=8)
    assert [len(v) for v in embedded.embeddings] == [8, 8]
    assert embedded.total_tokens > 0
    ranked = sdk.rerank("capital of France", DOCUMENTS, model="rerank-2.5", top_k=2)
    assert [r.index for r in ranked.results] == [1, 2]
    assert ranked.results[0].document == DOCUMENTS[1]
    assert voyage_fake.last_request.headers["authorization"] == "Bearer pa-test"


@pytest.mark.parametrize("model", ["voyage/voyage-3.5", "jina_ai/jina-embeddings-v3", "jina/jina-embeddings-v3"])
def test_embeddings(client: Client, model: str) -> None:
    response = client.embedding(model, ["first", "second"], dimensions=32)
    data = response.to_dict()
    CreateEmbeddingResponse.model_validate(data)
    assert [len(item["embedding"]) for item in data["data"]] == [32, 32]
    assert data["usage"]["prompt_tokens"] > 0
    encoded = client.embedding(model, "first", encoding_format="base64", dimensions=32)
    assert isinstance(encoded.to_dict()["data"][0]["embedding"], str)


def test_voyage_sends_its_own_names(client: Client, voyage_fake: VoyageFake) -> None:
    client.embedding("voyage/voyage-3.5", "hi", dimensions=16, input_type="query")
    assert voyage_fake.last_request.json == {
        "input": ["hi"],
        "model": "voyage-3.5",
        "output_dimension": 16,
        "input_type": "query",
    }
    client.rerank("voyageai/rerank-2.5", "capital", DOCUMENTS, top_n=1)
    assert voyage_fake.last_request.json["top_k"] == 1


@pytest.mark.parametrize("model", ["voyage/rerank-2.5", "jina_ai/jina-reranker-v2-base-multilingual"])
def test_rerank_one_shape(client: Client, model: str) -> None:
    response = client.rerank(model, "capital of France", [DOCUMENTS[0], {"text": DOCUMENTS[1]}], return_documents=True)
    data = response.to_dict()
    assert [r["index"] for r in data["results"]] == [1, 0]
    assert data["results"][0]["document"] == {"text": DOCUMENTS[1]}
    assert data["results"][0]["relevance_score"] >= data["results"][1]["relevance_score"]
    assert data["meta"]["billed_units"]["input_tokens"] > 0
    assert set(data) == {"id", "results", "meta"}


def test_bad_documents_fail_before_any_request(client: Client, jina_fake: JinaFake) -> None:
    with pytest.raises(tollway.BadRequestError, match=r"documents\[1\]"):
        client.rerank("jina_ai/jina-reranker-v2-base-multilingual", "q", ["ok", {"title": "no text"}])
    assert jina_fake.requests == []


def test_errors_and_chat_refusal(client: Client, voyage_fake: VoyageFake, jina_fake: JinaFake) -> None:
    voyage_fake.script(Reply.error(429, headers={"retry-after": "5"}))
    with pytest.raises(tollway.RateLimitError) as info:
        client.embedding("voyage/voyage-3.5", "hi")
    assert info.value.retry_after == 5.0
    assert info.value.message == "Rate limit exceeded."
    with pytest.raises(tollway.UnprocessableEntityError, match="extra fields"):
        client.embedding("jina_ai/jina-embeddings-v3", "hi", extra_body={"colour": "blue"})
    with pytest.raises(tollway.BadRequestError, match="voyage has no chat API"):
        client.completion("voyage/voyage-3.5", [{"role": "user", "content": "Hi"}])
