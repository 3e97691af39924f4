"""OpenAI chat messages, tools and tool_choice -> Gemini ``contents`` shapes (pure).

Gemini has two roles, ``user`` and ``model`` (../shared/PROVIDERS.md §6.2): system and developer messages become
``systemInstruction``; tool results become ``functionResponse`` parts of one ``user`` content per turn (§14.7).
Consecutive contents of the same role are merged and empty ones dropped, because the API rejects empty ``parts``
(§14.10).

Gemini function calls carry no ids (§6.3, §14.8), so tollway makes them up (``tool_call_id``) and, since the
API matches results by name, maps each result back to its call's name through the ids seen in the history.
The ``thoughtSignature`` of a call (§6.2: required again on the next turn by Gemini 3) travels inside the id
after ``__thought__`` (LiteLLM's convention, which every OpenAI client round-trips without knowing) and also as
``provider_specific_fields.thought_signature`` on the tool call; either is accepted back.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollway.adapters.base import Endpoint, bad_request, tool_arguments
from tollway.adapters.gemini_schema import json_schema, openapi_schema
from tollway.messages import content_text, parse_data_url

__all__ = [
    "NATIVE_TOOL_KEYS",
    "THOUGHT_SEPARATOR",
    "Contents",
    "convert_messages",
    "convert_tool_choice",
    "convert_tools",
    "split_tool_call_id",
    "tool_call_id",
]

THOUGHT_SEPARATOR = "__thought__"
# Gemini's own tools (Tool message fields besides functionDeclarations), passed through as given: grounding,
# code execution, URL context... (ai.google.dev/api/caching#Tool). Snake_case spellings are accepted by the API.
NATIVE_TOOL_KEYS = frozenset(
    {
        "googleSearch",
        "google_search",
        "googleSearchRetrieval",
        "google_search_retrieval",
        "codeExecution",
        "code_execution",
        "urlContext",
        "url_context",
        "googleMaps",
        "google_maps",
        "fileSearch",
        "file_search",
        "computerUse",
        "computer_use",
    }
)

Part = dict[str, Any]


def tool_call_id(name: str, args_json: str, index: int, signature: str | None = None) -> str:
    """A deterministic OpenAI tool-call id for Gemini's ``index``-th call (same in streamed and whole answers)."""
    digest = hashlib.sha256(f"{index}:{name}:{args_json}".encode()).hexdigest()[:24]
    base = f"call_{digest}"
    return f"{base}{THOUGHT_SEPARATOR}{signature}" if signature else base


def split_tool_call_id(call_id: str) -> tuple[str, str | None]:
    """``(id without signature, thoughtSignature or None)`` for an id made by ``tool_call_id``."""
    base, sep, signature = call_id.partition(THOUGHT_SEPARATOR)
    return base, (signature or None) if sep else None


@dataclass(slots=True)
class Contents:
    """The ``systemInstruction`` (None when there is none) and the ``contents`` list."""

    system: dict[str, Any] | None
    contents: list[dict[str, Any]]


@dataclass(slots=True)
class _State:
    endpoint: Endpoint
    system: list[Part] = field(default_factory=list)
    contents: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # tool-call id (without signature) -> function name
    last_function: str | None = None


def convert_messages(messages: list[dict[str, Any]], endpoint: Endpoint) -> Contents:
    """Translate OpenAI ``messages``; ``BadRequestError`` names the message that cannot be translated."""
    state = _State(endpoint)
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            # §14.6: every system/developer message joins systemInstruction, in order.
            text = content_text(message.get("content"))
            if text:
                state.system.append({"text": text})
        elif role == "user":
            _append(state, "user", _parts(message.get("content"), where, endpoint))
        elif role == "assistant":
            _append(state, "model", _assistant_parts(message, where, state))
        elif role in ("tool", "function"):
            _append(state, "user", [_function_response(message, where, state)])
        else:
            raise bad_request(endpoint, f"{where}.role {role!r} cannot be sent to Gemini", f"{where}.role")
    system = {"parts": state.system} if state.system else None
    return Contents(system=system, contents=state.contents)


def _append(state: _State, role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if state.contents and state.contents[-1]["role"] == role:
        state.contents[-1]["parts"].extend(parts)
    else:
        state.contents.append({"role": role, "parts": parts})


def _parts(content: Any, where: str, endpoint: Endpoint) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Part] = []
    for j, item in enumerate(content):
        part = _part(item, f"{where}.content[{j}]", endpoint)
        if part is not None:
            parts.append(part)
    return parts


def _part(item: Mapping[str, Any], where: str, endpoint: Endpoint) -> Part | None:
    kind = item.get("type")
    if kind == "text":
        text = item.get("text")
        return {"text": text} if text else None
    if kind == "image_url":
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return _media(url, f"{where}.image_url.url", endpoint)
    if kind == "input_audio":
        audio = item.get("input_audio") or {}
        # §14.12: OpenAI gives base64 and a format ("wav" or "mp3"); Gemini wants a MIME type.
        return {"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}", "data": audio.get("data")}}
    if kind == "file":
        return _file(item.get("file") or {}, where, endpoint)
    raise bad_request(endpoint, f"{where} has content type {kind!r}, which Gemini cannot take", where)


