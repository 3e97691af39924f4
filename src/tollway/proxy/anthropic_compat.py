"""The Anthropic-compatible face of the gateway: Messages requests in, OpenAI chat requests to the router (pure).

``POST /v1/messages`` lets Claude-compatible tools use any backend: the Anthropic request is translated to an
OpenAI chat request (the router's language), the OpenAI answer back to an Anthropic ``message``, and streamed
OpenAI chunks to Anthropic SSE events (``anthropic_compat_stream``). This is the opposite direction of
``tollway.adapters.anthropic`` and reuses its tables (stop reasons, usage) so the two directions agree.

Wire format: ../shared/PROVIDERS.md §5 (request §5.2, tools §5.3, response §5.4, stream §5.5, errors §5.9);
mapping tables §13; gotchas §14. Everything here works on plain dicts: no pydantic models on the request path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tollway.adapters.anthropic_models import REASONING_BUDGETS
from tollway.errors import BadRequestError, TollwayError
from tollway.pricing.tokens import token_counter
from tollway.proxy.anthropic_compat_stream import (
    AnthropicStreamEncoder,
    anthropic_error_body,
    anthropic_usage,
    mapping,
    message_id,
    stop_reason,
)

__all__ = [
    "ANTHROPIC_ONLY_PARAMS",
    "AnthropicStreamEncoder",
    "anthropic_error",
    "anthropic_to_openai",
    "count_tokens",
    "openai_to_anthropic",
    "portable_request",
    "thinking_content",
    "tool_input",
]

Block = dict[str, Any]

# Request fields with a translation below, and fields accepted but without effect on a translated call.
# Anything else is a 400, as the Messages API answers unknown fields (§5.2) and so a client cannot smuggle
# gateway options (api_base, api_key, ...) through this route.
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "metadata",
        "stream",
        "output_config",
        "cache_control",
    }
)
# service_tier and inference_geo choose Anthropic capacity, context_management is a beta that Claude Code
# sends; none of them change what an OpenAI-shaped backend can be asked.
_IGNORED = frozenset({"service_tier", "inference_geo", "context_management"})

# Parameters only the Anthropic adapter understands; ``portable_request`` replaces or drops them.
ANTHROPIC_ONLY_PARAMS = ("thinking", "top_k")

_TOOL_CHOICES: Mapping[str, str] = {"auto": "auto", "any": "required", "none": "none"}
_EFFORTS = frozenset(REASONING_BUDGETS)


def _bad(message: str, param: str) -> BadRequestError:
    return BadRequestError(f"{param}: {message}", param=param)


def _require(condition: bool, message: str, param: str) -> None:
    if not condition:
        raise _bad(message, param)


def anthropic_to_openai(body: Any, *, require_max_tokens: bool = True) -> dict[str, Any]:
    """An OpenAI chat request dict for an Anthropic Messages request ``body``.

    Raises ``BadRequestError`` naming the field (``messages[1].content[0].type``) when ``body`` is not a valid
    Messages request or uses something no backend could be given (server tools, Files API sources).
    ``require_max_tokens=False`` is for ``count_tokens``, whose requests have no ``max_tokens``.
    """
    _require(isinstance(body, dict), "the request body must be a JSON object", "body")
    unknown = sorted(k for k in body if k not in _KNOWN and k not in _IGNORED)
    if unknown:
        raise _bad("Extra inputs are not permitted", unknown[0])
    model = body.get("model")
    _require(isinstance(model, str) and bool(model), "Field required (a non-empty string)", "model")
    request: dict[str, Any] = {"model": model, "messages": _messages(body)}
    _max_tokens(body, request, required=require_max_tokens)
    _sampling(body, request)
    _tools(body, request)
    _thinking(body, request)
    stream = body.get("stream")
    _require(stream is None or isinstance(stream, bool), "must be a boolean", "stream")
    if stream:
        request["stream"] = True
    return request


def portable_request(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` without the Anthropic-only parameters, for backends that are not Anthropic's wire API.

    Enabled ``thinking`` becomes the ``reasoning_effort`` whose budget (``REASONING_BUDGETS``) is nearest above
    it; ``top_k`` has no OpenAI equivalent and is dropped.
    """
    portable = {k: v for k, v in request.items() if k not in ANTHROPIC_ONLY_PARAMS}
    thinking = request.get("thinking")
    if isinstance(thinking, Mapping) and "reasoning_effort" not in portable:
        if thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            budget = budget if isinstance(budget, int) else 0
            efforts = [e for e, b in REASONING_BUDGETS.items() if b >= budget and e != "minimal"]
            portable["reasoning_effort"] = efforts[0] if efforts else "max"
        elif thinking.get("type") == "adaptive":
            portable["reasoning_effort"] = "medium"
    return portable


