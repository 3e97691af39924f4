"""The Voyage AI API: embeddings and rerank (no chat), pure.

Wire format (https://docs.voyageai.com/reference/embeddings-api and /reranker-api; voyageai-python 0.5
``api_resources``): ``POST {api_base}/embeddings`` with ``{"input", "model", "input_type", "truncation",
"output_dimension", "output_dtype"}`` answering ``{"object": "list", "data": [{"object": "embedding", "embedding",
"index"}], "model", "usage": {"total_tokens"}}``; ``POST {api_base}/rerank`` with ``{"query", "documents", "model",
"top_k", "return_documents", "truncation"}`` answering ``{"object": "list", "data": [{"index", "relevance_score",
"document"?}], "model", "usage": {"total_tokens"}}``. Auth ``Authorization: Bearer <key>``; errors are FastAPI's
``{"detail": "..."}``.

Mapping: OpenAI ``dimensions`` -> ``output_dimension``; ``input_type`` (``query``/``document``) and ``truncation``
pass through; vectors are always requested as floats and re-encoded as base64 float32 when the caller asked for
``encoding_format="base64"`` (Voyage's own base64 follows ``output_dtype``, so it is not forwarded). Rerank answers
come back in tollway's one rerank shape (``tollway.adapters.cohere``): ``top_n`` -> ``top_k``, usage ->
``meta.billed_units.input_tokens`` and ``meta.tokens.input_tokens`` (Voyage bills rerank by tokens).
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
from tollway.http import HttpRequest, HttpResponse

__all__ = ["VoyageAdapter", "ordered_vectors", "total_tokens"]

_EMBED_PARAMS = frozenset({"dimensions", "encoding_format", "input_type", "truncation"})
_RERANK_PARAMS = frozenset({"top_n", "return_documents", "truncation"})


def ordered_vectors(data: object) -> object:
    """The ``embedding`` of each ``data`` item in input order (``index`` decides), or ``data`` when malformed."""
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        return data
    return [item.get("embedding") for item in sorted(data, key=lambda item: int(item.get("index") or 0))]


def total_tokens(data: Mapping[str, Any]) -> int:
    """``usage.total_tokens`` of an answer (0 when absent)."""
    usage = data.get("usage")
    value = usage.get("total_tokens") if isinstance(usage, Mapping) else None
    return int(value) if isinstance(value, int | float) else 0


class VoyageAdapter(RetrievalAdapter):
    """Voyage AI embeddings and rerank (stateless; chat raises ``BadRequestError``)."""

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/embeddings`` request."""
        params = filter_params(request, _EMBED_PARAMS, endpoint, ignored=("model", "input"))
        body: dict[str, Any] = {"input": embedding_texts(request.get("input"), endpoint), "model": endpoint.model}
        check_encoding_format(params, endpoint)
        if "dimensions" in params:
            body["output_dimension"] = params["dimensions"]
        body.update({name: params[name] for name in ("input_type", "truncation") if name in params})
        url = endpoint.api_base + "/embeddings"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """The OpenAI embeddings ``list`` for Voyage's answer."""
        data = load_json(response.body, endpoint)
        vectors = ordered_vectors(data.get("data"))
        return embedding_list(vectors, request, endpoint, prompt_tokens=total_tokens(data), body=response.body)

    def build_rerank_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/rerank`` request."""
        params = filter_params(request, _RERANK_PARAMS, endpoint, ignored=("model", "query", "documents"))
        body: dict[str, Any] = {
            "query": request.get("query"),
            "documents": rerank_documents(request.get("documents"), endpoint),
            "model": endpoint.model,
        }
        top_n = rerank_top_n(request, endpoint)
        if top_n is not None:
            body["top_k"] = top_n
        # tollway fills documents in from the request, so Voyage need not send them back.
        body["return_documents"] = False
        if "truncation" in params:
            body["truncation"] = params["truncation"]
        url = endpoint.api_base + "/rerank"
        return HttpRequest("POST", url, bearer_headers(endpoint), json_body(body, endpoint.extra_body))

    def parse_rerank_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Voyage's rerank answer in tollway's rerank shape."""
        data = load_json(response.body, endpoint)
        tokens = total_tokens(data)
        meta = {"billed_units": {"input_tokens": tokens}, "tokens": {"input_tokens": tokens}}
        return rerank_answer(data.get("data"), request, endpoint, rerank_id=data.get("id"), meta=meta)
