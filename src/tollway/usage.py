"""Canonical token usage: one shape for every provider, with explicit subset semantics (pure).

Every adapter normalises its provider's usage into OpenAI's usage JSON (``prompt_tokens`` inclusive of cached
reads and cache writes, ``completion_tokens`` inclusive of reasoning; ../shared/PROVIDERS.md §13.2). This module
reads that JSON into ``TokenUsage``, the value pricing works on, so the "is it a subset or additive?" question is
answered once, here, rather than in every price formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenUsage"]


def _int(mapping: Mapping[str, Any] | None, key: str) -> int:
    if not mapping:
        return 0
    value = mapping.get(key)
    return value if isinstance(value, int) and value > 0 else 0


# Not frozen, read-only by convention (hashable by value as before): one is built on every request, and a frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1.3k instructions a field, callgrind).
@dataclass(slots=True, unsafe_hash=True)
class TokenUsage:
    """Token counts of one call.

    ``input_tokens`` counts every prompt token; ``cache_read_tokens`` and ``cache_write_tokens`` are parts of it
    (``cache_write_1h_tokens`` is the part of the writes cached for one hour). ``output_tokens`` counts every
    generated token; ``reasoning_tokens`` is part of it. ``audio_input_tokens``/``audio_output_tokens`` are the
    audio parts of input/output. ``web_search_requests`` counts server-side web searches, billed per search (Anthropic
    ``usage.server_tool_use.web_search_requests``; LiteLLM keeps the same key). ``estimated`` marks counts tollway
    computed itself because the provider reported none.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    web_search_requests: int = 0
    estimated: bool = False

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input price."""
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)

    @property
    def total_tokens(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None, *, estimated: bool = False) -> TokenUsage:
        """Read OpenAI-shaped usage JSON (as every adapter produces it)."""
        if not usage:
            return cls(estimated=estimated)
        prompt = usage.get("prompt_tokens_details") or {}
        completion = usage.get("completion_tokens_details") or {}
        server_tools = usage.get("server_tool_use") or {}
        # Positional, in field order (one per answer): input, output, cache read, cache write, 1h cache write,
        # reasoning, audio in, audio out, web searches.
        return cls(
            _int(usage, "prompt_tokens"),
            _int(usage, "completion_tokens"),
            _int(prompt, "cached_tokens"),
            _int(prompt, "cache_write_tokens"),
            _int(prompt, "cache_write_1h_tokens"),
            _int(completion, "reasoning_tokens"),
            _int(prompt, "audio_tokens"),
            _int(completion, "audio_tokens"),
            _int(server_tools, "web_search_requests"),
            estimated,
        )

    def to_openai(self) -> dict[str, Any]:
        """OpenAI usage JSON for these counts (``total_tokens`` recomputed)."""
        prompt_details: dict[str, int] = {"cached_tokens": self.cache_read_tokens}
        if self.cache_write_tokens:
            prompt_details["cache_write_tokens"] = self.cache_write_tokens
        if self.cache_write_1h_tokens:
            prompt_details["cache_write_1h_tokens"] = self.cache_write_1h_tokens
        if self.audio_input_tokens:
            prompt_details["audio_tokens"] = self.audio_input_tokens
        completion_details: dict[str, int] = {"reasoning_tokens": self.reasoning_tokens}
        if self.audio_output_tokens:
            completion_details["audio_tokens"] = self.audio_output_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": completion_details,
        }
        if self.web_search_requests:
            usage["server_tool_use"] = {"web_search_requests": self.web_search_requests}
        return usage
