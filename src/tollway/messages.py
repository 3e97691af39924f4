"""Checks every OpenAI chat request must pass before any adapter sees it, and shared content helpers (pure).

The checks are shallow on purpose (the gateway runs them on every request): the message list is a non-empty list
of objects with a known role, content of an allowed type, and tool calls shaped as OpenAI documents. Deeper rules
belong to the provider, which answers with its own 400.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tollway.errors import BadRequestError

__all__ = ["DataUrl", "content_text", "parse_data_url", "validate_chat_request"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _bad(message: str, param: str) -> BadRequestError:
    return BadRequestError(message, param=param)


def validate_chat_request(request: dict[str, Any]) -> None:
    """Raise ``BadRequestError`` naming the offending field when the request is malformed."""
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", "model")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list of message objects", "messages")
    for i, message in enumerate(messages):
        _validate_message(message, f"messages[{i}]")
    stream = request.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")
    if request.get("stream_options") is not None and not stream:
        raise _bad("'stream_options' is only allowed when 'stream' is true", "stream_options")


def _validate_message(message: Any, where: str) -> None:
    if not isinstance(message, dict):
        raise _bad(f"{where} must be an object with 'role' and 'content'", where)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:  # a list or dict role is unhashable: check the type first
        raise _bad(f"{where}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}", f"{where}.role")
    content = message.get("content")
    if content is None:
        if role != "assistant" or not _has_calls(message):
            raise _bad(
                f"{where}.content is required (null only on an assistant message with tool calls)", f"{where}.content"
            )
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise _bad(f"{where}.content[{j}] must be an object with a 'type'", f"{where}.content[{j}]")
    elif not isinstance(content, str):
        raise _bad(f"{where}.content must be a string, a list of parts or null", f"{where}.content")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _bad(f"{where}.tool_call_id is required for role 'tool'", f"{where}.tool_call_id")
    calls = message.get("tool_calls")
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list):
            raise _bad(f"{where}.tool_calls must be a list on an assistant message", f"{where}.tool_calls")
        for j, call in enumerate(calls):
            _validate_tool_call(call, f"{where}.tool_calls[{j}]")


def _has_calls(message: dict[str, Any]) -> bool:
    return bool(message.get("tool_calls") or message.get("function_call"))


def _validate_tool_call(call: Any, where: str) -> None:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _bad(f"{where} must be {{'id', 'type': 'function', 'function': {{'name', 'arguments'}}}}", where)
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        raise _bad(f"{where}.function.arguments must be a JSON string", f"{where}.function.arguments")


def content_text(content: str | Sequence[Any] | None) -> str:
    """The text of a message's content: the string itself, or its text parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(
        str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
    )


@dataclass(frozen=True, slots=True)
class DataUrl:
    """A decoded ``data:<media type>;base64,<data>`` URL (``data`` stays base64 text)."""

    media_type: str
    data: str


def parse_data_url(url: str, param: str = "image_url.url") -> DataUrl:
    """Split a base64 data URL; ``BadRequestError`` if it is not one or its payload is not base64."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise _bad(f"{param} must be an https URL or a data:<type>;base64,<data> URL", param)
    media_type = head[5:-7].split(";")[0].strip().lower()
    try:
        base64.b64decode(data[:64].ljust(((min(len(data), 64) + 3) // 4) * 4, "="), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{param} has a payload that is not base64", param) from None
    return DataUrl(media_type=media_type or "application/octet-stream", data=data)
