"""What a provider case is: how to reach a provider's loopback fake through tollway, and what it supports.

One case per provider lives in ``tests/conformance/cases/<name>.py`` and defines ``CASES`` (a list of
``ProviderCase``). ``test_conformance.py`` runs every scenario over every case that supports it, so a new
adapter proves itself by adding a case file, and a scenario added here reaches every adapter.

Every fake follows the same conventions (see tests/fakes/README.md), which the scenarios rely on:
- the default answer is non-empty text with finish reason "stop" and usage counts;
- a tool call when ``tool_choice`` is "required"/a named function, or when it is "auto" and the last user message
  mentions tool names: one call per mentioned tool, in order of mention (parallel calls), arguments built from the
  schema's required properties and streamed in several fragments;
- ``max_tokens`` below the answer's length cuts it with finish reason "length";
- JSON text when ``response_format`` asks for JSON;
- ``Reply.error(...)``, ``Reply.stream_error(after=n)``, ``Reply.stream(truncate_after=n)`` script failures in the
  provider's own wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Scenario names a case may support.
FEATURES = frozenset(
    {
        "text",  # plain completion
        "system",  # system message + multi-turn history
        "tools",  # forced tool call, then the tool loop
        "parallel_tools",  # several tool calls in one turn, streamed with stable indexes
        "images",  # an image part (data: URL)
        "json",  # response_format json_object and json_schema
        "stream",  # streamed text equals the whole text; usage chunk on request
        "usage",  # prompt/completion/total counts, also when streamed
        "cached",  # a repeated long prompt reports cached tokens
        "reasoning",  # reasoning_effort gives reasoning tokens or reasoning text
        "length",  # max_tokens cut gives finish_reason "length"
        "errors",  # HTTP errors map to typed errors with retry_after
        "mid_stream_error",  # an error inside a stream reaches the caller typed
        "truncated",  # a stream ending before its terminator is an APIConnectionError
        "embeddings",
        "rerank",
    }
)


@dataclass(frozen=True)
class ProviderCase:
    """How the conformance scenarios reach one provider's fake."""

    name: str
    model: str
    fake: str  # the pytest fixture giving the fake upstream
    environ: Callable[[Any], dict[str, str]]  # the Client's environment, given the fake
    supports: frozenset[str]
    call_kwargs: Callable[[Any], dict[str, Any]] = field(default=lambda fake: {})
    stream_route: str | None = None  # the fake's route for streamed chat, when not its first route
    chat_route: str | None = None
    embedding_model: str | None = None
    embedding_route: str | None = None
    rerank_model: str | None = None
    rerank_route: str | None = None

    def __post_init__(self) -> None:
        unknown = self.supports - FEATURES
        if unknown:
            raise ValueError(f"case {self.name}: unknown features {sorted(unknown)}")
