"""Anthropic-compatible routes: ``POST /v1/messages`` and ``/v1/messages/count_tokens`` over any backend.

Anthropic's request and stream formats in, OpenAI chat to the router, Anthropic's formats and error envelope out,
so Claude-compatible tools (Claude Code, the ``anthropic`` SDKs) work against any provider. Present only when
``tollway.proxy.anthropic_compat`` is importable.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.errors import BadRequestError, NotFoundError, TollwayError
from tollway.proxy.auth import Authenticator
from tollway.proxy.body import parse_json, read_body
from tollway.proxy.clientside import ClientSide
from tollway.proxy.estimate import CostEstimator
from tollway.proxy.gate import Gate
from tollway.proxy.metrics import GatewayMetrics
from tollway.proxy.responses import SSEResponse, error_body, guard, json_response, meta_headers, relay, result_response
from tollway.proxy.settings import GatewaySettings
from tollway.registry import wire_api
from tollway.router import Router
from tollway.streaming import AsyncCompletionStream

__all__ = ["MessagesRoutes", "anthropic_routes"]


def anthropic_routes(
    router: Router,
    auth: Authenticator,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
    *,
    clientside: ClientSide,
    gate: Gate,
) -> list[BaseRoute]:
    """The Anthropic-compatible routes (none when ``tollway.proxy.anthropic_compat`` is not importable)."""
    try:
        compat = importlib.import_module("tollway.proxy.anthropic_compat")
    except ImportError:
        return []
    messages = MessagesRoutes(
        router, compat, settings.max_body_bytes, body_timeout=settings.body_timeout, clientside=clientside, gate=gate
    )

    def on_error(exc: BaseException, request_id: str) -> Response:
        status, body = messages.error(exc, request_id)
        return json_response(body, status, {"x-request-id": request_id})

    return [
        Route(
            "/v1/messages", guard(messages.create, auth, on_error, observer=metrics.route("messages")), methods=["POST"]
        ),
        Route("/v1/messages/count_tokens", guard(messages.count_tokens, auth, on_error), methods=["POST"]),
    ]


class MessagesRoutes:
    """``POST /v1/messages`` over any backend: Anthropic in, OpenAI chat to the router, Anthropic out."""

    def __init__(
        self,
        router: Router,
        compat: ModuleType,
        limit: int,
        *,
        body_timeout: float | None = None,
        clientside: ClientSide | None = None,
        gate: Gate | None = None,
    ) -> None:
        self._router = router
        self._gate = gate or Gate(CostEstimator(router.deployments))
        self._compat = compat
        self._limit = limit
        self._timeout = body_timeout
        self._clientside = clientside or ClientSide.strict(router)

    def error(self, exc: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
        """Anthropic's error envelope (unexpected errors logged and reported as a 500 with the request id)."""
        if isinstance(exc, TollwayError):
            status, body = self._compat.anthropic_error(exc)
            return int(status), dict(body)
        status, openai_body = error_body(exc, request_id)
        message = openai_body["error"]["message"]
        return status, {"type": "error", "error": {"type": "api_error", "message": message}}

    async def create(self, request: Request, request_id: str) -> Response:
        """``POST /v1/messages``, streamed or not."""
        body = parse_json(await read_body(request, self._limit, self._timeout))
        requested = _model_of(body)
        if requested is None:
            self._compat.anthropic_to_openai(body)  # raises Anthropic's own error for the missing model
            raise BadRequestError("model: Field required", param="model")

        async def invoke(group: str) -> Any:
            router, clientside = self._clientside.split(body, group)
            chat: dict[str, Any] = self._compat.anthropic_to_openai({**body, "model": group})
            del chat["model"]
            if not self._anthropic_backend(group):
                chat = self._compat.portable_request(chat)
            return await router.acompletion(group, chat.pop("messages"), **chat, **clientside)

        call, result = await self._gate.run(request, request_id, requested, body, call_type="messages", invoke=invoke)
        model = requested
        if isinstance(result, AsyncCompletionStream):
            encoder = self._compat.AnthropicStreamEncoder(model)

            def on_error(exc: TollwayError) -> bytes:
                _, envelope = self._compat.anthropic_error(exc)
                return b"event: error\ndata: " + orjson.dumps(envelope) + b"\n\n"

            stream = relay(result, request_id, encode=encoder.encode, finish=encoder.finish, on_error=on_error)
            headers = [*meta_headers(result.meta, request_id, cost=False), *call.headers]
            return SSEResponse(stream, headers, stream=result)
        answer = self._compat.openai_to_anthropic(result._data, model)
        return result_response(answer, result.meta, request_id, extra=call.headers)

    async def count_tokens(self, request: Request, request_id: str) -> Response:
        """``POST /v1/messages/count_tokens``."""
        body = parse_json(await read_body(request, self._limit, self._timeout))
        self._clientside.split(body, _model_of(body))  # checked as for /v1/messages; counting calls no provider
        model = body.get("model")
        if isinstance(model, str) and model not in self._router.model_names and not self._wildcard_match(model):
            raise NotFoundError(f"no model group named {model!r} in this gateway", model=model, param="model")
        return json_response(self._compat.count_tokens(body), 200, {"x-request-id": request_id})

    def _wildcard_match(self, model: str) -> bool:
        return any("*" in g and fnmatch.fnmatchcase(model, g) for g in self._router.model_names)

    def _anthropic_backend(self, model: str) -> bool:
        """Whether every deployment of ``model``'s group speaks Anthropic's API (thinking, top_k kept)."""
        matches = [
            d
            for d in self._router.deployments
            if d.model_name == model or ("*" in d.model_name and fnmatch.fnmatchcase(model, d.model_name))
        ]
        return bool(matches) and all(_speaks_anthropic(d.model) for d in matches)


def _model_of(body: Mapping[str, Any]) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) else None


def _speaks_anthropic(model: str) -> bool:
    """Whether a deployment's model is called over Anthropic's Messages API (so thinking, top_k pass unchanged)."""
    try:
        return wire_api(model) == "anthropic"
    except TollwayError:  # a provider the registry does not know: not Anthropic's API
        return False
