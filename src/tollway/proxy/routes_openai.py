"""OpenAI-compatible model routes: chat, legacy completions, embeddings, rerank, models, Azure-style paths.

Each handler parses (``body``), calls the router, serialises (``responses``); bodies stay dicts end to end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tollway.errors import BadRequestError, NotFoundError
from tollway.proxy.body import check_chat, check_overrides, parse_json, read_body, require_string
from tollway.proxy.responses import SSEResponse, json_response, meta_headers, relay, result_response
from tollway.router import Router
from tollway.streaming import AsyncCompletionStream
from tollway.types import ChatCompletion

__all__ = ["OpenAIRoutes", "text_completion", "text_completion_chunk"]

# Legacy /completions parameters with no chat equivalent: refused rather than silently ignored.
_LEGACY_ONLY = ("echo", "suffix", "best_of", "logprobs")


class OpenAIRoutes:
    """Handlers for the OpenAI routes over one ``Router`` (each is ``(request, request_id) -> Response``)."""

    def __init__(self, router: Router, *, max_body_bytes: int) -> None:
        self._router = router
        self._limit = max_body_bytes
        self._created = int(time.time())

    async def _body(self, request: Request) -> dict[str, Any]:
        return parse_json(await read_body(request, self._limit))

    async def chat(self, request: Request, request_id: str) -> Response:
        """``POST /chat/completions``, streamed or not."""
        return await self._chat(await self._body(request), request_id)

    async def azure_chat(self, request: Request, request_id: str) -> Response:
        """``POST /openai/deployments/{model}/chat/completions``: the deployment in the path is the model."""
        body = await self._body(request)
        body["model"] = request.path_params["model"]
        return await self._chat(body, request_id)

    async def _chat(self, body: dict[str, Any], request_id: str) -> Response:
        model, messages = check_chat(body)
        del body["model"], body["messages"]
        result = await self._router.acompletion(model, messages, **body)
        if isinstance(result, AsyncCompletionStream):
            headers = meta_headers(result.meta, request_id, cost=False)
            return SSEResponse(relay(result, request_id), headers, stream=result)
        return _whole(result, request_id)

    async def completions(self, request: Request, request_id: str) -> Response:
        """``POST /completions`` (legacy text): the prompt becomes one user message, the answer a text completion."""
        body = await self._body(request)
        model = require_string(body, "model")
        prompt = body.pop("prompt", None)
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise BadRequestError(
                "'prompt' must be a string (or a list of one string); token arrays are not supported",
                param="prompt",
            )
        for name in _LEGACY_ONLY:
            if body.get(name) not in (None, False, 0, ""):
                raise BadRequestError(f"'{name}' is not supported on /completions by this gateway", param=name)
            body.pop(name, None)
        check_overrides(body)
        del body["model"]
        result = await self._router.acompletion(model, [{"role": "user", "content": prompt}], **body)
        if isinstance(result, AsyncCompletionStream):
            stream = relay(result, request_id, encode=lambda chunk: _sse(text_completion_chunk(chunk)))
            return SSEResponse(stream, meta_headers(result.meta, request_id, cost=False), stream=result)
        return result_response(text_completion(result._data), result.meta, request_id)

    async def embeddings(self, request: Request, request_id: str) -> Response:
        """``POST /embeddings`` (floats, or base64 when ``encoding_format`` asks, as the SDKs do by default)."""
        body = await self._body(request)
        return await self._embed(body, request_id)

    async def azure_embeddings(self, request: Request, request_id: str) -> Response:
        """``POST /openai/deployments/{model}/embeddings``."""
        body = await self._body(request)
        body["model"] = request.path_params["model"]
        return await self._embed(body, request_id)

    async def _embed(self, body: dict[str, Any], request_id: str) -> Response:
        model = require_string(body, "model")
        if "input" not in body:
            raise BadRequestError("missing required parameter: 'input'", param="input")
        check_overrides(body)
        del body["model"]
        inputs = body.pop("input")
        result = await self._router.aembedding(model, inputs, **body)
        return result_response(result._data, result.meta, request_id)

    async def rerank(self, request: Request, request_id: str) -> Response:
        """``POST /rerank`` (Cohere's shape, for Cohere, Voyage and Jina deployments), routed like chat."""
        body = await self._body(request)
        model = require_string(body, "model")
        check_overrides(body)
        del body["model"]
        query = body.pop("query", None)
        documents = body.pop("documents", None)
        result = await self._router.arerank(model, query, documents, **body)
        return result_response(result._data, result.meta, request_id)

    async def models(self, request: Request, request_id: str) -> Response:
        """``GET /models``: the model groups, in OpenAI's list shape."""
        data = [self._model(name) for name in self._router.model_names]
        return json_response({"object": "list", "data": data}, 200, {"x-request-id": request_id})

    async def model(self, request: Request, request_id: str) -> Response:
        """``GET /models/{id}``."""
        name = request.path_params["model_id"]
        if name not in self._router.model_names:
            raise NotFoundError(f"the model {name!r} does not exist", param="model", code="model_not_found")
        return json_response(self._model(name), 200, {"x-request-id": request_id})

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self._created, "owned_by": "tollway"}


def _whole(result: ChatCompletion, request_id: str) -> Response:
    return result_response(result._data, result.meta, request_id)


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def text_completion(chat: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completion as a legacy ``text_completion`` object."""
    choices = [
        {
            "text": (choice.get("message") or {}).get("content") or "",
            "index": choice.get("index", 0),
            "logprobs": None,
            "finish_reason": choice.get("finish_reason"),
        }
        for choice in chat.get("choices") or ()
    ]
    answer = {
        "id": chat.get("id"),
        "object": "text_completion",
        "created": chat.get("created"),
        "model": chat.get("model"),
        "choices": choices,
    }
    if chat.get("usage") is not None:
        answer["usage"] = chat["usage"]
    return answer


def text_completion_chunk(chunk: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completion chunk as a legacy streamed ``text_completion`` object."""
    choices = [
        {
            "text": (choice.get("delta") or {}).get("content") or "",
            "index": choice.get("index", 0),
            "logprobs": None,
            "finish_reason": choice.get("finish_reason"),
        }
        for choice in chunk.get("choices") or ()
    ]
    answer = {
        "id": chunk.get("id"),
        "object": "text_completion",
        "created": chunk.get("created"),
        "model": chunk.get("model"),
        "choices": choices,
    }
    if chunk.get("usage") is not None:
        answer["usage"] = chunk["usage"]
    return answer
