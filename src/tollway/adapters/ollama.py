"""Ollama's native API: ``POST /api/chat`` and ``POST /api/embed`` (../shared/PROVIDERS.md §12, §13, §14).

Requests (``{api_base}/api/chat``; an ``api_base`` without a scheme, as ``OLLAMA_HOST`` allows, gets ``http://``):

* messages keep their roles (``developer`` -> ``system``); content becomes text, and ``image_url`` parts become the
  message's ``images`` list of bare base64 taken from ``data:`` URLs. An ``https://`` image URL is refused with a
  ``BadRequestError`` asking for a data URL: adapters do no I/O, so tollway cannot download it (§14.11).
  Assistant tool calls are sent with ``arguments`` as an object (§14.9) and their ids; a tool result is sent with
  ``tool_name`` looked up from the history by ``tool_call_id`` (older servers pair results by name, newer ones also
  read ``tool_call_id``). ``reasoning_content`` goes back as ``thinking``.
* ``options``: ``temperature``, ``top_p``, ``seed``, ``stop``, ``presence_penalty``, ``frequency_penalty``, and
  ``max_tokens``/``max_completion_tokens`` as ``num_predict``; Ollama's own runtime options (``top_k``, ``num_ctx``,
  ``repeat_penalty``, ``min_p``, ``mirostat``...) are accepted as parameters too, and an ``options`` mapping is
  merged last. Top-level Ollama parameters ``keep_alive``, ``think``, ``format``, ``logprobs``, ``top_logprobs``
  pass through.
* ``response_format``: ``json_object`` -> ``format: "json"``, ``json_schema`` -> ``format: <schema>``.
* ``reasoning_effort`` -> ``think`` (``none`` -> false, ``minimal``/``low`` -> ``"low"``, ``medium``, ``high``/
  ``xhigh`` -> ``"high"``, ``max``); Anthropic-style ``thinking: {"type": "enabled"}`` -> ``think: true``. A
  ``think`` parameter wins. Models that take only a boolean need ``think=True``.
* ``tool_choice``: Ollama cannot force a tool. ``auto`` is the default, ``none`` leaves the tools out; ``required``
  or a named function raises ``UnsupportedParamsError`` (dropped with ``drop_params``), as do
  ``parallel_tool_calls: false`` and ``n`` other than 1 (§14.1).
* ``stream`` is always sent: Ollama streams unless told otherwise (§12.1).
* ``api_key`` (hosted ollama.com) is sent as ``Authorization: Bearer``; a local server needs none.

Responses: ``message.content``/``thinking``/``tool_calls`` -> OpenAI ``content``/``reasoning_content``/
``tool_calls`` (arguments as JSON text, ids synthesised deterministically when the server sends none);
``done_reason`` ``length`` -> ``length``, ``stop`` -> ``tool_calls`` when calls were made, else ``stop``; usage from
``prompt_eval_count`` (absent when 0) and ``eval_count``; the ns durations stay on the response. Errors are
``{"error": "<text>"}`` with the HTTP status (404 for an unknown model). Streams are NDJSON (``ollama_stream``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import struct
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from tollway.adapters.base import (
    BaseAdapter,
    Endpoint,
    StreamDecoder,
    bad_request,
    filter_params,
    json_body,
    load_json,
    require,
)
from tollway.adapters.openai import error_from_payload
from tollway.errors import BadGatewayError, TollwayError, UnsupportedParamsError
from tollway.http import HttpRequest, HttpResponse
from tollway.messages import content_text, parse_data_url

__all__ = [
    "METRIC_FIELDS",
    "OllamaAdapter",
    "convert_messages",
    "created_timestamp",
    "finish_reason",
    "openai_logprobs",
    "openai_tool_calls",
    "openai_usage",
]

# OpenAI parameters that become Ollama ``options`` under the same name (api/types.go Options).
_SAME_NAME_OPTIONS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")
# Ollama's own runtime options, accepted as call parameters (ollama-python 0.6.3 _types.Options).
OLLAMA_OPTIONS: frozenset[str] = frozenset(
    {
        "top_k",
        "min_p",
        "typical_p",
        "tfs_z",
        "repeat_penalty",
        "repeat_last_n",
        "penalize_newline",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "num_ctx",
        "num_keep",
        "num_batch",
        "num_gpu",
        "num_thread",
    }
)
_TOP_LEVEL = ("keep_alive", "think", "format", "logprobs", "top_logprobs")
_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        *_SAME_NAME_OPTIONS,
        *OLLAMA_OPTIONS,
        *_TOP_LEVEL,
        "messages",
        "stream",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "thinking",
        "n",
    }
)
_EMBED_PARAMS: frozenset[str] = frozenset(
    {"input", "encoding_format", "dimensions", "truncate", "keep_alive", "options"}
)
_THINK_LEVELS: Mapping[str, bool | str] = MappingProxyType(
    {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "max"}
)
# Counters and timings of a final answer (Go omitempty: absent when 0, §12.1); kept on the OpenAI response.
METRIC_FIELDS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def _unsupported(params: dict[str, Any], name: str, endpoint: Endpoint, why: str) -> None:
    """Drop ``name`` with ``drop_params``, else raise ``UnsupportedParamsError``."""
    if endpoint.drop_params:
        params.pop(name, None)
        return
    raise UnsupportedParamsError(
        f"{endpoint.provider} does not support {name} {why} (pass drop_params=True to drop it)",
        provider=endpoint.provider,
        model=endpoint.model,
        param=name,
    )


def _url(endpoint: Endpoint, path: str) -> str:
    base = endpoint.api_base
    if "://" not in base:
        base = "http://" + base  # OLLAMA_HOST is often "host:port" (ollama-python accepts it so)
    return base + path


def _headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if endpoint.api_key:
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers


# -- messages -------------------------------------------------------------------------------------------------
def _tool_names(messages: list[Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(function.get("name"))
    return names


def _arguments(arguments: Any) -> dict[str, Any]:
    """OpenAI's JSON-text arguments as the object Ollama wants; ``{}`` for empty or invalid text (§14.9)."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except orjson.JSONDecodeError:
        value = {}
    return value if isinstance(value, dict) else {}


