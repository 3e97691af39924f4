"""Bedrock facts shared by request building, response parsing and stream decoding (pure data + lookups).

The stop-reason, usage and exception vocabularies (../shared/PROVIDERS.md §8.4, §8.5, §8.7, §13.1, §13.2) live
here because the non-streamed parser and the stream decoder must agree on them exactly; the embedding request
bodies per model family (Titan, Cohere) too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollway.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    TollwayError,
    error_for_status,
)

if TYPE_CHECKING:
    from tollway.adapters.base import Endpoint

__all__ = [
    "EXCEPTIONS",
    "STOP_REASONS",
    "embedding_bodies",
    "error_from_exception",
    "exception_name",
    "finish_reason",
    "openai_usage",
]

# §13.1. malformed_* answers are errors of the model's making; to an OpenAI client they still end the turn.
STOP_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}

# §8.7: exception name -> (HTTP status it comes with, tollway class). Credential problems come as 403
# UnrecognizedClientException / InvalidSignatureException / ExpiredTokenException (AWS common errors): they are
# authentication failures, not missing permissions.
EXCEPTIONS: Mapping[str, tuple[int, type[TollwayError]]] = {
    "ValidationException": (400, BadRequestError),
    "ServiceQuotaExceededException": (400, RateLimitError),
    "AccessDeniedException": (403, PermissionDeniedError),
    "UnrecognizedClientException": (403, AuthenticationError),
    "InvalidSignatureException": (403, AuthenticationError),
    "ExpiredTokenException": (403, AuthenticationError),
    "IncompleteSignatureException": (403, AuthenticationError),
    "MissingAuthenticationTokenException": (403, AuthenticationError),
    "ResourceNotFoundException": (404, NotFoundError),
    "ModelTimeoutException": (408, Timeout),
    "ModelErrorException": (424, InternalServerError),
    "ModelStreamErrorException": (424, InternalServerError),
    "ThrottlingException": (429, RateLimitError),
    "ModelNotReadyException": (429, ServiceUnavailableError),
    "InternalServerException": (500, InternalServerError),
    "ServiceUnavailableException": (503, ServiceUnavailableError),
}

# ValidationException texts for an overlong prompt: "Input is too long for requested model.", "The model's
# context window was exceeded", "prompt is too long: 210000 tokens > 200000 maximum" (Anthropic models),
# "too many input tokens" (Llama/Mistral families).
_CONTEXT_MESSAGE = re.compile(
    r"input is too long|too many (?:input )?tokens|prompt is too long|context (?:window|length|limit)"
    r"|exceeds? (?:the )?(?:model'?s? )?(?:maximum )?(?:context|input)",
    re.IGNORECASE,
)


def finish_reason(stop_reason: Any) -> str:
    """OpenAI ``finish_reason`` for a Converse ``stopReason`` (unknown values read as ``stop``)."""
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def openai_usage(usage: Any) -> dict[str, Any]:
    """OpenAI usage JSON for Converse ``usage`` (§13.2).

    ``inputTokens`` excludes cache reads and writes (§8.4), OpenAI's ``prompt_tokens`` includes them, so the
    prompt total is the sum of the three; writes are ``prompt_tokens_details.cache_write_tokens``.
    """
    usage = usage if isinstance(usage, Mapping) else {}
    cache_read = _count(usage, "cacheReadInputTokens")
    cache_write = _count(usage, "cacheWriteInputTokens")
    prompt = _count(usage, "inputTokens") + cache_read + cache_write
    completion = _count(usage, "outputTokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def exception_name(raw: Any) -> str | None:
    """``ThrottlingException`` from ``ThrottlingException:http://internal...`` (the header, §8.7),
    ``com.amazon.coral#ThrottlingException`` (``__type``) or ``throttlingException`` (a stream frame)."""
    if not isinstance(raw, str) or not raw:
        return None
    name = raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()
    return name[:1].upper() + name[1:] if name else None


def error_from_exception(
    name: str | None,
    message: str,
    endpoint: Endpoint,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    retry_after: float | None = None,
    original_status: Any = None,
) -> TollwayError:
    """The typed error for a Bedrock exception; ``status`` is None for an exception frame inside a stream.

    ``original_status`` is ModelStreamErrorException's ``originalStatusCode``: the model's own failure status
    (a 429 from the model is a rate limit whatever wraps it).
    """
    known = EXCEPTIONS.get(name or "")
    kwargs: dict[str, Any] = {
        "provider": endpoint.provider,
        "model": endpoint.model,
        "retry_after": retry_after,
        "body": body,
        "headers": headers,
        "code": name,
        "upstream_status": status,
    }
    effective = status or (known[0] if known else 500)
    if isinstance(original_status, int) and 400 <= original_status < 600:
        return error_for_status(original_status, message, **kwargs)
    if known is None:
        return error_for_status(effective, message, **kwargs)
    cls = known[1]
    if cls is BadRequestError and _CONTEXT_MESSAGE.search(message):
        cls = ContextWindowExceededError
    error = cls(message, **kwargs)
    if name == "ServiceQuotaExceededException":
        error.retryable = False  # an account quota: waiting seconds does not help, a fallback does
    return error


def _texts(value: Any, endpoint: Endpoint) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise BadRequestError(
            "input must be a non-empty string or list of non-empty strings (Bedrock embeds text, not token ids)",
            provider=endpoint.provider,
            model=endpoint.model,
            param="input",
        )
    return texts


def embedding_bodies(params: Mapping[str, Any], endpoint: Endpoint) -> list[dict[str, Any]]:
    """InvokeModel bodies for an embeddings request, by model family.

    Titan Text Embeddings (``amazon.titan-embed-text-v1/v2``) takes one ``inputText`` per call; v2 also
    ``dimensions`` (256/512/1024) and ``normalize``. Cohere Embed (``cohere.embed-*``) takes a batch of
    ``texts`` with a required ``input_type`` (default ``search_document``, the Cohere SDK's documents value).
    """
    texts = _texts(params.get("input"), endpoint)
    encoding = params.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequestError(
            f"encoding_format {encoding!r}: bedrock embeddings are float (or base64 of float32)",
            provider=endpoint.provider,
            model=endpoint.model,
            param="encoding_format",
        )
    model = endpoint.model
    if "cohere.embed" in model:
        body: dict[str, Any] = {"texts": texts, "input_type": params.get("input_type", "search_document")}
        if "truncate" in params:
            body["truncate"] = params["truncate"]
        if "dimensions" in params:
            body["output_dimension"] = params["dimensions"]  # Embed v4; v3 answers a ValidationException
        return [body]
    if "amazon.titan-embed" in model:
        extra = {k: params[k] for k in ("dimensions", "normalize") if k in params}
        return [{"inputText": text, **extra} for text in texts]
    raise BadRequestError(
        f"{model} is not an embedding model tollway knows on Bedrock (amazon.titan-embed-text-*, cohere.embed-*)",
        provider=endpoint.provider,
        model=model,
        param="model",
    )
