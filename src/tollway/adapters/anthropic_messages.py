"""OpenAI chat messages, tools and tool_choice -> Anthropic Messages shapes (pure).

Anthropic has no system or tool role (../shared/PROVIDERS.md §5.2): system and developer messages move to the
top-level ``system``; tool results become ``tool_result`` blocks of one user turn (§14.7). Every message becomes
a list of blocks so that consecutive same-role messages can be merged (the API would merge them anyway, but
tool results must lead their user turn, §5.3). Empty text blocks are dropped because the API rejects them (§5.2,
§14.10).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollway.adapters.base import Endpoint, bad_request, require, tool_arguments
from tollway.messages import parse_data_url

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "ConvertedMessages",
    "convert_messages",
    "convert_tool_choice",
    "convert_tools",
]

# §5.2: the only image types the API accepts.
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

Block = dict[str, Any]


@dataclass(slots=True)
class ConvertedMessages:
    """The ``system`` value (None when there is none) and the alternating ``messages`` list."""

    system: str | list[Block] | None
    messages: list[dict[str, Any]]


@dataclass(slots=True)
class _State:
    endpoint: Endpoint
    system: list[Block] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    last_function_call_id: str | None = None


def convert_messages(messages: list[dict[str, Any]], endpoint: Endpoint) -> ConvertedMessages:
    """Translate OpenAI ``messages``; ``BadRequestError`` names the message that cannot be translated."""
    state = _State(endpoint)
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            state.system.extend(_content_blocks(message, where, endpoint, text_only=True))
        elif role == "user":
            _append(state, "user", _content_blocks(message, where, endpoint))
        elif role == "assistant":
            _append(state, "assistant", _assistant_blocks(message, i, state))
        elif role in ("tool", "function"):
            _append(state, "user", [_tool_result(message, where, state)])
        else:
            raise bad_request(endpoint, f"{where}.role {role!r} cannot be sent to Anthropic", f"{where}.role")
    require(
        bool(state.turns),
        "the request has no user or assistant message (Anthropic needs at least one turn besides system)",
        endpoint,
        "messages",
    )
    _trim_prefill(state.turns)
    return ConvertedMessages(system=_system_value(state.system), messages=state.turns)


def _append(state: _State, role: str, blocks: list[Block]) -> None:
    if not blocks:
        return  # an empty message would be a 400; nothing in it could reach the model anyway
    if state.turns and state.turns[-1]["role"] == role:
        state.turns[-1]["content"].extend(blocks)
    else:
        state.turns.append({"role": role, "content": blocks})
    if role == "user":
        # All tool results of a turn must come before any other content of that user turn (§5.3).
        content = state.turns[-1]["content"]
        content.sort(key=lambda block: block.get("type") != "tool_result")


def _system_value(blocks: list[Block]) -> str | list[Block] | None:
    if not blocks:
        return None
    if any("cache_control" in block for block in blocks):
        return blocks  # a cache breakpoint needs the block form
    return "\n".join(block["text"] for block in blocks)


def _trim_prefill(turns: list[dict[str, Any]]) -> None:
    # A final assistant turn is a prefill, and the API rejects a prefill ending in whitespace (400
    # "final assistant content cannot end with trailing whitespace").
    last = turns[-1]
    if last["role"] != "assistant" or last["content"][-1].get("type") != "text":
        return
    block = last["content"][-1]
    block["text"] = block["text"].rstrip()
    if not block["text"]:
        last["content"].pop()
        if not last["content"]:
            turns.pop()


def _content_blocks(
    message: Mapping[str, Any], where: str, endpoint: Endpoint, *, text_only: bool = False
) -> list[Block]:
    content = message.get("content")
    blocks: list[Block] = []
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            block = _part(part, f"{where}.content[{j}]", endpoint, text_only=text_only)
            if block is not None:
                blocks.append(block)
    cache_control = message.get("cache_control")
    if cache_control is not None and blocks and "cache_control" not in blocks[-1]:
        # LiteLLM lets a message carry cache_control; the breakpoint belongs on its last block (§5.7).
        blocks[-1]["cache_control"] = cache_control
    return blocks


def _part(part: Mapping[str, Any], where: str, endpoint: Endpoint, *, text_only: bool) -> Block | None:
    kind = part.get("type")
    block: Block | None
    if kind in ("text", "refusal"):
        text = part.get(kind)
        block = {"type": "text", "text": text} if isinstance(text, str) and text else None
    elif text_only:
        raise bad_request(endpoint, f"{where} has type {kind!r}; system messages take text only", where)
    elif kind == "image_url":
        block = _image(part.get("image_url"), where, endpoint)
    elif kind == "file":
        block = _document(part.get("file"), where, endpoint)
    else:
        raise bad_request(endpoint, f"{where} has type {kind!r}, which Anthropic cannot take", where)
    if block is not None and part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _image(image: Any, where: str, endpoint: Endpoint) -> Block:
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str):
        raise bad_request(endpoint, f"{where}.image_url.url must be a string", f"{where}.image_url.url")
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    data = parse_data_url(url, f"{where}.image_url.url")
    if data.media_type not in IMAGE_MEDIA_TYPES:
        raise bad_request(
            endpoint,
            f"{where} is {data.media_type}; Anthropic takes image/jpeg, image/png, image/gif or image/webp",
            f"{where}.image_url.url",
        )
    return {"type": "image", "source": {"type": "base64", "media_type": data.media_type, "data": data.data}}


def _document(file: Any, where: str, endpoint: Endpoint) -> Block:
    file_data = file.get("file_data") if isinstance(file, Mapping) else None
    if not isinstance(file_data, str):
        # file_id refers to OpenAI's file store, which Anthropic cannot read.
        raise bad_request(endpoint, f"{where}.file needs file_data (a data: URL); file_id is OpenAI-only", where)
    data = parse_data_url(file_data, f"{where}.file.file_data")
    if data.media_type != "application/pdf":
        raise bad_request(endpoint, f"{where} is {data.media_type}; Anthropic documents must be PDF", where)
    source = {"type": "base64", "media_type": "application/pdf", "data": data.data}
    return {"type": "document", "source": source}


def _assistant_blocks(message: Mapping[str, Any], index: int, state: _State) -> list[Block]:
    where = f"messages[{index}]"
    # Thinking blocks go back first and unmodified: the API checks their signatures (§5.6, §14.5).
    blocks: list[Block] = [dict(b) for b in message.get("thinking_blocks") or () if isinstance(b, Mapping)]
    blocks.extend(_content_blocks(message, where, state.endpoint))
    for j, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{index}_{j}",
                "name": function.get("name"),
                "input": tool_arguments(function.get("arguments"), f"{where}.tool_calls[{j}]", state.endpoint),
            }
        )
    function_call = message.get("function_call")
    if isinstance(function_call, Mapping):
        # Legacy function calling has no ids; pair the call with the next "function" message by position.
        state.last_function_call_id = f"toolu_function_{index}"
        arguments = tool_arguments(function_call.get("arguments"), f"{where}.function_call", state.endpoint)
        name = function_call.get("name")
        blocks.append({"type": "tool_use", "id": state.last_function_call_id, "name": name, "input": arguments})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str, state: _State) -> Block:
    tool_use_id = message.get("tool_call_id") if message.get("role") == "tool" else state.last_function_call_id
    if not isinstance(tool_use_id, str):
        raise bad_request(state.endpoint, f"{where} answers no earlier function_call", where)
    block: Block = {"type": "tool_result", "tool_use_id": tool_use_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif isinstance(content, list):
        parts = _content_blocks({"content": content}, where, state.endpoint)
        if parts:
            block["content"] = parts
    if message.get("cache_control") is not None:
        block["cache_control"] = message["cache_control"]
    return block


def convert_tools(tools: list[Any] | None, functions: list[Any] | None) -> list[Block]:
    """Anthropic tool definitions for OpenAI ``tools`` (and legacy ``functions``).

    Entries that are not OpenAI function tools (Anthropic server tools such as ``web_search_20250305``) are
    passed through unchanged, as LiteLLM does.
    """
    converted: list[Block] = []
    for tool in tools or ():
        if isinstance(tool, Mapping) and tool.get("type", "function") == "function" and "function" in tool:
            converted.append(_tool(tool["function"], tool.get("cache_control")))
        else:
            converted.append(dict(tool))
    converted.extend(_tool(function, None) for function in functions or ())
    return converted


def _tool(function: Mapping[str, Any], cache_control: Any) -> Block:
    schema = dict(function.get("parameters") or {"type": "object", "properties": {}})
    schema.setdefault("type", "object")  # §5.3: input_schema.type must be "object"
    tool: Block = {"name": function.get("name"), "input_schema": schema}
    if function.get("description"):
        tool["description"] = function["description"]
    if isinstance(function.get("strict"), bool):
        tool["strict"] = function["strict"]
    cache_control = cache_control if cache_control is not None else function.get("cache_control")
    if cache_control is not None:
        tool["cache_control"] = cache_control
    return tool


def convert_tool_choice(choice: Any, endpoint: Endpoint) -> Block | None:
    """Anthropic ``tool_choice`` for OpenAI ``tool_choice`` or legacy ``function_call`` (None: not given)."""
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, Mapping):
        function = choice.get("function") if "function" in choice else choice  # legacy {"name": ...}
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str):
            return {"type": "tool", "name": name}
    raise bad_request(endpoint, f"tool_choice {choice!r} has no Anthropic equivalent", "tool_choice")