def _max_tokens(body: Mapping[str, Any], request: dict[str, Any], *, required: bool) -> None:
    value = body.get("max_tokens")
    if value is None:
        _require(not required, "Field required", "max_tokens")
        return
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1, "must be an integer >= 1", "max_tokens"
    )
    request["max_tokens"] = value


def _sampling(body: Mapping[str, Any], request: dict[str, Any]) -> None:
    for name in ("temperature", "top_p", "top_k"):
        value = body.get(name)
        if value is not None:
            _require(isinstance(value, int | float) and not isinstance(value, bool), "must be a number", name)
            request[name] = value
    stops = body.get("stop_sequences")
    if stops is not None:
        _require(
            isinstance(stops, list) and all(isinstance(s, str) for s in stops),
            "must be a list of strings",
            "stop_sequences",
        )
        if stops:
            request["stop"] = list(stops)
    metadata = body.get("metadata")
    if metadata is not None:
        _require(isinstance(metadata, dict), "must be an object", "metadata")
        user = metadata.get("user_id")
        if user is not None:
            _require(isinstance(user, str), "must be a string", "metadata.user_id")
            request["user"] = user


def _thinking(body: Mapping[str, Any], request: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is not None:
        _require(
            isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive", "disabled"),
            "must be {'type': 'enabled' | 'adaptive' | 'disabled', ...}",
            "thinking",
        )
        request["thinking"] = dict(thinking)
    output = body.get("output_config")
    if output is None:
        return
    _require(isinstance(output, dict), "must be an object", "output_config")
    effort = output.get("effort")
    if effort is not None:
        _require(
            isinstance(effort, str) and effort in _EFFORTS,
            f"must be one of {', '.join(sorted(_EFFORTS))}",
            "output_config.effort",
        )
        request["reasoning_effort"] = effort
    fmt = output.get("format")
    if fmt is not None:
        _require(
            isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict),
            "must be {'type': 'json_schema', 'schema': {...}}",
            "output_config.format",
        )
        spec = {"name": "response", "schema": fmt["schema"]}
        request["response_format"] = {"type": "json_schema", "json_schema": spec}


