"""The Anthropic Messages wire API: OpenAI chat requests in, OpenAI chat responses out (pure).

Wire format: ../shared/PROVIDERS.md §5 (request §5.2, tools §5.3, response §5.4, stream §5.5, thinking §5.6,
caching §5.7, JSON §5.8, errors §5.9); mapping tables §13; gotchas §14.

Quirks read from ``Endpoint.quirks``:

* ``auth_header``: ``"x-api-key"`` (default, what the API documents) or ``"authorization"`` (send
  ``Authorization: Bearer <key>`` as anthropic-python 2.x does; the API accepts both, §5.1).
* ``anthropic_beta``: a string or list of beta names sent as the ``anthropic-beta`` header.

``reasoning_effort`` becomes a thinking budget (``REASONING_BUDGETS``): none -> no thinking, minimal/low ->
1024, medium -> 2048, high -> 4096, xhigh -> 8192, max -> 16384 tokens. An explicit Anthropic ``thinking``
parameter wins over ``reasoning_effort``.

``response_format`` ``json_schema`` uses native ``output_config.format`` on models that support it
(``anthropic_models.supports_structured_outputs``); otherwise, and for ``json_object``, a forced tool named
``json_tool_call`` is added and its input is returned as ``message.content`` (LITELLM.md §1.11). Whether a
request is emulated is recomputed from the same OpenAI request by the parser and the stream decoder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from tollway.adapters.anthropic_messages import convert_messages, convert_tool_choice, convert_tools
from tollway.adapters.anthropic_models import (
    JSON_TOOL_NAME,
    REASONING_BUDGETS,
    default_max_tokens,
    error_from_payload,
    finish_reason,
    openai_usage,
    supports_structured_outputs,
)
from tollway.adapters.anthropic_stream import AnthropicStreamDecoder
from tollway.adapters.base import BaseAdapter, Endpoint, filter_params, json_body, load_json
from tollway.errors import BadGatewayError, BadRequestError, TollwayError, UnsupportedParamsError
from tollway.http import HttpRequest, HttpResponse, parse_retry_after

__all__ = ["ANTHROPIC_VERSION", "AnthropicAdapter", "json_emulated"]

# The version the Messages API has documented since 2023 and every SDK generation accepts (§5.1).
ANTHROPIC_VERSION = "2023-06-01"

# OpenAI parameters this adapter understands; anything else is unsupported (Anthropic 400s on unknown fields,
# §14.14, so nothing is passed through blindly).
SUPPORTED_PARAMS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "user",
        "n",
        "service_tier",
        "reasoning_effort",
        "thinking",
        "response_format",
    }
)
# Consumed elsewhere: model and messages here, stream_options by the client (include_usage).
_CONSUMED = ("model", "messages", "stream_options")
_SERVICE_TIERS: Mapping[str, str] = {"auto": "auto", "default": "standard_only"}


def json_emulated(request: Mapping[str, Any], model: str) -> bool:
    """Whether ``request`` asks for JSON that this adapter emulates with the ``json_tool_call`` tool."""
    response_format = request.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_object":
        return True
    return kind == "json_schema" and not supports_structured_outputs(model)


def _unsupported(endpoint: Endpoint, param: str, why: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(
        f"{endpoint.provider} does not support {param} {why} (pass drop_params=True to drop it)",
        provider=endpoint.provider,
        model=endpoint.model,
        param=param,
    )


class AnthropicAdapter(BaseAdapter):
    """Translates OpenAI chat requests to ``POST /v1/messages`` and Anthropic answers back (stateless)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``/v1/messages`` request for an OpenAI chat request."""
        params = filter_params(request, SUPPORTED_PARAMS, endpoint, ignored=_CONSUMED)
        converted = convert_messages(request.get("messages") or [], endpoint)
        body: dict[str, Any] = {"model": endpoint.model, "messages": converted.messages}
        if converted.system is not None:
            body["system"] = converted.system
        thinking = _thinking(params, endpoint)
        _sampling(body, params, endpoint, thinking_on=thinking is not None)
        _tools(body, params, request, endpoint, thinking_on=thinking is not None)
        body["max_tokens"] = _max_tokens(params, endpoint, thinking)
        if thinking is not None:
            body["thinking"] = thinking
        elif isinstance(params.get("thinking"), Mapping):
            body["thinking"] = dict(params["thinking"])  # {"type": "disabled"} is still worth sending
        if params.get("stream"):
            body["stream"] = True
        return HttpRequest(
            method="POST",
            url=endpoint.api_base + "/v1/messages",
            headers=_headers(endpoint),
            body=json_body(body, endpoint.extra_body),
        )

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` dict for an Anthropic ``message``."""
        data = load_json(response.body, endpoint)
        if data.get("type") == "error":
            raise error_from_payload(None, data, provider=endpoint.provider, model=endpoint.model, body=response.body)
        content = data.get("content")
        if not isinstance(content, list):
            raise BadGatewayError(
                f"{endpoint.provider} returned a response that is not a message (no content list)",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        message, finish = _message(content, data.get("stop_reason"), request, endpoint)
        return {
            "id": data.get("id") or "",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": data.get("model") or endpoint.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": openai_usage(data.get("usage")),
        }

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> AnthropicStreamDecoder:
        """A decoder for one streamed ``/v1/messages`` answer."""
        return AnthropicStreamDecoder(
            endpoint,
            json_mode=json_emulated(request, endpoint.model),
            legacy_functions=_legacy_functions(request),
        )

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """Always raises: Anthropic has no embeddings API."""
        raise _no_embeddings(endpoint)

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """Always raises: Anthropic has no embeddings API."""
        raise _no_embeddings(endpoint)

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for a non-2xx answer (envelope §5.9; non-JSON bodies tolerated)."""
        try:
            payload: Any = json.loads(response.body)
        except ValueError:
            payload = None
        return error_from_payload(
            response.status,
            payload,
            provider=endpoint.provider,
            model=endpoint.model,
            body=response.body,
            headers=response.headers,
            retry_after=parse_retry_after(response.headers),
        )


def _no_embeddings(endpoint: Endpoint) -> BadRequestError:
    return BadRequestError(
        "anthropic has no embeddings API; use another provider (Anthropic recommends Voyage AI) for embeddings",
        provider=endpoint.provider,
        model=endpoint.model,
        param="model",
    )


def _legacy_functions(request: Mapping[str, Any]) -> bool:
    # §14.20: answer with function_call only to clients that used the legacy form.
    return bool(request.get("functions")) and not request.get("tools")


def _headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "anthropic-version": endpoint.api_version or ANTHROPIC_VERSION,
    }
    if endpoint.api_key:
        if str(endpoint.quirks.get("auth_header", "x-api-key")).lower() == "authorization":
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        else:
            headers["x-api-key"] = endpoint.api_key
    beta = endpoint.quirks.get("anthropic_beta")
    if beta:
        headers["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(beta)
    for name, value in endpoint.headers.items():
        headers.pop(name.lower(), None)  # the caller's spelling of a name replaces ours
        headers[name] = value
    return headers


def _thinking(params: dict[str, Any], endpoint: Endpoint) -> dict[str, Any] | None:
    """The thinking configuration when thinking is on, else None."""
    thinking = params.get("thinking")
    if isinstance(thinking, Mapping):
        return dict(thinking) if thinking.get("type") in ("enabled", "adaptive") else None
    effort = params.get("reasoning_effort")
    if effort is None or effort == "none":
        return None
    budget = REASONING_BUDGETS.get(effort)
    if budget is None:
        if endpoint.drop_params:
            return None
        raise _unsupported(endpoint, "reasoning_effort", f"{effort!r} (one of none, {', '.join(REASONING_BUDGETS)})")
    return {"type": "enabled", "budget_tokens": budget}


def _max_tokens(params: Mapping[str, Any], endpoint: Endpoint, thinking: Mapping[str, Any] | None) -> int:
    given = params.get("max_completion_tokens", params.get("max_tokens"))
    budget = thinking.get("budget_tokens") if thinking else None
    if not isinstance(budget, int):
        return int(given) if given is not None else default_max_tokens(endpoint.model)
    # The thinking budget counts inside max_tokens and must be below it (§5.6). An explicit cap smaller than
    # the budget is read as the room for the visible answer, on top of the budget.
    if given is not None:
        return int(given) if given > budget else budget + int(given)
    default = default_max_tokens(endpoint.model)
    return default if default > budget else budget + 4096


def _sampling(body: dict[str, Any], params: dict[str, Any], endpoint: Endpoint, *, thinking_on: bool) -> None:
    if thinking_on:
        # §5.6: with thinking on, temperature must be 1, top_k is not allowed and top_p must be in 0.95..1.
        _forbid(params, "temperature", lambda v: v != 1, endpoint, "other than 1 while thinking is on")
        _forbid(params, "top_k", lambda v: True, endpoint, "while thinking is on")
        _forbid(params, "top_p", lambda v: not 0.95 <= v <= 1, endpoint, "outside 0.95..1 while thinking is on")
    for name in ("temperature", "top_p", "top_k"):
        if name in params:
            body[name] = params[name]
    stop = params.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if "user" in params:
        body["metadata"] = {"user_id": str(params["user"])}
    if params.get("n", 1) != 1:
        _forbid(params, "n", lambda v: True, endpoint, "other than 1 (Anthropic returns one choice)")
    tier = params.get("service_tier")
    if tier is not None:
        if tier in _SERVICE_TIERS:
            body["service_tier"] = _SERVICE_TIERS[tier]
        else:
            _forbid(params, "service_tier", lambda v: True, endpoint, f"{tier!r} (auto or default)")


def _forbid(params: dict[str, Any], name: str, bad: Any, endpoint: Endpoint, why: str) -> None:
    if name in params and bad(params[name]):
        if not endpoint.drop_params:
            raise _unsupported(endpoint, name, why)
        del params[name]


def _tools(
    body: dict[str, Any],
    params: dict[str, Any],
    request: Mapping[str, Any],
    endpoint: Endpoint,
    *,
    thinking_on: bool,
) -> None:
    tools = convert_tools(params.get("tools"), params.get("functions"))
    choice = convert_tool_choice(params.get("tool_choice", params.get("function_call")), endpoint)
    response_format = params.get("response_format")
    if isinstance(response_format, Mapping):
        choice = _response_format(
            body, tools=tools, choice=choice, response_format=response_format, request=request, endpoint=endpoint
        )
    if thinking_on and choice is not None and choice["type"] in ("any", "tool"):
        # §5.6: thinking allows only auto/none. The JSON tool then stays available without being forced.
        if choice.get("name") != JSON_TOOL_NAME and not endpoint.drop_params:
            raise _unsupported(endpoint, "tool_choice", "that forces a tool while thinking is on")
        choice = {"type": "auto"}
    if not tools:
        return  # a tool_choice (or parallel_tool_calls) without tools means nothing to Anthropic
    body["tools"] = tools
    if params.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        body["tool_choice"] = choice


def _response_format(
    body: dict[str, Any],
    *,
    tools: list[dict[str, Any]],
    choice: dict[str, Any] | None,
    response_format: Mapping[str, Any],
    request: Mapping[str, Any],
    endpoint: Endpoint,
) -> dict[str, Any] | None:
    """Apply ``response_format``; returns the tool_choice to send."""
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        schema = dict(schema) if isinstance(schema, Mapping) else {"type": "object"}
    elif kind == "json_object":
        schema = {"type": "object"}
    elif kind == "text":
        return choice
    else:
        if endpoint.drop_params:
            return choice
        raise _unsupported(endpoint, "response_format", f"of type {kind!r}")
    if not json_emulated(request, endpoint.model):
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return choice
    tools.append(
        {
            "name": JSON_TOOL_NAME,
            "description": "Respond with a JSON object that follows the input schema.",
            "input_schema": schema,
        }
    )
    return {"type": "tool", "name": JSON_TOOL_NAME}


def _message(
    content: list[Any], stop_reason: Any, request: Mapping[str, Any], endpoint: Endpoint
) -> tuple[dict[str, Any], str]:
    """The OpenAI assistant message and finish_reason for Anthropic content blocks."""
    texts: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    json_text: str | None = None
    json_mode = json_emulated(request, endpoint.model)
    for block in content:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind in ("thinking", "redacted_thinking"):
            thinking_blocks.append(block)
        elif kind == "tool_use" and json_mode and block.get("name") == JSON_TOOL_NAME:
            json_text = _compact(block.get("input"))
        elif kind == "tool_use":
            arguments = _compact(block.get("input"))
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: dict[str, Any] = {"role": "assistant", "content": json_text or ("".join(texts) if texts else None)}
    finish = finish_reason(stop_reason)
    if calls and _legacy_functions(request):
        message["function_call"] = calls[0]["function"]
        finish = "function_call"
    elif calls:
        message["tool_calls"] = calls
    elif finish == "tool_calls":
        finish = "stop"  # only the JSON tool was called: to the caller this is a plain answer
    if thinking_blocks:
        message["reasoning_content"] = "".join(
            str(b.get("thinking") or "") for b in thinking_blocks if b.get("type") == "thinking"
        )
        message["thinking_blocks"] = thinking_blocks
    return message, finish


def _compact(value: Any) -> str:
    return json.dumps(value if value is not None else {}, separators=(",", ":"), ensure_ascii=False)
