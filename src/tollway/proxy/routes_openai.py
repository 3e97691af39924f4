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
from tollway.governance.admission import model_allowed
from tollway.proxy.auth import caller_of
from tollway.proxy.body import check_chat, parse_json, read_body, require_string
from tollway.proxy.clientside import ClientSide
from tollway.proxy.estimate import CostEstimator
from tollway.proxy.gate import Gate
from tollway.proxy.responses import SSEResponse, json_response, meta_headers, relay, result_response
from tollway.router import Router
from tollway.streaming import AsyncCompletionStream

__all__ = ["OpenAIRoutes", "text_completion", "text_completion_chunk"]

# Legacy /completions parameters with no chat equivalent: refused rather than silently ignored.
_LEGACY_ONLY = ("echo", "suffix", "best_of", "logprobs")


class OpenAIRoutes:
    """Handlers for the OpenAI routes over one ``Router`` (each is ``(request, request_id) -> Response``).

    ``clientside`` checks the parameters a client may not set and picks the router for the ones the configuration
    allows (a strict one over ``router`` by default); bodies bigger than ``max_body_bytes`` get 413, bodies slower
    than ``body_timeout`` seconds 408.
    """

    def __init__(
        self,
        router: Router,
        *,
        max_body_bytes: int,
        body_timeout: float | None = None,
        clientside: ClientSide | None = None,
        gate: Gate | None = None,
    ) -> None:
        self._router = router
        self._gate = gate or Gate(CostEstimator(router.deployments))
        self._limit = max_body_bytes
        self._timeout = body_timeout
        self._clientside = clientside or ClientSide.strict(router)
        self._created = int(time.time())

    async def _body(self, request: Request) -> dict[str, Any]:
        return parse_json(await read_body(request, self._limit, self._timeout))

    async def chat(self, request: Request, request_id: str) -> Response:
        """``POST /chat/completions``, streamed or not."""
        return await self._chat(request, await self._body(request), request_id)

    async def azure_chat(self, request: Request, request_id: str) -> Response:
        """``POST /openai/deployments/{model}/chat/completions``: the deployment in the path is the model."""
        body = await self._body(request)
        body["model"] = request.path_params["model"]
        return await self._chat(request, body, request_id)

    async def _chat(self, request: Request, body: dict[str, Any], request_id: str) -> Response:
        model, messages = check_chat(body)
        del body["model"], body["messages"]

        async def invoke(group: str) -> Any:
            return await self._clientside.router_for(body, group).acompletion(group, messages, **body)

        call, result = await self._gate.run(request, request_id, model, body, call_type="chat", invoke=invoke)
        if isinstance(result, AsyncCompletionStream):
            headers = [*meta_headers(result.meta, request_id, cost=False), *call.headers]
            return SSEResponse(relay(result, request_id), headers, stream=result)
        return result_response(result._data, result.meta, request_id, extra=call.headers)

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
        if "messages" in body:  # it would collide with the prompt's one message (a TypeError: a 500)
            raise BadRequestError("'messages' belongs on /chat/completions; send 'prompt' here", param="messages")
        del body["model"]
        messages = [{"role": "user", "content": prompt}]

        async def invoke(group: str) -> Any:
            return await self._clientside.router_for(body, group).acompletion(group, messages, **body)

        call, result = await self._gate.run(request, request_id, model, body, call_type="completion", invoke=invoke)
        if isinstance(result, AsyncCompletionStream):
            stream = relay(result, request_id, encode=lambda chunk: _sse(text_completion_chunk(chunk)))
            headers = [*meta_headers(result.meta, request_id, cost=False), *call.headers]
            return SSEResponse(stream, headers, stream=result)
        return result_response(text_completion(result._data), result.meta, request_id, extra=call.headers)

    async def embeddings(self, request: Request, request_id: str) -> Response:
        """``POST /embeddings`` (floats, or base64 when ``encoding_format`` asks, as the SDKs do by default)."""
        body = await self._body(request)
        return await self._embed(request, body, request_id)

    async def azure_embeddings(self, request: Request, request_id: str) -> Response:
        """``POST /openai/deployments/{model}/embeddings``."""
        body = await self._body(request)
        body["model"] = request.path_params["model"]
        return await self._embed(request, body, request_id)

    async def _embed(self, request: Request, body: dict[str, Any], request_id: str) -> Response:
        model = require_string(body, "model")
        if "input" not in body:
            raise BadRequestError("missing required parameter: 'input'", param="input")
        del body["model"]
        inputs = body.pop("input")

        async def invoke(group: str) -> Any:
            return await self._clientside.router_for(body, group).aembedding(group, inputs, **body)

        call, result = await self._gate.run(request, request_id, model, body, call_type="embedding", invoke=invoke)
        return result_response(result._data, result.meta, request_id, extra=call.headers)

    async def rerank(self, request: Request, request_id: str) -> Response:
        """``POST /rerank`` (Cohere's shape, for Cohere, Voyage and Jina deployments), routed like chat."""
        body = await self._body(request)
        model = require_string(body, "model")
        del body["model"]
        query = body.pop("query", None)
        documents = body.pop("documents", None)

        async def invoke(group: str) -> Any:
            return await self._clientside.router_for(body, group).arerank(group, query, documents, **body)

        call, result = await self._gate.run(request, request_id, model, body, call_type="rerank", invoke=invoke)
        return result_response(result._data, result.meta, request_id, extra=call.headers)

    async def models(self, request: Request, request_id: str) -> Response:
        """``GET /models``: the model groups, in OpenAI's list shape."""
        principal = caller_of(request).principal
        data = [self._model(name) for name in self._router.model_names if model_allowed(principal, name)]
        return json_response({"object": "list", "data": data}, 200, {"x-request-id": request_id})

    async def model(self, request: Request, request_id: str) -> Response:
        """``GET /models/{id}``."""
        name = request.path_params["model_id"]
        if name not in self._router.model_names:
            raise NotFoundError(f"the model {name!r} does not exist", param="model", code="model_not_found")
        return json_response(self._model(name), 200, {"x-request-id": request_id})

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self._created, "owned_by": "tollway"}


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