def _user_content(content: Any, where: str, endpoint: Endpoint) -> tuple[str, list[str]]:
    """Text and bare-base64 images of a user message's content."""
    if not isinstance(content, list):
        return content_text(content), []
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text") or ""))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            param = f"{where}.content[{j}].image_url.url"
            if not isinstance(url, str) or not url.startswith("data:"):
                raise bad_request(
                    endpoint,
                    f"{endpoint.provider} takes images as base64 only and tollway does not download URLs; "
                    f"pass {param} as a data:image/<type>;base64,<data> URL",
                    param,
                )
            images.append(parse_data_url(url, param).data)
        else:
            raise bad_request(
                endpoint,
                f"{endpoint.provider} does not support {kind!r} content parts",
                f"{where}.content",
            )
    return "\n".join(texts), images


def _assistant(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": content_text(message.get("content"))}
    if isinstance(message.get("reasoning_content"), str):
        out["thinking"] = message["reasoning_content"]
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        converted: dict[str, Any] = {
            "function": {"name": function.get("name"), "arguments": _arguments(function.get("arguments"))}
        }
        if isinstance(call.get("id"), str):
            converted["id"] = call["id"]
        calls.append(converted)
    if calls:
        out["tool_calls"] = calls
    return out


def convert_messages(messages: list[Any], endpoint: Endpoint) -> list[dict[str, Any]]:
    """OpenAI messages as ``/api/chat`` takes them (see the module docstring)."""
    names = _tool_names(messages)
    converted: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{index}]"
        if role in ("system", "developer"):
            converted.append({"role": "system", "content": content_text(message.get("content"))})
        elif role == "user":
            text, images = _user_content(message.get("content"), where, endpoint)
            converted.append({"role": "user", "content": text, **({"images": images} if images else {})})
        elif role == "assistant":
            converted.append(_assistant(message))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            out = {"role": "tool", "content": content_text(message.get("content")), "tool_call_id": call_id}
            if call_id in names:
                out["tool_name"] = names[call_id]
            converted.append(out)
        else:
            raise bad_request(endpoint, f"{endpoint.provider} does not support the role {role!r}", f"{where}.role")
    return converted


