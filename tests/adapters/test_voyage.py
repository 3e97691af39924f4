"""The Voyage adapter, pure: embeddings and rerank requests/answers; chat refused."""

from __future__ import annotations

import base64
import struct

import orjson
import pytest
from openai.types import CreateEmbeddingResponse

from tollway.adapters.base import Endpoint
from tollway.adapters.voyage import VoyageAdapter
from tollway.errors import AuthenticationError, BadRequestError, RateLimitError, UnsupportedParamsError
from tollway.http import HttpResponse

ENDPOINT = Endpoint(provider="voyage", model="voyage-3.5", api_base="https://api.voyageai.com/v1", api_key="pa-k")
ADAPTER = VoyageAdapter()


def test_embedding_request() -> None:
    request = {"model": "voyage/voyage-3.5", "input": "hello", "dimensions": 512, "input_type": "query"}
    http = ADAPTER.build_embedding_request(request, ENDPOINT)
    assert http.url == "https://api.voyageai.com/v1/embeddings"
    assert http.headers["authorization"] == "Bearer pa-k"
    assert orjson.loads(http.body) == {
        "input": ["hello"],
        "model": "voyage-3.5",
        "output_dimension": 512,
        "input_type": "query",
    }
    with pytest.raises(UnsupportedParamsError, match="user"):
        ADAPTER.build_embedding_request({"input": "x", "user": "u"}, ENDPOINT)


def test_embedding_response_in_input_order_and_base64() -> None:
    answer = {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [0.25], "index": 1},
            {"object": "embedding", "embedding": [0.5], "index": 0},
        ],
        "model": "voyage-3.5",
        "usage": {"total_tokens": 9},
    }
    response = HttpResponse(200, {}, orjson.dumps(answer))
    data = ADAPTER.parse_embedding_response(response, {"input": ["a", "b"]}, ENDPOINT)
    CreateEmbeddingResponse.model_validate(data)
    assert [d["embedding"] for d in data["data"]] == [[0.5], [0.25]]
    assert data["usage"] == {"prompt_tokens": 9, "total_tokens": 9}
    encoded = ADAPTER.parse_embedding_response(response, {"encoding_format": "base64"}, ENDPOINT)
    assert struct.unpack("<f", base64.b64decode(encoded["data"][0]["embedding"])) == (0.5,)


def test_rerank_request_and_answer() -> None:
    request = {"query": "q", "documents": ["a", {"text": "b"}], "top_n": 1, "return_documents": True}
    http = ADAPTER.build_rerank_request(request, ENDPOINT)
    assert http.url == "https://api.voyageai.com/v1/rerank"
    assert orjson.loads(http.body) == {
        "query": "q",
        "documents": ["a", "b"],
        "model": "voyage-3.5",
        "top_k": 1,
        "return_documents": False,
    }
    answer = {"object": "list", "data": [{"index": 1, "relevance_score": 0.8}], "usage": {"total_tokens": 12}}
    data = ADAPTER.parse_rerank_response(HttpResponse(200, {}, orjson.dumps(answer)), request, ENDPOINT)
    assert data == {
        "id": "",
        "results": [{"index": 1, "relevance_score": 0.8, "document": {"text": "b"}}],
        "meta": {"billed_units": {"input_tokens": 12}, "tokens": {"input_tokens": 12}},
    }
    with pytest.raises(BadRequestError, match=r"documents\[0\]"):
        ADAPTER.build_rerank_request({"query": "q", "documents": [{"content": "x"}]}, ENDPOINT)


def test_no_chat_and_errors() -> None:
    with pytest.raises(BadRequestError, match="voyage has no chat API"):
        ADAPTER.build_chat_request({"messages": []}, ENDPOINT)
    error = ADAPTER.map_error(HttpResponse(429, {"retry-after": "2"}, b'{"detail": "Rate limit exceeded."}'), ENDPOINT)
    assert isinstance(error, RateLimitError)
    assert error.message == "Rate limit exceeded."
    assert error.retry_after == 2.0
    assert isinstance(ADAPTER.map_error(HttpResponse(401, {}, b'{"detail": "bad key"}'), ENDPOINT), AuthenticationError)