def _media(url: Any, where: str, endpoint: Endpoint) -> Part:
    if not isinstance(url, str) or not url:
        raise bad_request(endpoint, f"{where} must be a URL", where)
    if url.startswith("data:"):
        data = parse_data_url(url, where)
        return {"inlineData": {"mimeType": data.media_type, "data": data.data}}
    # Files API URIs, YouTube and public http(s) URLs go by reference (fileData needs a MIME type, so it is
    # guessed from the URL's extension; the API rejects a reference whose type it cannot serve).
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "application/octet-stream"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _file(file: Mapping[str, Any], where: str, endpoint: Endpoint) -> Part:
    data = file.get("file_data")
    if isinstance(data, str) and data:
        parsed = parse_data_url(data, f"{where}.file.file_data")
        return {"inlineData": {"mimeType": parsed.media_type, "data": parsed.data}}
    file_id = file.get("file_id")
    if isinstance(file_id, str) and file_id:
        name = str(file.get("filename") or file_id)
        mime = str(file.get("format") or mimetypes.guess_type(name)[0] or "application/pdf")
        return {"fileData": {"mimeType": mime, "fileUri": file_id}}
    raise bad_request(endpoint, f"{where}.file needs file_data (a data: URL) or file_id", where)


def _assistant_parts(message: Mapping[str, Any], where: str, state: _State) -> list[Part]:
    parts = _parts(message.get("content"), where, state.endpoint)
    extra = message.get("provider_specific_fields")
    signature = extra.get("thought_signature") if isinstance(extra, Mapping) else None
    if parts and isinstance(signature, str) and "text" in parts[-1]:
        parts[-1]["thoughtSignature"] = signature  # §6.2: a text signature goes back on the part it came with
    for j, call in enumerate(message.get("tool_calls") or ()):
        parts.append(_function_call(call, f"{where}.tool_calls[{j}]", state))
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping):
        name = str(legacy.get("name") or "")
        state.last_function = name
        args = tool_arguments(legacy.get("arguments"), f"{where}.function_call", state.endpoint)
        parts.append({"functionCall": {"name": name, "args": args}})
    return parts


def _function_call(call: Mapping[str, Any], where: str, state: _State) -> Part:
    function = call.get("function") or {}
    name = str(function.get("name") or "")
    base, signature = split_tool_call_id(str(call.get("id") or ""))
    state.names[base] = name
    extra = call.get("provider_specific_fields")
    if isinstance(extra, Mapping) and isinstance(extra.get("thought_signature"), str):
        signature = extra["thought_signature"]
    part: Part = {
        "functionCall": {"name": name, "args": tool_arguments(function.get("arguments"), where, state.endpoint)}
    }
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(message: Mapping[str, Any], where: str, state: _State) -> Part:
    if message.get("role") == "function":
        name = message.get("name") or state.last_function
    else:
        base, _ = split_tool_call_id(str(message.get("tool_call_id") or ""))
        name = state.names.get(base) or message.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(state.endpoint, f"{where} answers no tool call of an earlier assistant message", where)
    return {"functionResponse": {"name": name, "response": _response_object(message.get("content"))}}


def _response_object(content: Any) -> dict[str, Any]:
    # §6.2: ``response`` must be an object; JSON objects go as they are, anything else is wrapped.
    text = content_text(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def convert_tools(
    tools: list[Any] | None, functions: list[Any] | None, endpoint: Endpoint, *, openapi: bool = False
) -> list[Part]:
    """Gemini ``tools``: one entry holding every function declaration (§6.2), then Gemini's own tools as given.

    ``openapi`` selects the ``parameters`` (OpenAPI subset) dialect instead of ``parametersJsonSchema``.
    """
    declarations: list[Part] = []
    native: list[Part] = []
    for tool in tools or ():
        if isinstance(tool, Mapping) and "function" in tool and tool.get("type", "function") == "function":
            declarations.append(_declaration(tool["function"], openapi))
        elif isinstance(tool, Mapping) and tool.keys() and tool.keys() <= NATIVE_TOOL_KEYS:
            native.append(dict(tool))
        else:
            raise bad_request(
                endpoint, f"tools entry {tool!r} is neither an OpenAI function nor a Gemini tool", "tools"
            )
    declarations.extend(_declaration(function, openapi) for function in functions or ())
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


def _declaration(function: Mapping[str, Any], openapi: bool) -> Part:
    declaration: Part = {"name": function.get("name")}
    if function.get("description"):
        declaration["description"] = function["description"]
    schema = function.get("parameters")
    # A function without parameters has no schema at all: an OBJECT without properties is rejected (§14.15).
    if isinstance(schema, Mapping) and (schema.get("properties") or schema.get("type") != "object"):
        if openapi:
            declaration["parameters"] = openapi_schema(schema)
        else:
            declaration["parametersJsonSchema"] = json_schema(schema)
    return declaration


def convert_tool_choice(choice: Any, endpoint: Endpoint) -> Part | None:
    """``toolConfig`` for OpenAI ``tool_choice`` or legacy ``function_call`` (None: not given)."""
    if choice is None:
        return None
    modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if isinstance(choice, Mapping):
        function = choice.get("function") if "function" in choice else choice  # legacy {"name": ...}
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str):
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise bad_request(endpoint, f"tool_choice {choice!r} has no Gemini equivalent", "tool_choice")
