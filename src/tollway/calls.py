"""Planning one call: which provider, which adapter, which endpoint, with which options (reads the environment).

``plan_call`` turns ``(model, **params)`` as a caller wrote it into a ``Call``: the provider's spec and adapter,
the OpenAI-shaped request (only the parameters meant for the model), and the ``Endpoint`` (base URL, key, headers,
provider options). Credentials that need I/O beyond the environment (cloud tokens) are completed later by the
provider's resolver, in the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tollway.adapters.base import Adapter, Endpoint
from tollway.errors import BadRequestError, MissingCredentialsError
from tollway.pricing.overrides import PriceOverride, parse_overrides
from tollway.registry import load_adapter, resolve_model
from tollway.retry import RetryPolicy
from tollway.spec import ProviderSpec
from tollway.transport import Timeouts

__all__ = ["Call", "CallOptions", "ClientSettings", "plan_call", "split_params"]

# Parameters that configure tollway rather than the model call; never forwarded upstream as such.
# LiteLLM's spellings are accepted beside ours so code migrates by changing the import.
_OPTION_ALIASES: Mapping[str, str] = {
    "api_base": "api_base",
    "base_url": "api_base",
    "api_key": "api_key",
    "api_version": "api_version",
    "timeout": "timeout",
    "request_timeout": "timeout",
    "num_retries": "num_retries",
    "max_retries": "num_retries",
    "drop_params": "drop_params",
    "extra_headers": "extra_headers",
    "headers": "extra_headers",
    "extra_body": "extra_body",
    "mock_response": "mock_response",
    "custom_llm_provider": "custom_llm_provider",
    "metadata": "metadata",
}

# Per-call custom prices (LiteLLM's names, also accepted per million tokens) and ``base_model``: they price the call
# (tollway.pricing.overrides documents each) and are never sent upstream. ``model_info`` may carry them too.
_PRICE_OPTIONS = frozenset(
    {
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "cache_creation_input_token_cost_above_1hr",
        "output_cost_per_reasoning_token",
        "input_cost_per_million_tokens",
        "output_cost_per_million_tokens",
        "base_model",
    }
)


@dataclass(slots=True)
class CallOptions:
    """Tollway's own parameters of one call (see the SDK contract in ARCHITECTURE.md)."""

    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    timeout: float | Timeouts | None = None
    num_retries: int | None = None
    drop_params: bool | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    mock_response: Any = None
    custom_llm_provider: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    provider_params: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """A client's defaults, applied where a call does not say otherwise."""

    retry: RetryPolicy
    timeouts: Timeouts
    drop_params: bool
    environ: Mapping[str, str]


# Not frozen, read-only by convention (hashable by value as before): one is built on every request, and a frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1.3k instructions a field, callgrind).
@dataclass(slots=True, unsafe_hash=True)
class Call:
    """Everything one call needs: decided once, before the first attempt."""

    spec: ProviderSpec
    adapter: Adapter
    endpoint: Endpoint
    request: dict[str, Any]
    timeouts: Timeouts
    retry: RetryPolicy
    mock: bool
    at: datetime  # when the call was made: prices are those in force at this time
    prices: PriceOverride | None = None


def split_params(
    params: Mapping[str, Any], provider_options: tuple[str, ...] = ()
) -> tuple[dict[str, Any], CallOptions]:
    """Separate the request's model parameters from tollway's options and the provider's options."""
    request: dict[str, Any] = {}
    options = CallOptions()
    for key, value in params.items():
        option = _OPTION_ALIASES.get(key)
        if option is not None:
            if value is not None:
                setattr(options, option, value)
        elif key in _PRICE_OPTIONS:
            if value is not None:
                options.prices[key] = value
        elif key == "model_info":
            if isinstance(value, Mapping):
                options.prices.update(value)
        elif key in provider_options:
            if value is not None:
                options.provider_params[key] = value
        else:
            request[key] = value
    if "fallbacks" in request:
        raise BadRequestError(
            "'fallbacks' needs a router: tollway.Router(model_list=[...]).completion(model, messages, fallbacks=[...])",
            param="fallbacks",
        )
    return request, options


# Endpoints kept per EndpointCache: a gateway calls a handful of deployments, each with the same key and base URL.
_MAX_CACHED_ENDPOINTS = 256

