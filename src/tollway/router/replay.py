"""Streamed replay of a cached answer, and how a cache hit is marked (pure).

A cached ``chat.completion`` is turned into the ``chat.completion.chunk`` sequence an OpenAI stream of it would have
been, so a streaming caller gets a stream on a hit. Per choice: a role chunk, reasoning (``reasoning_content`` in
pieces, ``thinking_blocks`` in one chunk), content and refusal in pieces, each tool call as OpenAI streams it (its
``index``, ``id`` and name first, then its arguments in pieces, one call after another), and a finish chunk carrying
``finish_reason`` and the choice's logprobs; then, when ``stream_options.include_usage`` was asked, the usage chunk
with no choices. ``tollway.stream_chunk_builder`` rebuilds the cached message from them, tool calls kept apart by
index (LiteLLM merged parallel calls when rebuilding, #7621 / #10034).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["CACHE_HIT_FIELD", "chunks_from_completion", "mark_cache_hit"]

# The top-level field marking a cache hit. OpenAI's SDKs keep unknown fields (openai-python models allow extras), so
# the JSON stays valid; a vendor-named object cannot collide with a field OpenAI adds later.
CACHE_HIT_FIELD = "tollway"

_HEAD_FIELDS = ("id", "created", "model", "system_fingerprint", "service_tier", CACHE_HIT_FIELD)


def mark_cache_hit(completion: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``completion`` marked as served from the cache: ``"tollway": {"cache_hit": true}``.

    The id, ``created`` and usage are the cached answer's (usage is what the answer took to produce; the router
    prices the hit at zero in ``meta``). The input is not modified: it may be shared with other hits.
    """
    marked = copy.deepcopy(dict(completion))
    extension = marked.get(CACHE_HIT_FIELD)
    marked[CACHE_HIT_FIELD] = {**(extension if isinstance(extension, dict) else {}), "cache_hit": True}
    return marked


def chunks_from_completion(
    completion: Mapping[str, Any], *, include_usage: bool, piece_chars: int = 32
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` dicts replaying ``completion`` (see the module docstring for their order).

    ``piece_chars`` is the length of each content, reasoning and argument piece. With ``include_usage``, every
    chunk carries ``"usage": null`` and a final chunk the usage, as OpenAI sends them (no usage chunk when the
    cached answer has no usage). ``ValueError`` when ``completion`` has no ``choices`` list.
    """
    if piece_chars < 1:
        raise ValueError("piece_chars must be at least 1")
    choices = completion.get("choices")
    if not isinstance(choices, list):
        raise ValueError("a cached chat completion needs a 'choices' list")
    head: dict[str, Any] = {"object": "chat.completion.chunk"}
    head.update({k: copy.deepcopy(completion[k]) for k in _HEAD_FIELDS if completion.get(k) is not None})
    if include_usage:
        head["usage"] = None
    chunks: list[dict[str, Any]] = []
    for position, choice in enumerate(choices):
        index = int(choice.get("index", position))
        for delta, extra in _choice_deltas(choice, piece_chars):
            chunks.append({**head, "choices": [{"index": index, "delta": delta, "logprobs": None, **extra}]})
    usage = completion.get("usage")
    if include_usage and usage is not None:
        chunks.append({**head, "choices": [], "usage": copy.deepcopy(usage)})
    return chunks


def _choice_deltas(choice: Mapping[str, Any], piece_chars: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    # Yields (delta, other choice fields); finish_reason is null until the last chunk, as OpenAI sends it.
    message: Mapping[str, Any] = choice.get("message") or {}
    pending = {"finish_reason": None}
    content = message.get("content")
    yield {"role": message.get("role") or "assistant", "content": "" if content else None}, pending
    for piece in _pieces(message.get("reasoning_content"), piece_chars):
        yield {"reasoning_content": piece}, pending
    if message.get("thinking_blocks"):
        yield {"thinking_blocks": copy.deepcopy(message["thinking_blocks"])}, pending
    for piece in _pieces(content if isinstance(content, str) else _text_of(content), piece_chars):
        yield {"content": piece}, pending
    for piece in _pieces(message.get("refusal"), piece_chars):
        yield {"refusal": piece}, pending
    for position, call in enumerate(message.get("tool_calls") or ()):
        yield from _tool_call_deltas(position, call, piece_chars, pending)
    finish: dict[str, Any] = {"finish_reason": choice.get("finish_reason") or "stop"}
    if choice.get("logprobs") is not None:
        finish["logprobs"] = copy.deepcopy(choice["logprobs"])
    yield {}, finish


def _tool_call_deltas(
    index: int, call: Mapping[str, Any], piece_chars: int, pending: dict[str, Any]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    function: Mapping[str, Any] = call.get("function") or {}
    opening = {
        "index": index,
        "id": call.get("id"),
        "type": call.get("type") or "function",
        "function": {"name": function.get("name") or "", "arguments": ""},
    }
    yield {"tool_calls": [opening]}, pending
    for piece in _pieces(function.get("arguments"), piece_chars):
        yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, pending


def _pieces(text: str | None, size: int) -> Iterator[str]:
    if text:
        for start in range(0, len(text), size):
            yield text[start : start + size]


def _text_of(content: Any) -> str | None:
    # A cached message's content is a string in chat completions; a list of text parts is joined, since a stream
    # delta carries text only.
    if not isinstance(content, list):
        return None
    return "".join(part.get("text", "") for part in content if isinstance(part, dict)) or None
