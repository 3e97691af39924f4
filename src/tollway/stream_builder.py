"""Rebuild a whole chat completion from its streamed chunks (pure).

Each choice is assembled separately (chunks of ``n`` > 1 interleave), and tool calls are joined by their
``index`` within the choice, so parallel calls never merge (a LiteLLM bug, #7621 and #10034).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tollway.types import ChatCompletion, ChatCompletionChunk, OpenAIObject
from tollway.usage import TokenUsage

__all__ = ["stream_chunk_builder"]


class _ChoiceParts:
    __slots__ = ("content", "finish_reason", "logprobs", "reasoning", "refusal", "role", "thinking", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.thinking: list[dict[str, Any]] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.logprobs: list[Any] = []

    def add(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        self.role = delta.get("role") or self.role
        for key, parts in (("content", self.content), ("reasoning_content", self.reasoning), ("refusal", self.refusal)):
            if delta.get(key):
                parts.append(delta[key])
        self.thinking.extend(delta.get("thinking_blocks") or ())
        for call in delta.get("tool_calls") or ():
            self._add_tool(call)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        logprobs = choice.get("logprobs")
        if logprobs and logprobs.get("content"):
            self.logprobs.extend(logprobs["content"])

    def _add_tool(self, call: dict[str, Any]) -> None:
        index = int(call.get("index", len(self.tools)))
        entry = self.tools.setdefault(index, {"id": None, "type": "function", "name": "", "arguments": []})
        entry["id"] = call.get("id") or entry["id"]
        function = call.get("function") or {}
        if function.get("name"):
            entry["name"] = function["name"]
        if function.get("arguments"):
            entry["arguments"].append(function["arguments"])

    def build(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content) if self.content else None}
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tools:
            message["tool_calls"] = [
                {
                    "id": t["id"],
                    "type": t["type"],
                    "function": {"name": t["name"], "arguments": "".join(t["arguments"])},
                }
                for _, t in sorted(self.tools.items())
            ]
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.thinking:
            message["thinking_blocks"] = self.thinking
        logprobs = {"content": self.logprobs} if self.logprobs else None
        return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": self.finish_reason or "stop"}


def stream_chunk_builder(chunks: Iterable[ChatCompletionChunk | dict[str, Any]]) -> ChatCompletion:
    """A ``ChatCompletion`` equal to what the non-streamed call would have returned (usage included when the
    stream carried it)."""
    head: dict[str, Any] = {}
    choices: dict[int, _ChoiceParts] = {}
    usage: dict[str, Any] | None = None
    meta = None
    for item in chunks:
        chunk = item._data if isinstance(item, OpenAIObject) else item
        if isinstance(item, ChatCompletionChunk):
            meta = item.meta or meta
        if not head and chunk.get("id"):
            head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        for choice in chunk.get("choices") or ():
            choices.setdefault(int(choice.get("index", 0)), _ChoiceParts()).add(choice)
        if chunk.get("usage"):
            usage = chunk["usage"]
    data: dict[str, Any] = {
        "id": head.get("id") or "",
        "object": "chat.completion",
        "created": head.get("created") or 0,
        "model": head.get("model") or "",
        "choices": [parts.build(index) for index, parts in sorted(choices.items())],
    }
    if head.get("system_fingerprint"):
        data["system_fingerprint"] = head["system_fingerprint"]
    if usage is not None:
        data["usage"] = usage
    if meta is not None and usage is not None:
        meta.usage = TokenUsage.from_openai(usage)
    return ChatCompletion(data, meta)
