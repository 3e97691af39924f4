"""Tollway: one OpenAI-format interface to every LLM provider.

``import tollway`` loads only this file, the version and the error classes; everything else (adapters, aiohttp,
orjson) is imported on first use, so importing stays in the low milliseconds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tollway._version import __version__
from tollway.errors import (
    AllAttemptsFailedError,
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    TollwayError,
    UnknownProviderError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

if TYPE_CHECKING:
    from tollway.api import acompletion, aembedding, arerank, completion, embedding, rerank
    from tollway.client import Client
    from tollway.pricing import (
        Cost,
        completion_cost,
        cost_per_token,
        get_model_info,
        supports_function_calling,
        supports_reasoning,
        supports_vision,
        token_counter,
    )
    from tollway.router import Router
    from tollway.stream_builder import stream_chunk_builder
    from tollway.streaming import AsyncCompletionStream, CompletionStream
    from tollway.transport import Timeouts
    from tollway.types import ChatCompletion, ChatCompletionChunk, EmbeddingResponse, RerankResponse
    from tollway.usage import TokenUsage

    provider_list: list[str]

__all__ = [
    "APIConnectionError",
    "APIError",
    "AllAttemptsFailedError",
    "AsyncCompletionStream",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BudgetExceededError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Client",
    "CompletionStream",
    "ConfigurationError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "Cost",
    "EmbeddingResponse",
    "InternalServerError",
    "MissingCredentialsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RerankResponse",
    "Router",
    "ServiceUnavailableError",
    "Timeout",
    "Timeouts",
    "TokenUsage",
    "TollwayError",
    "UnknownProviderError",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "__version__",
    "acompletion",
    "aembedding",
    "arerank",
    "completion",
    "completion_cost",
    "cost_per_token",
    "embedding",
    "get_model_info",
    "provider_list",
    "rerank",
    "stream_chunk_builder",
    "supports_function_calling",
    "supports_reasoning",
    "supports_vision",
    "token_counter",
]

# Where each lazily loaded public name lives.
_LAZY = {
    "acompletion": "tollway.api",
    "aembedding": "tollway.api",
    "completion": "tollway.api",
    "embedding": "tollway.api",
    "rerank": "tollway.api",
    "arerank": "tollway.api",
    "RerankResponse": "tollway.types",
    "Client": "tollway.client",
    "Router": "tollway.router",
    "stream_chunk_builder": "tollway.stream_builder",
    "AsyncCompletionStream": "tollway.streaming",
    "CompletionStream": "tollway.streaming",
    "Timeouts": "tollway.transport",
    "ChatCompletion": "tollway.types",
    "ChatCompletionChunk": "tollway.types",
    "EmbeddingResponse": "tollway.types",
    "TokenUsage": "tollway.usage",
    "Cost": "tollway.pricing",
    "completion_cost": "tollway.pricing",
    "cost_per_token": "tollway.pricing",
    "get_model_info": "tollway.pricing",
    "supports_vision": "tollway.pricing",
    "supports_function_calling": "tollway.pricing",
    "supports_reasoning": "tollway.pricing",
    "token_counter": "tollway.pricing",
}


def __getattr__(name: str) -> Any:
    if name == "provider_list":
        from tollway.registry import provider_list

        return provider_list()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tollway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