# -- parameters -----------------------------------------------------------------------------------------------
def _options(params: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {name: params[name] for name in (*_SAME_NAME_OPTIONS, *OLLAMA_OPTIONS) if name in params}
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    stop = params.get("stop")
    if stop:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    extra = params.get("options")
    if isinstance(extra, Mapping):
        options.update(extra)
    return options


def _think(params: dict[str, Any], endpoint: Endpoint) -> bool | str | None:
    if "think" in params:
        value: bool | str = params["think"]
        return value
    thinking = params.get("thinking")
    if isinstance(thinking, Mapping):
        return thinking.get("type") in ("enabled", "adaptive")
    effort = params.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in _THINK_LEVELS:
        _unsupported(params, "reasoning_effort", endpoint, f"{effort!r} (one of {', '.join(_THINK_LEVELS)})")
        return None
    return _THINK_LEVELS[effort]


def _format(params: dict[str, Any], endpoint: Endpoint) -> Any:
    if "format" in params:
        return params["format"]
    response_format = params.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind is None or kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema") if isinstance(response_format, Mapping) else None
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return dict(schema) if isinstance(schema, Mapping) else "json"
    _unsupported(params, "response_format", endpoint, f"of type {kind!r}")
    return None


def _tools(params: dict[str, Any], endpoint: Endpoint) -> list[dict[str, Any]]:
    choice = params.get("tool_choice")
    if choice is not None and choice not in ("auto", "none"):
        _unsupported(params, "tool_choice", endpoint, f"{choice!r}: Ollama cannot force a tool call")
    if params.get("parallel_tool_calls") is False:
        _unsupported(params, "parallel_tool_calls", endpoint, "false: Ollama cannot limit parallel calls")
    if params.get("tool_choice") == "none":
        return []  # the only way to keep an Ollama model from calling tools
    tools = []
    for index, tool in enumerate(params.get("tools") or ()):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not isinstance(function, Mapping):
            raise bad_request(endpoint, f"{endpoint.provider} supports function tools only", f"tools[{index}]")
        kept = {key: function[key] for key in ("name", "description", "parameters") if key in function}
        tools.append({"type": "function", "function": kept})
    return tools


def _chat_body(request: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    params = filter_params(request, _CHAT_PARAMS, endpoint, ignored=("model", "stream_options"))
    if params.get("n", 1) != 1:
        _unsupported(params, "n", endpoint, "other than 1 (Ollama returns one choice)")
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": convert_messages(request.get("messages") or [], endpoint),
        "stream": bool(params.get("stream")),
    }
    tools = _tools(params, endpoint)
    if tools:
        body["tools"] = tools
    options = _options(params)
    if options:
        body["options"] = options
    for name, value in (("format", _format(params, endpoint)), ("think", _think(params, endpoint))):
        if value is not None:
            body[name] = value
    for name in ("keep_alive", "logprobs", "top_logprobs"):
        if name in params:
            body[name] = params[name]
    return body


# -- responses ------------------------------------------------------------------------------------------------
def created_timestamp(created_at: Any) -> int:
    """Unix seconds of Ollama's RFC 3339 ``created_at`` (nanosecond precision, ``Z``); now when unreadable."""
    if isinstance(created_at, str):
        head, dot, rest = created_at.partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            created_at = head + "." + rest[: min(digits, 6)] + rest[digits:]  # Python parses microseconds at most
        try:
            return int(datetime.datetime.fromisoformat(created_at).timestamp())
        except ValueError:
            pass
    return int(time.time())


def finish_reason(done_reason: Any, has_calls: bool) -> str:
    """§13.1: ``length`` stays; anything else is ``stop``, or ``tool_calls`` when the model called tools."""
    if done_reason == "length":
        return "length"
    return "tool_calls" if has_calls else "stop"


def openai_usage(data: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage from a final answer's counters (``prompt_eval_count`` is absent when 0, §13.2)."""
    prompt = data.get("prompt_eval_count")
    completion = data.get("eval_count")
    prompt = prompt if isinstance(prompt, int) else 0
    completion = completion if isinstance(completion, int) else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def openai_tool_calls(calls: Any, seed: str, start: int = 0) -> list[dict[str, Any]]:
    """OpenAI tool calls (with ``index``) for Ollama's; ids synthesised from ``seed`` when the server sent none."""
    out: list[dict[str, Any]] = []
    for offset, call in enumerate(calls if isinstance(calls, list) else ()):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        index = start + offset
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
        name = str(function.get("name") or "")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            digest = hashlib.sha256(f"{seed}\0{index}\0{name}\0{text}".encode()).hexdigest()
            call_id = "call_" + digest[:24]
        out.append({"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": text}})
    return out


def openai_logprobs(logprobs: Any) -> dict[str, Any] | None:
    """OpenAI ``choices[].logprobs`` for Ollama's ``logprobs`` list (None when absent)."""
    if not isinstance(logprobs, list):
        return None

    def entry(item: Mapping[str, Any]) -> dict[str, Any]:
        token = str(item.get("token", ""))
        return {"token": token, "logprob": item.get("logprob", 0.0), "bytes": list(token.encode())}

    content = [
        {**entry(item), "top_logprobs": [entry(t) for t in item.get("top_logprobs") or () if isinstance(t, Mapping)]}
        for item in logprobs
        if isinstance(item, Mapping)
    ]
    return {"content": content, "refusal": None}


def _message(data: Mapping[str, Any], response_id: str, endpoint: Endpoint, body: bytes) -> dict[str, Any]:
    message = data.get("message")
    if not isinstance(message, Mapping):
        raise BadGatewayError(
            f"{endpoint.provider} returned a chat response without a message",
            provider=endpoint.provider,
            model=endpoint.model,
            body=body,
        )
    calls = [
        {k: v for k, v in call.items() if k != "index"}
        for call in openai_tool_calls(message.get("tool_calls"), response_id)
    ]
    content = message.get("content")
    out: dict[str, Any] = {
        "role": "assistant",
        "content": content if isinstance(content, str) and (content or not calls) else None,
    }
    if calls:
        out["tool_calls"] = calls
    thinking = message.get("thinking")
    if isinstance(thinking, str) and thinking:
        out["reasoning_content"] = thinking
    return out


def _response_id(data: bytes) -> str:
    return "chatcmpl-" + hashlib.sha256(data).hexdigest()[:24]


def float32_base64(vector: list[float]) -> str:
    """A vector as openai-python's ``encoding_format="base64"`` expects: little-endian float32, base64 (§2)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


class OllamaAdapter(BaseAdapter):
    """Ollama's ``/api/chat`` and ``/api/embed`` (stateless; the module docstring lists the translations)."""

    def build_chat_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/api/chat`` request."""
        body = _chat_body(request, endpoint)
        return HttpRequest(
            "POST", _url(endpoint, "/api/chat"), _headers(endpoint), json_body(body, endpoint.extra_body)
        )

    def parse_chat_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` for a non-streamed ``/api/chat`` answer."""
        data = load_json(response.body, endpoint)
        if data.get("error"):
            raise error_from_payload(data["error"], endpoint, headers=response.headers, body=response.body)
        response_id = _response_id(response.body)
        message = _message(data, response_id, endpoint, response.body)
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(data.get("done_reason"), bool(message.get("tool_calls"))),
            "logprobs": openai_logprobs(data.get("logprobs")),
        }
        result = {
            "id": response_id,
            "object": "chat.completion",
            "created": created_timestamp(data.get("created_at")),
            "model": data.get("model") or endpoint.model,
            "choices": [choice],
            "usage": openai_usage(data),
        }
        result.update({name: data[name] for name in METRIC_FIELDS if name in data})
        return result

    def chat_stream_decoder(self, request: dict[str, Any], endpoint: Endpoint) -> StreamDecoder:
        """A fresh ``OllamaStreamDecoder`` (NDJSON)."""
        # Imported here: ollama_stream imports this module's helpers, a top-level import would be a cycle.
        from tollway.adapters.ollama_stream import OllamaStreamDecoder

        return OllamaStreamDecoder(endpoint)

    def build_embedding_request(self, request: dict[str, Any], endpoint: Endpoint) -> HttpRequest:
        """The ``POST {api_base}/api/embed`` request (text input only)."""
        params = filter_params(request, _EMBED_PARAMS, endpoint, ignored=("model",))
        value = params.get("input")
        require(
            (isinstance(value, str) and bool(value))
            or (isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)),
            f"{endpoint.provider} embeds text only: input must be a non-empty string or list of non-empty strings",
            endpoint,
            "input",
        )
        require(
            params.get("encoding_format", "float") in ("float", "base64"),
            "encoding_format must be 'float' or 'base64'",
            endpoint,
            "encoding_format",
        )
        body = {"model": endpoint.model, **{k: v for k, v in params.items() if k != "encoding_format"}}
        return HttpRequest(
            "POST", _url(endpoint, "/api/embed"), _headers(endpoint), json_body(body, endpoint.extra_body)
        )

    def parse_embedding_response(
        self, response: HttpResponse, request: dict[str, Any], endpoint: Endpoint
    ) -> dict[str, Any]:
        """An OpenAI embeddings ``list``; vectors as base64 float32 when the caller asked for base64."""
        data = load_json(response.body, endpoint)
        vectors = data.get("embeddings")
        if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
            raise BadGatewayError(
                f"{endpoint.provider} returned an embed response without an 'embeddings' list",
                provider=endpoint.provider,
                model=endpoint.model,
                body=response.body,
            )
        as_base64 = request.get("encoding_format") == "base64"
        items = [
            {"object": "embedding", "index": i, "embedding": float32_base64(v) if as_base64 else v}
            for i, v in enumerate(vectors)
        ]
        prompt = data.get("prompt_eval_count")
        tokens = prompt if isinstance(prompt, int) else 0
        return {
            "object": "list",
            "data": items,
            "model": data.get("model") or endpoint.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def map_error(self, response: HttpResponse, endpoint: Endpoint) -> TollwayError:
        """The typed error for ``{"error": "<text>"}`` and the HTTP status (non-JSON bodies tolerated)."""
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            data = None
        preview = response.body[:200].decode("utf-8", errors="replace")
        return error_from_payload(
            data.get("error") if isinstance(data, dict) else None,
            endpoint,
            status=response.status,
            headers=response.headers,
            body=response.body,
            fallback_message=f"{endpoint.provider} returned HTTP {response.status}: {preview}",
        )
