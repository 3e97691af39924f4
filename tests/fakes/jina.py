"""A fake Jina AI API: ``POST /v1/embeddings`` and ``POST /v1/rerank``.

Wire format from Jina's API references (https://jina.ai/embeddings/ , https://jina.ai/reranker/ ; the OpenAPI
document at https://api.jina.ai/openapi.json): embeddings are OpenAI-like with Jina's ``task``, ``dimensions``,
``late_chunking``, ``truncate``, ``normalized`` and ``embedding_type``; rerank takes ``query``, ``documents``,
``top_n``, ``return_documents`` (default true) and answers ``results`` with ``document: {"text"}``. Unknown fields
are rejected with 422 and FastAPI's ``{"detail": [...]}``; other errors are ``{"detail": "..."}``.
"""

from __future__ import annotations

from typing import Any

from .base import SSE, FakeUpstream, JSONObject, RecordedRequest, Reply, Route, approx_tokens
from .cohere import rank, seeded_vector

__all__ = ["JinaFake"]

_EMBED_KEYS = frozenset(
    {"model", "input", "task", "dimensions", "late_chunking", "truncate", "normalized", "embedding_type"}
)
_RERANK_KEYS = frozenset({"model", "query", "documents", "top_n", "return_documents"})


def _invalid(message: str, field: str) -> Reply:
    return Reply.error(422, body={"detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}]})


def _texts(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str | dict) for v in value)


class JinaFake(FakeUpstream):
    """Fake Jina upstream; ``fake.url`` ends in ``/v1`` like the documented base URL."""

    name = "jina_ai"
    url_path = "/v1"

    def routes(self) -> list[Route]:
        return [
            Route("embeddings", "POST", "/v1/embeddings", self._validate_embed, self._embed),
            Route("rerank", "POST", "/v1/rerank", self._validate_rerank, self._rerank),
        ]

    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        default = {401: "Unauthorized: invalid API key", 429: "Rate limit exceeded"}
        return {"detail": message or default.get(status, "Internal Server Error")}

    def frame(self, payload: JSONObject) -> SSE:
        raise NotImplementedError("Jina does not stream")

    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        raise NotImplementedError("Jina does not stream")

    def _check(self, request: RecordedRequest, allowed: frozenset[str]) -> Reply | None:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Reply.error(401)
        body = request.body_object
        extra = sorted(set(body) - allowed)
        if extra:
            return _invalid("extra fields not permitted", extra[0])
        if not isinstance(body.get("model"), str):
            return _invalid("field required", "model")
        return None

    def _validate_embed(self, request: RecordedRequest) -> Reply | None:
        problem = self._check(request, _EMBED_KEYS)
        if problem is None and not _texts(request.body_object.get("input")):
            problem = _invalid("input must be a list of strings or objects", "input")
        if problem is None and request.body_object.get("embedding_type", "float") not in ("float", "base64"):
            problem = _invalid("unsupported embedding_type", "embedding_type")
        return problem

    def _validate_rerank(self, request: RecordedRequest) -> Reply | None:
        body = request.body_object
        problem = self._check(request, _RERANK_KEYS)
        if problem is None and not (isinstance(body.get("query"), str) and _texts(body.get("documents"))):
            problem = _invalid("query must be a string and documents a list", "documents")
        return problem

    def _embed(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        texts = [text if isinstance(text, str) else str(text.get("text")) for text in body["input"]]
        size = int(body.get("dimensions") or 256)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": seeded_vector(f"{body['model']}{body.get('task')}{t}", size),
            }
            for i, t in enumerate(texts)
        ]
        tokens = approx_tokens("".join(texts))
        usage = {"total_tokens": tokens, "prompt_tokens": tokens}
        return Reply.json({"model": body["model"], "object": "list", "usage": usage, "data": data})

    def _rerank(self, request: RecordedRequest) -> Reply:
        body = request.body_object
        documents = [d if isinstance(d, str) else str(d.get("text")) for d in body["documents"]]
        ranked = rank(body["query"], documents)[: body.get("top_n") or None]
        results = []
        for index, score in ranked:
            item: JSONObject = {"index": index, "relevance_score": score}
            if body.get("return_documents", True):
                item["document"] = {"text": documents[index]}
            results.append(item)
        usage = {"total_tokens": approx_tokens(body["query"] + "".join(documents))}
        return Reply.json({"model": body["model"], "usage": usage, "results": results})
