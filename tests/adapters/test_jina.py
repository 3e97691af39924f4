"""The Jina adapter, pure: embeddings and rerank requests/answers; chat refused."""

from __future__ import annotations

import orjson
import pytest
from openai.types import CreateEmbeddingResponse

from tollway.adapters.base import Endpoint
from tollway.adapters.jina import JinaAdapter
from tollway.errors import BadRequestError, UnprocessableEntityError
from tollway.http import HttpResponse

ENDPOINT = Endpoint(provider="jina_ai", model="jina-embeddings-v3", api_base="https://api.jina.ai/v1", api_key="j")
ADAPTER = JinaAdapter()


def test_embedding_request_and_answer() -> None:
    request = {"input": ["a", "b"], "dimensions": 64, "task": "retrieval.query", "encoding_format": "float"}
    http = ADAPTER.build_embedding_request(request, ENDPOINT)
    assert http.url == "https://api.jina.ai/v1/embeddings"
    assert http.headers["authorization"] == "Bearer j"
    assert orjson.loads(http.body) == {
        "model": "jina-embeddings-v3",
        "input": ["a", "b"],
        "embedding_type": "float",
        "dimensions": 64,
        "task": "retrieval.query",
    }
    answer = {
        "model": "jina-embeddings-v3",
        "object": "list",
        "usage": {"total_tokens": 4, "prompt_tokens": 4},
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1]},
            {"object": "embedding", "index": 1, "embedding": [0.2]},
        ],
    }
    data = ADAPTER.parse_embedding_response(HttpResponse(200, {}, orjson.dumps(answer)), request, ENDPOINT)
    CreateEmbeddingResponse.model_validate(data)
    assert [d["embedding"] for d in data["data"]] == [[0.1], [0.2]]
    assert data["usage"]["prompt_tokens"] == 4


def test_rerank_request_and_answer() -> None:
    request = {"query": "q", "documents": ["a", {"text": "b"}, "c"], "top_n": 2}
    http = ADAPTER.build_rerank_request(request, ENDPOINT)
    assert http.url == "https://api.jina.ai/v1/rerank"
    assert orjson.loads(http.body) == {
        "model": "jina-embeddings-v3",
        "query": "q",
        "documents": ["a", "b", "c"],
        "return_documents": False,
        "top_n": 2,
    }
    answer = {
        "usage": {"total_tokens": 7},
        "results": [{"index": 2, "relevance_score": 0.2}, {"index": 0, "relevance_score": 0.7}],
    }
    data = ADAPTER.parse_rerank_response(HttpResponse(200, {}, orjson.dumps(answer)), request, ENDPOINT)
    assert [(r["index"], r["relevance_score"]) for r in data["results"]] == [(0, 0.7), (2, 0.2)]
    assert all("document" not in r for r in data["results"])
    assert data["meta"]["tokens"] == {"input_tokens": 7}


def test_no_chat_and_validation_errors() -> None:
    with pytest.raises(BadRequestError, match="jina_ai has no chat API"):
        ADAPTER.chat_stream_decoder({}, ENDPOINT)
    body = b'{"detail": [{"loc": ["body", "foo"], "msg": "extra fields not permitted", "type": "value_error"}]}'
    error = ADAPTER.map_error(HttpResponse(422, {}, body), ENDPOINT)
    assert isinstance(error, UnprocessableEntityError)
    assert error.message == "extra fields not permitted"