# A client's cache of built endpoints (see ``plan_call``): key → endpoint.
EndpointCache = dict[tuple[str, str, str, str, str | None, bool], Endpoint]


def plan_call(
    model: str,
    params: Mapping[str, Any],
    fields: Mapping[str, Any],
    settings: ClientSettings,
    endpoints: EndpointCache | None = None,
) -> Call:
    """Resolve ``model`` and ``params`` into a ``Call``; ``fields`` are the operation's own request fields
    (``messages``, ``input``, ``query``...), already checked by the caller. ``endpoints`` keeps endpoints built
    from explicit ``api_key`` and ``api_base`` for reuse by later calls (a router's deployments)."""
    if not isinstance(model, str) or not model:
        raise BadRequestError("'model' is required and must be a non-empty string", param="model")
    spec, upstream_model = resolve_model(model, params.get("custom_llm_provider"))
    request, options = split_params(params, spec.options)
    request["model"] = model
    request.update(fields)
    mock = options.mock_response is not None
    if mock:
        # Any model can be mocked; the answer keeps the requested model's name.
        spec = resolve_model("mock/" + upstream_model)[0]
        request["mock_response"] = options.mock_response
    endpoint = _cached_endpoint(spec, upstream_model, options, settings, endpoints)
    retry = settings.retry if options.num_retries is None else RetryPolicy(num_retries=options.num_retries)
    timeouts = settings.timeouts if options.timeout is None else Timeouts.of(options.timeout)
    try:
        prices = parse_overrides(options.prices) if options.prices else None
    except ValueError as exc:
        raise BadRequestError(f"invalid custom price: {exc}", param="model_info") from None
    adapter = load_adapter(spec.adapter)
    return Call(spec, adapter, endpoint, request, timeouts, retry, mock or spec.offline, datetime.now(UTC), prices)


def first_env(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """The first non-empty value among ``names``."""
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def _cached_endpoint(
    spec: ProviderSpec,
    model: str,
    options: CallOptions,
    settings: ClientSettings,
    endpoints: EndpointCache | None,
) -> Endpoint:
    """``_endpoint``, reused when the call names its key and base URL and nothing else per call: such an endpoint
    depends on the call's options alone (no environment read), and every field of it is read-only."""
    api_key, api_base = options.api_key, options.api_base
    if (
        endpoints is None
        or not api_key
        or not api_base
        or options.extra_headers
        or options.extra_body
        or options.provider_params
    ):
        return _endpoint(spec, model, options, settings)
    drop = settings.drop_params if options.drop_params is None else options.drop_params
    key = (spec.name, model, api_base, api_key, options.api_version, bool(drop))
    endpoint = endpoints.get(key)
    if endpoint is None or endpoint.quirks is not spec.quirks:
        if len(endpoints) >= _MAX_CACHED_ENDPOINTS:
            endpoints.clear()
        endpoint = endpoints[key] = _endpoint(spec, model, options, settings)
    return endpoint


def _endpoint(spec: ProviderSpec, model: str, options: CallOptions, settings: ClientSettings) -> Endpoint:
    api_key = options.api_key or first_env(settings.environ, spec.api_key_env)
    if api_key is None and spec.key_required:
        names = " or ".join(spec.api_key_env) or "an API key"
        raise MissingCredentialsError(
            f"no API key for {spec.name}: set {names} in the environment or pass api_key=",
            provider=spec.name,
            model=model,
        )
    api_base = options.api_base or first_env(settings.environ, spec.api_base_env) or spec.api_base
    if not api_base:
        names = " or ".join(spec.api_base_env)
        hint = f"set {names} in the environment or pass api_base=" if names else "pass api_base="
        raise BadRequestError(
            f"{spec.name} needs a base URL: {hint}", provider=spec.name, model=model, param="api_base"
        )
    return Endpoint(
        provider=spec.name,
        model=model,
        api_base=api_base.rstrip("/"),
        api_key=api_key,
        api_version=options.api_version,
        headers=dict(options.extra_headers),
        extra_body=dict(options.extra_body),
        drop_params=settings.drop_params if options.drop_params is None else options.drop_params,
        quirks=spec.quirks,
        params=options.provider_params,
    )