# ---------------------------------------------------------------------------------------------------- messages


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _bad("Field required (a list of messages)", "messages")
    _require(bool(messages), "at least one message is required", "messages")
    out = _system(body.get("system"))
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        _require(isinstance(message, dict), "must be an object with role and content", where)
        role = message.get("role")
        content = message.get("content")
        _require(role in ("user", "assistant"), "must be 'user' or 'assistant'", f"{where}.role")
        _require(isinstance(content, str | list), "must be a string or a list of content blocks", f"{where}.content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if role == "user":
            out.extend(_user(blocks, where, plain=isinstance(content, str)))
        else:
            out.append(_assistant(blocks, where))
    # Empty content lists translate to no message at all: refused here, not an IndexError further on (a 500).
    _require(bool(out), "all messages have empty content", "messages")
    _top_cache_control(body.get("cache_control"), out)
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    _require(isinstance(system, list), "must be a string or a list of text blocks", "system")
    parts = []
    for j, block in enumerate(system):
        where = f"system[{j}]"
        _require(isinstance(block, dict) and block.get("type") == "text", "must be a text block", where)
        parts.append(_text(block, where))
    if not parts:
        return []
    if any("cache_control" in part for part in parts):
        return [{"role": "system", "content": parts}]  # a cache breakpoint needs the part form (§5.7)
    return [{"role": "system", "content": "\n".join(part["text"] for part in parts)}]


def _top_cache_control(cache_control: Any, messages: list[dict[str, Any]]) -> None:
    # A top-level cache_control applies to the last cacheable block (§5.2); the adapter reads it there.
    if cache_control is None:
        return
    _require(isinstance(cache_control, dict), "must be an object", "cache_control")
    last = messages[-1]
    content = last.get("content")
    if isinstance(content, str):
        last["content"] = [{"type": "text", "text": content, "cache_control": cache_control}]
    elif isinstance(content, list) and content:
        content[-1].setdefault("cache_control", cache_control)
    else:
        last.setdefault("cache_control", cache_control)


def _text(block: Mapping[str, Any], where: str) -> Block:
    text = block.get("text")
    _require(isinstance(text, str), "text must be a string", f"{where}.text")
    part: Block = {"type": "text", "text": text}
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _user(blocks: list[Any], where: str, *, plain: bool) -> list[dict[str, Any]]:
    """Tool results first (one ``tool`` message each, §14.7), then the user's own content as one message."""
    out: list[dict[str, Any]] = []
    parts: list[Block] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        _require(isinstance(block, dict), "must be a content block object", at)
        if block.get("type") == "tool_result":
            out.append(_tool_result(block, at))
        else:
            parts.append(_user_part(block, at))
    if parts:
        content: str | list[Block] = parts[0]["text"] if plain else parts
        out.append({"role": "user", "content": content})
    return out


def _user_part(block: Mapping[str, Any], where: str) -> Block:
    kind = block.get("type")
    if kind == "text":
        return _text(block, where)
    if kind == "image":
        part: Block = {"type": "image_url", "image_url": {"url": _source_url(block.get("source"), where, image=True)}}
    elif kind == "document":
        part = _document(block.get("source"), where)
    else:
        raise _bad(f"unknown or unsupported content block type {kind!r} in a user message", f"{where}.type")
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _source_url(source: Any, where: str, *, image: bool) -> str:
    """A ``data:`` URL for a base64 source, the URL itself for a url source (§5.2)."""
    at = f"{where}.source"
    _require(isinstance(source, dict), "Field required (an object)", at)
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        _require(isinstance(media_type, str) and bool(media_type), "Field required", f"{at}.media_type")
        _require(isinstance(data, str) and bool(data), "Field required", f"{at}.data")
        return f"data:{media_type};base64,{data}"
    if kind == "url" and image:
        url = source.get("url")
        _require(
            isinstance(url, str) and url.startswith(("https://", "http://")), "must be an http(s) URL", f"{at}.url"
        )
        return str(url)
    raise _bad(f"source type {kind!r} is not supported here (base64{' or url' if image else ''})", f"{at}.type")


def _document(source: Any, where: str) -> Block:
    if isinstance(source, dict) and source.get("type") == "text":
        # A plain-text document is just text to any backend.
        data = source.get("data")
        _require(isinstance(data, str), "must be a string", f"{where}.source.data")
        return {"type": "text", "text": data}
    url = _source_url(source, where, image=False)
    _require(url.startswith("data:application/pdf;"), "only PDF documents can be sent", f"{where}.source.media_type")
    return {"type": "file", "file": {"file_data": url}}


def _tool_result(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    tool_use_id = block.get("tool_use_id")
    _require(isinstance(tool_use_id, str) and bool(tool_use_id), "Field required", f"{where}.tool_use_id")
    content = block.get("content")
    parts: str | list[Block]
    if content is None:
        parts = ""
    elif isinstance(content, str):
        parts = content
    else:
        _require(isinstance(content, list), "must be a string or a list of blocks", f"{where}.content")
        parts = [_tool_result_part(b, f"{where}.content[{k}]") for k, b in enumerate(content)]
    if block.get("is_error"):
        # OpenAI tool messages have no error flag; the model still has to learn that the call failed.
        parts = _mark_error(parts)
    message: dict[str, Any] = {"role": "tool", "tool_call_id": tool_use_id, "content": parts}
    if block.get("cache_control") is not None:
        message["cache_control"] = block["cache_control"]
    return message


def _tool_result_part(block: Any, where: str) -> Block:
    _require(isinstance(block, dict) and block.get("type") in ("text", "image"), "must be a text or image block", where)
    return _user_part(block, where)


def _mark_error(content: str | list[Block]) -> str | list[Block]:
    if isinstance(content, str):
        return f"Error: {content}" if content else "Error"
    return [{"type": "text", "text": "Error:"}, *content]


def _assistant(blocks: list[Any], where: str) -> dict[str, Any]:
    parts: list[Block] = []
    calls: list[dict[str, Any]] = []
    thinking: list[Block] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        _require(isinstance(block, dict), "must be a content block object", at)
        kind = block.get("type")
        if kind == "text":
            part = _text(block, at)
            if part["text"] or "cache_control" in part:
                parts.append(part)
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
        elif kind == "thinking":
            _require(isinstance(block.get("thinking"), str), "must be a string", f"{at}.thinking")
            # Kept whole and unmodified: Anthropic checks the signature on the next turn (§5.6, §14.5).
            thinking.append({"type": "thinking", "thinking": block["thinking"], "signature": block.get("signature")})
        elif kind == "redacted_thinking":
            _require(isinstance(block.get("data"), str), "must be a string", f"{at}.data")
            thinking.append({"type": "redacted_thinking", "data": block["data"]})
        else:
            raise _bad(f"unknown or unsupported content block type {kind!r} in an assistant message", f"{at}.type")
    content: str | list[Block] | None
    if any("cache_control" in p for p in parts) or len(parts) > 1:
        content = parts
    else:
        # One plain text (or none) is a string, what every OpenAI-shaped backend takes; null only beside
        # tool calls, as OpenAI requires (tollway.messages.validate_chat_request).
        content = parts[0]["text"] if parts else (None if calls else "")
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    return message


def _tool_call(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    _require(isinstance(call_id, str) and bool(call_id), "Field required", f"{where}.id")
    _require(isinstance(name, str) and bool(name), "Field required", f"{where}.name")
    _require(isinstance(arguments, dict), "must be an object", f"{where}.input")
    encoded = orjson.dumps(arguments).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


# ------------------------------------------------------------------------------------------------------- tools


def _tools(body: Mapping[str, Any], request: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        _require(isinstance(tools, list), "must be a list of tools", "tools")
        if tools:
            request["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is None:
        return
    _require(isinstance(choice, dict), "must be an object with a type", "tool_choice")
    kind = choice.get("type")
    if kind == "tool":
        name = choice.get("name")
        _require(isinstance(name, str) and bool(name), "Field required", "tool_choice.name")
        request["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        # A str check first: a list or dict type is unhashable (a TypeError, a 500).
        _require(
            isinstance(kind, str) and kind in _TOOL_CHOICES, "must be one of auto, any, tool, none", "tool_choice.type"
        )
        request["tool_choice"] = _TOOL_CHOICES[kind]
    if choice.get("disable_parallel_tool_use") and request.get("tools"):
        # OpenAI allows parallel_tool_calls only beside tools (§13.3).
        request["parallel_tool_calls"] = False


def _tool(tool: Any, where: str) -> dict[str, Any]:
    _require(isinstance(tool, dict), "must be an object", where)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        # Server tools (web_search_20250305, code_execution, ...) run inside Anthropic's API; no backend
        # reached through an OpenAI-shaped request can run them.
        raise _bad(
            f"server tool {kind!r} is not supported by this gateway; define a custom tool instead", f"{where}.type"
        )
    name, schema = tool.get("name"), tool.get("input_schema")
    _require(isinstance(name, str) and bool(name), "Field required", f"{where}.name")
    _require(isinstance(schema, dict), "Field required (a JSON schema object)", f"{where}.input_schema")
    function: dict[str, Any] = {"name": name, "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    converted: dict[str, Any] = {"type": "function", "function": function}
    if tool.get("cache_control") is not None:
        converted["cache_control"] = tool["cache_control"]
    return converted


# ---------------------------------------------------------------------------------------------------- response


def thinking_content(message: Mapping[str, Any]) -> list[Block]:
    """Thinking blocks of an OpenAI message: signed ``thinking_blocks``, else ``reasoning_content`` unsigned."""
    blocks = [dict(b) for b in message.get("thinking_blocks") or () if isinstance(b, Mapping)]
    if blocks:
        return [_thinking_block(b) for b in blocks]
    reasoning = message.get("reasoning_content")
    return (
        [{"type": "thinking", "thinking": reasoning, "signature": ""}]
        if isinstance(reasoning, str) and reasoning
        else []
    )


def _thinking_block(block: Mapping[str, Any]) -> Block:
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": str(block.get("data") or "")}
    return {
        "type": "thinking",
        "thinking": str(block.get("thinking") or ""),
        "signature": str(block.get("signature") or ""),
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's ``arguments`` JSON string as an object; ``{}`` when empty or not a JSON object (§14.9)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str | bytes) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def openai_to_anthropic(completion: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic ``message`` for an OpenAI ``chat.completion`` dict; ``model`` is the name the client asked."""
    choices = completion.get("choices") or [{}]
    choice = mapping(choices[0])
    message = mapping(choice.get("message"))
    content: list[Block] = thinking_content(message)
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text") or "") for p in text if isinstance(p, Mapping))
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, Mapping)]
    for i, call in enumerate(calls):
        function = mapping(call.get("function"))
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{i}"),
                "name": str(function.get("name") or ""),
                "input": tool_input(function.get("arguments")),
            }
        )
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), tool_calls=bool(calls)),
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


# ------------------------------------------------------------------------------------------------ errors, count


def anthropic_error(error: TollwayError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and Anthropic error envelope for ``error`` (§5.9).

    The status is tollway's own (an overloaded upstream is 503, which the anthropic SDK retries like 529).
    """
    return error.status_code, anthropic_error_body(error)


def count_tokens(body: Any) -> dict[str, int]:
    """``{"input_tokens": N}`` for a ``/v1/messages/count_tokens`` body, counted on the translated request.

    The count is ``tollway.pricing.token_counter``'s: exact only where a tokenizer is available offline,
    otherwise its documented estimate.
    """
    request = anthropic_to_openai(body, require_max_tokens=False)
    tools = [t["function"] for t in request.get("tools") or ()]
    return {"input_tokens": token_counter(request["model"], messages=request["messages"], tools=tools or None)}
