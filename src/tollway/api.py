"""Module-level functions (``tollway.completion`` and friends), LiteLLM's call shape, over a shared client.

The shared ``Client`` is created on first use and closed at interpreter exit; it reads provider keys from the
environment on every call, so changing ``os.environ`` takes effect at once. Create your own ``tollway.Client`` to
control retries, timeouts or the transport, or to keep pools apart.
"""

from __future__ import annotations

import atexit
import functools
from typing import Any

from tollway.client import Client
from tollway.streaming import AsyncCompletionStream, CompletionStream
from tollway.types import ChatCompletion, EmbeddingResponse, RerankResponse

__all__ = ["acompletion", "aembedding", "arerank", "completion", "default_client", "embedding", "rerank"]


@functools.cache
def default_client() -> Client:
    """The client behind the module-level functions."""
    client = Client()
    atexit.register(client.close)
    return client


def completion(model: str, messages: list[dict[str, Any]], **params: Any) -> ChatCompletion | CompletionStream:
    """A chat completion from any provider, in OpenAI's shape; ``stream=True`` gives an iterator of chunks.

    ``model`` is ``provider/model`` (``anthropic/claude-sonnet-4-5``) or a bare OpenAI model name. ``params`` are
    OpenAI's chat parameters plus tollway's: ``api_base``, ``api_key``, ``api_version``, ``timeout``,
    ``num_retries``, ``drop_params``, ``extra_headers``, ``extra_body``, ``mock_response``.
    """
    return default_client().completion(model, messages, **params)


async def acompletion(
    model: str, messages: list[dict[str, Any]], **params: Any
) -> ChatCompletion | AsyncCompletionStream:
    """Async ``completion``; ``stream=True`` gives an async iterator of chunks."""
    return await default_client().acompletion(model, messages, **params)


def embedding(model: str, input: Any, **params: Any) -> EmbeddingResponse:  # OpenAI's name
    """Embeddings in OpenAI's shape (``encoding_format="base64"`` supported)."""
    return default_client().embedding(model, input, **params)


async def aembedding(model: str, input: Any, **params: Any) -> EmbeddingResponse:
    """Async ``embedding``."""
    return await default_client().aembedding(model, input, **params)


def rerank(model: str, query: str, documents: list[Any], **params: Any) -> RerankResponse:
    """Order ``documents`` by relevance to ``query`` (``top_n``, ``return_documents``; Cohere's response shape)."""
    return default_client().rerank(model, query, documents, **params)


async def arerank(model: str, query: str, documents: list[Any], **params: Any) -> RerankResponse:
    """Async ``rerank``."""
    return await default_client().arerank(model, query, documents, **params)
