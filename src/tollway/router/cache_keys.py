"""Exact-match cache keys and per-request cache controls (pure: no I/O, no clock).

A key is the SHA-256 of a canonical JSON (``orjson`` with sorted keys) of the model group and the request's
fields, so every deployment of a group shares entries (LiteLLM replaces the model name by the model group the same
way, LITELLM.md §1.8) and two requests that differ only in dict order share a key.

Which fields count:

- ``SEMANTIC_FIELDS`` are the fields known to change the answer; they are hashed, a few after normalisation
  (``None`` is the same as absent, ``temperature=0`` the same as ``0.0``, ``stop="x"`` the same as ``["x"]``).
- ``IGNORED_FIELDS`` (and any ``litellm_``-prefixed field) never change the answer: transport (``stream``,
  ``stream_options``, ``timeout``), identity and bookkeeping (``user``, ``metadata``, ``tags``), credentials and
  endpoints (``api_key``, ``api_base``), retries and fallbacks, cache controls, custom prices.
- Any other field is hashed as it is. A field tollway does not know may be a provider parameter that changes the
  answer (``safety_settings``, ``repetition_penalty``...); ignoring it could serve one request another's answer,
  hashing it at worst costs a miss. A cache may miss; it must never answer a different question.

Sampling does not matter: like LiteLLM, a request with ``temperature`` > 0 is cached too. Exact match means the
identical request gets the stored answer; ask for a fresh one with ``cache={"no-cache": True}``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tollway.errors import BadRequestError

__all__ = ["IGNORED_FIELDS", "SEMANTIC_FIELDS", "CacheControl", "cache_key", "should_cache"]

# Bumped when the canonical form changes, so old entries are missed rather than misread.
_KEY_VERSION = 1

SEMANTIC_FIELDS: frozenset[str] = frozenset(
    {
        # chat
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "response_format",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
        "thinking",
        "verbosity",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "extra_body",  # sent upstream as body fields, so it can change the answer
        # text completion, embeddings, rerank
        "prompt",
        "suffix",
        "echo",
        "best_of",
        "input",
        "dimensions",
        "encoding_format",
        "input_type",
        "query",
        "documents",
        "top_n",
        "return_documents",
    }
)

IGNORED_FIELDS: frozenset[str] = frozenset(
    {
        "model",  # replaced by the model group
        # transport
        "stream",
        "stream_options",
        "timeout",
        "request_timeout",
        "stream_timeout",
        "extra_headers",  # tracing ids travel here; a header that changes the answer belongs in extra_body
        "headers",
        # identity and bookkeeping
        "user",
        "metadata",
        "tags",
        "request_id",
        "trace_id",
        "priority",
        "service_tier",  # latency and price, not the answer
        "store",  # OpenAI's stored-completions flag: where the answer is kept, not what it is
        # credentials and endpoints (deployments of one group share entries)
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "organization",
        "custom_llm_provider",
        # retries, fallbacks, routing
        "num_retries",
        "max_retries",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "drop_params",
        "mock_response",  # never cached at all: see should_cache
        # cache controls
        "cache",
        "caching",
        # custom prices price the call; they do not change it
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "cache_creation_input_token_cost_above_1hr",
        "output_cost_per_reasoning_token",
        "input_cost_per_million_tokens",
        "output_cost_per_million_tokens",
        "base_model",
        "model_info",
    }
)

_FLOAT_FIELDS = frozenset({"temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty"})


def cache_key(model_group: str, request: Mapping[str, Any], *, namespace: str | None = None) -> str:
    """The cache key of ``request`` sent to ``model_group``: 64 hex digits, prefixed ``"{namespace}:"`` when given.

    Raises ``TypeError`` when a hashed field holds a value with no JSON form (the router then skips the cache for
    the request; see ``should_cache``).
    """
    fields = {name: _normalise(name, value) for name, value in request.items() if _hashed(name, value)}
    canonical = {"v": _KEY_VERSION, "model_group": model_group, "request": fields}
    try:
        payload = orjson.dumps(canonical, default=_json_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"request cannot be cached: {exc}") from exc
    digest = hashlib.sha256(payload).hexdigest()
    return f"{namespace}:{digest}" if namespace else digest


def should_cache(request: Mapping[str, Any]) -> bool:
    """Whether the response cache may serve or store this request at all (controls aside).

    Not for ``mock_response`` (a test answer must never be served to a real request). ``n`` > 1 is cached: ``n``
    is part of the key, so only another ``n`` = 2 request gets a stored pair, and replay streams every choice.
    A request whose hashed fields have no JSON form cannot be keyed, so it is not cached either.
    """
    if request.get("mock_response") is not None:
        return False
    try:
        cache_key("", request)
    except TypeError:
        return False
    return True


def _hashed(name: str, value: Any) -> bool:
    return value is not None and name not in IGNORED_FIELDS and not name.startswith("litellm_")


def _normalise(name: str, value: Any) -> Any:
    if name in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if name == "stop" and isinstance(value, str):
        return [value]
    return value


def _json_default(value: Any) -> Any:
    # Objects a caller may legitimately pass: tollway responses' messages, pydantic instances, and a pydantic
    # class as response_format (keyed by its JSON schema, so two classes with one name and different fields differ).
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    schema = getattr(value, "model_json_schema", None) if isinstance(value, type) else None
    if callable(schema):
        return {"pydantic_schema": schema(), "name": value.__qualname__}
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} has no JSON form")


_CONTROL_KEYS = ("no-cache", "no-store", "ttl", "s-maxage", "namespace")


@dataclass(frozen=True, slots=True)
class CacheControl:
    """One request's cache controls (LiteLLM's ``cache={...}``).

    ``no_cache``: do not read (the answer is fetched fresh, and stored unless ``no_store``); ``no_store``: do not
    write; ``ttl``: seconds to keep this answer (None: the store's default); ``s_maxage``: accept only an entry at
    most this many seconds old; ``namespace``: a key prefix isolating this caller's entries.
    """

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    s_maxage: float | None = None
    namespace: str | None = None

    @classmethod
    def parse(cls, value: object) -> CacheControl:
        """Read a request's ``cache`` value; ``BadRequestError`` (param ``cache``) naming the bad entry otherwise.

        ``None`` and ``True`` mean the defaults; ``False`` means neither read nor write (LiteLLM's
        ``caching=False``). Keys are LiteLLM's (``no-cache``, ``no-store``, ``ttl``, ``s-maxage``, ``namespace``);
        the underscore spellings (``no_cache``...) are accepted too, since they are valid Python keywords.
        """
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(no_cache=True, no_store=True)
        if not isinstance(value, Mapping):
            raise _bad(f"cache must be an object such as {{'no-cache': true}}, not {type(value).__name__}")
        entries: dict[str, object] = {}
        for raw_key, item in value.items():
            key = raw_key.replace("_", "-") if isinstance(raw_key, str) else raw_key
            if key not in _CONTROL_KEYS:
                raise _bad(f"unknown cache control {raw_key!r}; expected one of {', '.join(_CONTROL_KEYS)}")
            if key in entries:
                raise _bad(f"cache control {key!r} given twice")
            entries[key] = item
        return cls(
            no_cache=_flag(entries, "no-cache"),
            no_store=_flag(entries, "no-store"),
            ttl=_seconds(entries, "ttl", allow_zero=False),
            s_maxage=_seconds(entries, "s-maxage", allow_zero=True),
            namespace=_namespace(entries),
        )

    @property
    def may_read(self) -> bool:
        """Whether a stored answer may be served."""
        return not self.no_cache

    @property
    def may_store(self) -> bool:
        """Whether the answer may be stored."""
        return not self.no_store

    def fresh(self, stored_at: float, now: float) -> bool:
        """Whether an entry stored at ``stored_at`` is young enough for this request (``s-maxage``)."""
        return self.s_maxage is None or now - stored_at <= self.s_maxage


def _bad(message: str) -> BadRequestError:
    return BadRequestError(message, param="cache")


def _flag(entries: Mapping[str, object], key: str) -> bool:
    value = entries.get(key, False)
    if not isinstance(value, bool):
        raise _bad(f"cache control {key!r} must be true or false, not {value!r}")
    return value


def _seconds(entries: Mapping[str, object], key: str, *, allow_zero: bool) -> float | None:
    value = entries.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"cache control {key!r} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "more than 0"
        raise _bad(f"cache control {key!r} must be {bound} seconds, not {value!r}")
    return float(value)


def _namespace(entries: Mapping[str, object]) -> str | None:
    value = entries.get("namespace")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256 or any(c.isspace() for c in value):
        raise _bad(f"cache control 'namespace' must be a non-empty string without spaces, not {value!r}")
    return value
