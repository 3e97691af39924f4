"""The Jina AI API: embeddings and rerank (no chat), pure.

Wire format (https://jina.ai/embeddings/ and https://jina.ai/reranker/ API references): ``POST
{api_base}/embeddings`` is OpenAI-like, ``{"model", "input": [...], "task", "dimensions", "late_chunking",
"truncate", "normalized", "embedding_type"}`` answering ``{"model", "object": "list", "usage": {"total_tokens",
"prompt_tokens"}, "data": [{"object": "embedding", "index", "embedding"}]}``; ``POST {api_base}/rerank`` takes
``{"model", "query", "documents", "top_n", "return_documents"}`` and answers ``{"model", "usage": {"total_tokens"},
"results": [{"index", "relevance_score", "document"?: {"text"}}]}``. Auth ``Authorization: Bearer <key>``; errors
are FastAPI's ``{"detail": "..."}``.

Mapping: ``dimensions`` and Jina's ``task``, ``late_chunking``, ``truncate``, ``normalized`` pass through;
``embedding_type`` is always ``float`` and vectors are re-encoded as base64 float32 when the caller asked for
``encoding_format="base64"``. Rerank answers come back in tollway's one rerank shape (``tollway.adapters.cohere``),
usage as ``meta.billed_units.input_tokens`` / ``meta.tokens.input_tokens`` (Jina bills by tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollway.adapters.base import Endpoint, filter_params, json_body, load_json
from tollway.adapters.cohere import (
    RetrievalAdapter,
    bearer_headers,
    check_encoding_format,
    embedding_list,
    embedding_texts,
    rerank_answer,
    rerank_documents,
    rerank_top_n,
)
from tollway.adapters.voyage import ordered_vectors, total_tokens
from tollway.http import HttpRequest, HttpResponse

__all__ = ["JinaAdapter"]

_EMBED_PASSTHROUGH = ("dimensions", "task", "late_chunking", "truncate", "normalized")
_EMBED_PARAMS = frozenset({*_EMBED_PASSTHROUGH, "encoding_format"})
_RERANK_PARAMS = frozenset({"top_n", "return_documents"})


class JinaAdapter(RetrievalAdapter):
    """Jina AI embeddings and rerank (stateless; chat raises ``BadRequestError``)."""

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/embeddings`` request."""
        params = filter_params(request, _EMBED_PARAMS, endpoint, ignored=("model", "input"))
        check_encoding_format(params, endpoint)
        body: dict[str, Any] = {
            "model": endpoint.model,
            "input": embedding_texts(request.get("input"), endpoint),
            "embedding_type": "float",
        }
        body.update({name: params[name] for name in _EMBED_PASSTHROUGH if name in params})
        url = endpoint.api_base + "/embeddings"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """The OpenAI embeddings ``list`` for Jina's answer."""
        data = load_json(response.body, endpoint)
        vectors = ordered_vectors(data.get("data"))
        return embedding_list(vectors, request, endpoint, prompt_tokens=total_tokens(data), body=response.body)

    def build_rerank_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/rerank`` request."""
        filter_params(request, _RERANK_PARAMS, endpoint, ignored=("model", "query", "documents"))
        body: dict[str, Any] = {
            "model": endpoint.model,
            "query": request.get("query"),
            "documents": rerank_documents(request.get("documents"), endpoint),
            # tollway fills documents in from the request; Jina would otherwise echo them all back (its default).
            "return_documents": False,
        }
        top_n = rerank_top_n(request, endpoint)
        if top_n is not None:
            body["top_n"] = top_n
        url = endpoint.api_base + "/rerank"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_rerank_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Jina's rerank answer in tollway's rerank shape."""
        data = load_json(response.body, endpoint)
        tokens = total_tokens(data)
        meta: Mapping[str, Any] = {"billed_units": {"input_tokens": tokens}, "tokens": {"input_tokens": tokens}}
        return rerank_answer(data.get("results"), request, endpoint, rerank_id=data.get("id"), meta=meta)
