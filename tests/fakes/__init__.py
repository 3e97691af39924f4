"""Loopback fake upstreams speaking the real provider wire formats (see README.md in this folder)."""

from .anthropic import AnthropicFake
from .base import SSE, FakeUpstream, RecordedRequest, Reply
from .openai import OpenAIFake

__all__ = ["SSE", "AnthropicFake", "FakeUpstream", "OpenAIFake", "RecordedRequest", "Reply"]
