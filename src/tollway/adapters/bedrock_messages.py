"""OpenAI chat messages, tools and tool_choice -> Bedrock Converse shapes (pure).

Converse (../shared/PROVIDERS.md §8.3) takes system text out of band, only ``user``/``assistant`` turns that
start with ``user`` and alternate, and content blocks with exactly one key each. So system and developer
messages become ``system`` blocks, tool results become ``toolResult`` blocks of one user turn (all results of a
turn together, §14.7), consecutive same-role turns are merged, and blank text is dropped (Bedrock answers blank
text with a ValidationException, §14.10). Images and documents travel as base64 bytes: Bedrock cannot fetch
http(s) URLs and an adapter does no I/O, so callers must pass ``data:`` URLs (§14.11).

``cache_control`` on a part, a message or a tool becomes a ``cachePoint`` block after it (Bedrock marks cache
breakpoints with separate blocks, §8.3); a ``"ttl"`` of ``"5m"``/``"1h"`` is kept. Signed thinking from an
earlier answer (``thinking_blocks``, in Anthropic's shape, as this adapter and the Anthropic adapter return
them) goes back as ``reasoningContent`` first in its assistant turn, unmodified (§14.5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollway.adapters.base import Endpoint, bad_request, require, tool_arguments
from tollway.messages import parse_data_url

__all__ = [
    "DOCUMENT_FORMATS",
    "IMAGE_FORMATS",
    "ConverseMessages",
    "convert_messages",
    "convert_tool_choice",
    "convert_tools",
]

Block = dict[str, Any]

# §8.3: image.format and document.format values, keyed by media type.
IMAGE_FORMATS: Mapping[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS: Mapping[str, str] = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}


@dataclass(slots=True)
class ConverseMessages:
    """The ``system`` blocks (empty when none) and the alternating ``messages``."""

    system: list[Block]
    messages: list[dict[str, Any]]


@dataclass(slots=True)
class _State:
    endpoint: Endpoint
    system: list[Block] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    documents: int = 0


def convert_messages(messages: list[dict[str, Any]], endpoint: Endpoint) -> ConverseMessages:
    """Translate OpenAI ``messages``; ``BadRequestError`` names the message that cannot be translated."""
    state = _State(endpoint)
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            state.system.extend(_content(message, where, state, text_only=True))
        elif role == "user":
            _append(state, "user", _content(message, where, state))
        elif role == "assistant":
            _append(state, "assistant", _assistant(message, where, state))
        elif role == "tool":
            _append(state, "user", _tool_result(message, where, state))
        else:
            raise bad_request(endpoint, f"{where}.role {role!r} cannot be sent to Bedrock", f"{where}.role")
    require(
        bool(state.turns),
        "the request has no user or assistant message (Bedrock needs at least one turn besides system)",
        endpoint,
        "messages",
    )
    if state.turns[0]["role"] != "user":
        # Converse rejects a conversation that starts with the assistant; a neutral user turn keeps it valid.
        state.turns.insert(0, {"role": "user", "content": [{"text": "."}]})
    return ConverseMessages(system=state.system, messages=state.turns)


def _append(state: _State, role: str, blocks: list[Block]) -> None:
    if not [b for b in blocks if "cachePoint" not in b]:
        return  # an empty turn is a ValidationException, and a lone cache point marks nothing
    if state.turns and state.turns[-1]["role"] == role:
        state.turns[-1]["content"].extend(blocks)
    else:
        state.turns.append({"role": role, "content": blocks})
    if role == "user":
        # Tool results lead their user turn, as for Anthropic models (the largest family on Converse).
        state.turns[-1]["content"].sort(key=lambda block: "toolResult" not in block)


def _cache_point(cache_control: Any) -> Block:
    point: Block = {"type": "default"}
    ttl = cache_control.get("ttl") if isinstance(cache_control, Mapping) else None
    if ttl in ("5m", "1h"):
        point["ttl"] = ttl
    return {"cachePoint": point}


def _content(message: Mapping[str, Any], where: str, state: _State, *, text_only: bool = False) -> list[Block]:
    content = message.get("content")
    blocks: list[Block] = []
    if isinstance(content, str):
        if content.strip():
            blocks.append({"text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            blocks.extend(_part(part, f"{where}.content[{j}]", state, text_only=text_only))
    if message.get("cache_control") is not None and blocks and "cachePoint" not in blocks[-1]:
        blocks.append(_cache_point(message["cache_control"]))
    return blocks


def _part(part: Mapping[str, Any], where: str, state: _State, *, text_only: bool) -> list[Block]:
    kind = part.get("type")
    endpoint = state.endpoint
    blocks: list[Block]
    if kind in ("text", "refusal"):
        text = part.get(kind)
        blocks = [{"text": text}] if isinstance(text, str) and text.strip() else []
    elif text_only:
        raise bad_request(endpoint, f"{where} has type {kind!r}; system messages take text only", where)
    elif kind == "image_url":
        blocks = [_image(part.get("image_url"), where, endpoint)]
    elif kind == "file":
        blocks = [_document(part.get("file"), where, state)]
    else:
        raise bad_request(endpoint, f"{where} has type {kind!r}, which Bedrock Converse cannot take", where)
    if blocks and part.get("cache_control") is not None:
        blocks.append(_cache_point(part["cache_control"]))
    return blocks


def _image(image: Any, where: str, endpoint: Endpoint) -> Block:
    url = image.get("url") if isinstance(image, Mapping) else image
    param = f"{where}.image_url.url"
    if not isinstance(url, str):
        raise bad_request(endpoint, f"{param} must be a string", param)
    if url.startswith(("https://", "http://")):
        raise bad_request(
            endpoint,
            f"{param} is a web URL; Bedrock takes image bytes only and tollway does not download images: "
            "pass a data:image/...;base64 URL instead",
            param,
        )
    data = parse_data_url(url, param)
    image_format = IMAGE_FORMATS.get(data.media_type)
    if image_format is None:
        raise bad_request(endpoint, f"{where} is {data.media_type}; Bedrock takes png, jpeg, gif or webp images", param)
    return {"image": {"format": image_format, "source": {"bytes": data.data}}}


def _document(file: Any, where: str, state: _State) -> Block:
    file_data = file.get("file_data") if isinstance(file, Mapping) else None
    if not isinstance(file_data, str):
        raise bad_request(state.endpoint, f"{where}.file needs file_data (a data: URL); file_id is OpenAI-only", where)
    data = parse_data_url(file_data, f"{where}.file.file_data")
    document_format = DOCUMENT_FORMATS.get(data.media_type)
    if document_format is None:
        formats = ", ".join(sorted(set(DOCUMENT_FORMATS.values())))
        raise bad_request(state.endpoint, f"{where} is {data.media_type}; Bedrock documents are {formats}", where)
    state.documents += 1
    # Bedrock requires a name, unique within the request, of letters, digits, spaces, hyphens, parentheses
    # and brackets; the caller's file name is not guaranteed to fit, so documents are numbered.
    name = f"document-{state.documents}"
    return {"document": {"format": document_format, "name": name, "source": {"bytes": data.data}}}


def _assistant(message: Mapping[str, Any], where: str, state: _State) -> list[Block]:
    reasoning = [_reasoning(b) for b in message.get("thinking_blocks") or () if isinstance(b, Mapping)]
    blocks = [b for b in reasoning if b is not None]
    blocks.extend(_content(message, where, state))
    for j, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        arguments = tool_arguments(function.get("arguments"), f"{where}.tool_calls[{j}]", state.endpoint)
        tool_use = {"toolUseId": call.get("id") or f"tooluse_{where}_{j}", "name": function.get("name")}
        blocks.append({"toolUse": {**tool_use, "input": arguments}})
    return blocks


def _reasoning(block: Mapping[str, Any]) -> Block | None:
    if block.get("type") == "thinking":
        text: Block = {"text": str(block.get("thinking") or "")}
        if block.get("signature"):
            text["signature"] = block["signature"]
        return {"reasoningContent": {"reasoningText": text}}
    if block.get("type") == "redacted_thinking" and block.get("data"):
        return {"reasoningContent": {"redactedContent": block["data"]}}
    return None


def _tool_result(message: Mapping[str, Any], where: str, state: _State) -> list[Block]:
    content = message.get("content")
    parts: list[Block] = []
    if isinstance(content, str):
        parts = [_json_or_text(content)]
    elif isinstance(content, list):
        parts = [b for b in _content({"content": content}, where, state) if "cachePoint" not in b]
    # Bedrock rejects an empty result; an empty string is still an answer the model should see.
    result = {"toolUseId": message.get("tool_call_id"), "content": parts or [{"text": "(empty)"}]}
    blocks: list[Block] = [{"toolResult": result}]
    if message.get("cache_control") is not None:
        blocks.append(_cache_point(message["cache_control"]))
    return blocks


def _json_or_text(content: str) -> Block:
    # A JSON object reaches the model as structured "json" content, as the Converse docs show for tool results.
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return {"json": value}
    return {"text": content if content.strip() else "(empty)"}


def convert_tools(tools: list[Any] | None, endpoint: Endpoint) -> list[Block]:
    """Converse ``toolConfig.tools`` for OpenAI function tools (``cache_control`` adds a cache point)."""
    converted: list[Block] = []
    for i, tool in enumerate(tools or ()):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or tool.get("type", "function") != "function":
            raise bad_request(
                endpoint, f"tools[{i}] is not a function tool; Bedrock Converse takes functions only", "tools"
            )
        schema = dict(function.get("parameters") or {"type": "object", "properties": {}})
        spec: Block = {"name": function.get("name"), "inputSchema": {"json": schema}}
        if function.get("description"):
            spec["description"] = function["description"]
        if isinstance(function.get("strict"), bool):
            spec["strict"] = function["strict"]
        converted.append({"toolSpec": spec})
        cache_control = tool.get("cache_control", function.get("cache_control"))
        if cache_control is not None:
            converted.append(_cache_point(cache_control))
    return converted


def convert_tool_choice(choice: Any, endpoint: Endpoint) -> Block | None:
    """Converse ``toolChoice`` for OpenAI ``tool_choice``; None for "none" or not given (§8.3: there is no
    "none", the caller leaves ``toolConfig`` out)."""
    if choice is None or choice == "none":
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str):
            return {"tool": {"name": name}}
    raise bad_request(endpoint, f"tool_choice {choice!r} has no Bedrock equivalent", "tool_choice")
