"""A fake Voyage AI API: ``POST /v1/embeddings`` and ``POST /v1/rerank``.

The wire format follows Voyage's API reference (https://docs.voyageai.com/reference/embeddings-api and
https://docs.voyageai.com/reference/reranker-api) and voyageai-python 0.5, whose client is driven against this
fake in tests/integration/test_sdk_voyage_jina.py: bodies may carry only the documented fields, errors are
FastAPI's ``{"detail": "..."}``. Vectors are seeded per input (``output_dimension`` honoured, 256 by default);
rerank scores come from word overlap with the query.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from .base import SSE, FakeUpstream, JSONObject, RecordedRequest, Reply, Route, approx_tokens
from .cohere import rank, seeded_vector

__all__ = ["VoyageFake"]

_EMBED_KEYS = frozenset(
    {"input", "model", "input_type", "truncation", "output_dimension", "output_dtype", "encoding_format"}
)
_RERANK_KEYS = frozenset({"query", "documents", "model", "top_k", "return_documents", "truncation"})


def _bad(message: str) -> Reply:
    return Reply.error(400, message)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


class VoyageFake(FakeUpstream):
    """Fake Voyage upstream; ``fake.url`` ends in ``/v1`` like the documented base URL."""

    name = "voyage"
    url_path = "/v1"

    def routes(self) -> list[Route]:
        return [
            Route("embeddings", "POST", "/v1/embeddings", self._validate_embed, self._embed),
            Route("rerank", "POST", "/v1/rerank", self._validate_rerank, self._rerank),
        ]

    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        default = {401: "Provided API key is invalid.", 429: "Rate limit exceeded."}
        return {"detail": message or default.get(status, "Internal server error")}

    def frame(self, payload: JSONObject) -> SSE:
        raise NotImplementedError("Voyage does not stream")

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        raise NotImplementedError("Voyage does not stream")

    def _check(self, request: RecordedRequest, allowed: frozenset[str]) -> Reply | None:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Reply.error(401)
        body = request.body_object
        extra = sorted(set(body) - allowed)
        if extra:
            return _bad(f"Request body has an unexpected field: {extra[0]}")
        if not isinstance(body.get("model"), str):
            return _bad("model is required")
        return None

    def _validate_embed(self, request: RecordedRequest) -> Reply | None:
        body = request.body_object
        problem = self._check(request, _EMBED_KEYS)
        if problem is None and not (isinstance(body.get("input"), str) or _strings(body.get("input"))):
            problem = _bad("input must be a string or a list of strings")
        if problem is None and body.get("input_type") not in (None, "query", "document"):
            problem = _bad("input_type must be null, 'query' or 'document'")
        return problem

    def _validate_rerank(self, request: RecordedRequest) -> Reply | None:
        body = request.body_object
        problem = self._check(request, _RERANK_KEYS)
        if problem is None and not (isinstance(body.get("query"), str) and _strings(body.get("documents"))):
            problem = _bad("query must be a string and documents a list of strings")
        return problem

    def _embed(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        size = int(body.get("output_dimension") or 256)
        data = []
        for index, text in enumerate(texts):
            vector: Any = seeded_vector(f"{body['model']}{body.get('input_type')}{text}", size)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "embedding": vector, "index": index})
        usage = {"total_tokens": approx_tokens("".join(texts))}
        return Reply.json({"object": "list", "data": data, "model": body["model"], "usage": usage})

    def _rerank(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        ranked = rank(body["query"], body["documents"])[: body.get("top_k") or None]
        data = []
        for index, score in ranked:
            item: JSONObject = {"index": index, "relevance_score": score}
            if body.get("return_documents"):
                item["document"] = body["documents"][index]
            data.append(item)
        usage = {"total_tokens": approx_tokens(body["query"] + "".join(body["documents"]))}
        return Reply.json({"object": "list", "data": data, "model": body["model"], "usage": usage})
