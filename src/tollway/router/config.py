"""The router's configuration in LiteLLM's shapes: ``model_list`` entries and ``router_settings`` names.

``parse_model_list(model_list, environ)`` turns entries like ::

    {"model_name": "gpt-4o",
     "litellm_params": {"model": "azure/gpt-4o", "api_key": "os.environ/AZURE_KEY", "rpm": 600},
     "model_info": {"id": "azure-eu"}}

into ``Deployment`` values, and ``parse_router_settings(**router_settings)`` into a frozen ``RouterSettings``. Every
mistake is a ConfigurationError naming the exact entry (``model_list[2].litellm_params.rpm``), raised when the
router is built. Settings LiteLLM has and tollway does not implement yet are kept in ``RouterSettings.ignored``
and reported in one warning, so a LiteLLM config still loads. Pure: the environment is passed in.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tollway.errors import ConfigurationError, UnknownProviderError
from tollway.registry import resolve_model
from tollway.router.cooldown import CooldownPolicy
from tollway.router.deployment import Deployment
from tollway.router.fallbacks import FallbackMap, FallbackPlan
from tollway.router.retry_policy import RouterRetryPolicy
from tollway.router.strategies import STRATEGIES

__all__ = ["CacheSettings", "RouterSettings", "parse_model_list", "parse_router_settings"]

_ENV_PREFIX = "os.environ/"
_EMPTY: Mapping[str, Any] = MappingProxyType({})

# litellm_params keys that are routing facts, not call parameters: lifted onto the Deployment.
_INT_FIELDS = ("rpm", "tpm", "order", "max_parallel_requests")
_FLOAT_FIELDS = ("weight", "timeout", "stream_timeout")
# configurable_clientside_auth_params is gateway policy (what a client may set), never a call parameter.
_CLIENTSIDE = "configurable_clientside_auth_params"
_LIFTED = frozenset((*_INT_FIELDS, *_FLOAT_FIELDS, "model", "tags", "region_name", _CLIENTSIDE))


def parse_model_list(model_list: object, environ: Mapping[str, str]) -> tuple[Deployment, ...]:
    """Deployments from a LiteLLM ``model_list``; ``os.environ/NAME`` values are read from ``environ``.

    A deployment's id is ``model_info.id`` or, without one, a hash of the entry as written (before
    ``os.environ/`` resolution, so rotating a key keeps the id, and every router reading the same config derives
    the same ids — shared state in Redis is keyed by them). Two entries with the same id are an error: LiteLLM
    silently keeps one of two identical entries.
    """
    if not isinstance(model_list, list | tuple) or not model_list:
        raise ConfigurationError(f"model_list: expected a non-empty list of deployments, got {_describe(model_list)}")
    deployments: list[Deployment] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(model_list):
        path = f"model_list[{index}]"
        deployment = _parse_entry(path, entry, environ)
        if deployment.id in first_index:
            raise ConfigurationError(
                f"{path}: duplicate deployment id {deployment.id!r} (also model_list[{first_index[deployment.id]}]);"
                " give each entry a distinct model_info.id"
            )
        first_index[deployment.id] = index
        deployments.append(deployment)
    return tuple(deployments)


def _parse_entry(path: str, entry: object, environ: Mapping[str, str]) -> Deployment:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            f"{path}: expected an object with model_name and litellm_params, got {_describe(entry)}"
        )
    model_name = entry.get("model_name")
    if not isinstance(model_name, str) or not model_name:
        raise ConfigurationError(f"{path}.model_name: expected a non-empty string, got {_describe(model_name)}")
    raw_params = entry.get("litellm_params")
    if not isinstance(raw_params, Mapping):
        raise ConfigurationError(f"{path}.litellm_params: expected an object, got {_describe(raw_params)}")
    raw_info = entry.get("model_info") or {}
    if not isinstance(raw_info, Mapping):
        raise ConfigurationError(f"{path}.model_info: expected an object, got {_describe(raw_info)}")
    params: dict[str, Any] = _resolve_env(f"{path}.litellm_params", raw_params, environ)
    info: dict[str, Any] = _resolve_env(f"{path}.model_info", raw_info, environ)
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigurationError(f"{path}.litellm_params.model: expected a model string, got {_describe(model)}")
    try:
        resolve_model(model, params.get("custom_llm_provider"))
    except UnknownProviderError as error:
        raise ConfigurationError(f"{path}.litellm_params.model: {error.message}") from None
    info["id"] = _deployment_id(path, model_name, raw_params, raw_info)
    lifted: dict[str, Any] = {key: _integer(f"{path}.litellm_params.{key}", params.get(key)) for key in _INT_FIELDS}
    lifted |= {key: _number(f"{path}.litellm_params.{key}", params.get(key)) for key in _FLOAT_FIELDS}
    return Deployment(
        id=info["id"],
        model_name=model_name,
        model=model,
        call_params=MappingProxyType({k: v for k, v in params.items() if k not in _LIFTED}),
        model_info=MappingProxyType(info),
        tags=_tags(f"{path}.litellm_params.tags", params.get("tags")),
        region=_optional_str(f"{path}.litellm_params.region_name", params.get("region_name")),
        clientside_auth_params=_listed(f"{path}.litellm_params.{_CLIENTSIDE}", params.get(_CLIENTSIDE)),
        **lifted,
    )


def _deployment_id(path: str, model_name: str, params: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    given = info.get("id")
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, str | int) or given == "":
            raise ConfigurationError(f"{path}.model_info.id: expected a non-empty string, got {_describe(given)}")
        return str(given)
    unresolved = {"model_name": model_name, "litellm_params": params, "model_info": info}
    canonical = json.dumps(unresolved, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _resolve_env(path: str, value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX) :]
        if name not in environ:
            raise ConfigurationError(f"{path}: {value} is not set")
        return environ[name]
    if isinstance(value, Mapping):
        return {key: _resolve_env(f"{path}.{key}", item, environ) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve_env(f"{path}[{i}]", item, environ) for i, item in enumerate(value)]
    return value


def _describe(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:120]


def _number(path: str, value: Any, *, minimum: float = 0.0) -> float | None:
    # Numbers may arrive as strings: ``rpm: os.environ/DEPLOYMENT_RPM`` resolves to the variable's text.
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{path}: expected a number, got {_describe(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{path}: expected a number, got {_describe(value)}") from None
    if not number >= minimum or number == float("inf"):
        raise ConfigurationError(f"{path}: expected a finite number >= {minimum:g}, got {value!r}")
    return number


def _integer(path: str, value: Any) -> int | None:
    number = _number(path, value)
    if number is None:
        return None
    if not number.is_integer():
        raise ConfigurationError(f"{path}: expected a whole number, got {value!r}")
    return int(number)


def _tags(path: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise ConfigurationError(f"{path}: expected a list of strings, got {_describe(value)}")
    return frozenset(value)


def _listed(path: str, value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ConfigurationError(f"{path}: expected a list, got {_describe(value)}")
    return tuple(value)


def _optional_str(path: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigurationError(f"{path}: expected a string, got {_describe(value)}")


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """``cache_params``: ``type`` "local" (in-memory LRU of ``max_items``) or "redis"; ``ttl`` seconds (None: the
    store's default, LiteLLM's 600 s for local); ``namespace`` prefixes every key. Redis connection fields fall
    back to the router's ``redis_*`` settings."""

    type: str = "local"
    ttl: float | None = None
    namespace: str | None = None
    max_items: int = 200
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int | None = None
    redis_password: str | None = None


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """LiteLLM's ``router_settings``, validated. Defaults are LiteLLM's (``num_retries`` 2, ``allowed_fails`` 3,
    ``cooldown_time`` 5 s, ``max_fallbacks`` 5). Fallback maps hold ``group → targets`` merged from LiteLLM's
    list-of-dicts form; they are checked against the model groups by ``fallback_plan``."""

    routing_strategy: str = "simple-shuffle"
    routing_strategy_args: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    num_retries: int = 2
    retry_policy: RouterRetryPolicy = field(default_factory=RouterRetryPolicy)
    cooldown: CooldownPolicy = field(default_factory=CooldownPolicy)
    fallbacks: FallbackMap = field(default_factory=lambda: MappingProxyType({}))
    context_window_fallbacks: FallbackMap = field(default_factory=lambda: MappingProxyType({}))
    content_policy_fallbacks: FallbackMap = field(default_factory=lambda: MappingProxyType({}))
    default_fallbacks: tuple[str, ...] = ()
    max_fallbacks: int = 5
    timeout: float | None = None
    stream_timeout: float | None = None
    enable_tag_filtering: bool = False
    tag_filtering_match_any: bool = False
    enable_pre_call_checks: bool = False
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int | None = None
    redis_password: str | None = None
    cache: bool = False
    cache_params: CacheSettings = field(default_factory=CacheSettings)
    ignored: tuple[str, ...] = ()

    @property
    def allowed_fails(self) -> int:
        """LiteLLM's ``allowed_fails`` (kept on the cooldown policy)."""
        return self.cooldown.allowed_fails

    @property
    def cooldown_time(self) -> float:
        """LiteLLM's ``cooldown_time`` in seconds (kept on the cooldown policy)."""
        return self.cooldown.cooldown_time

    def fallback_plan(self, model_groups: Iterable[str]) -> FallbackPlan:
        """The validated ``FallbackPlan`` over the router's model groups (ConfigurationError for an unknown group
        or a cycle)."""
        return FallbackPlan.from_settings(
            model_groups,
            fallbacks=self.fallbacks,
            context_window_fallbacks=self.context_window_fallbacks,
            content_policy_fallbacks=self.content_policy_fallbacks,
            default_fallbacks=self.default_fallbacks,
            max_fallbacks=self.max_fallbacks,
        )


# LiteLLM router_settings tollway accepts but does not act on yet (they are reported, not rejected).
_NOT_IMPLEMENTED = frozenset(
    {
        "model_group_alias",
        "model_group_retry_policy",
        "num_retries_per_request",
        "retry_after",
        "provider_budget_config",
        "optional_pre_call_checks",
        "caching_groups",
        "client_ttl",
        "polling_interval",
        "default_litellm_params",
        "default_max_parallel_requests",
        "default_priority",
        "set_verbose",
        "debug_level",
        "alerting_config",
        "router_general_settings",
        "assistants_config",
        "search_tools",
        "deployment_affinity_ttl_seconds",
        "cooldown_handlers",
    }
)
_FLAGS = ("disable_cooldowns", "enable_tag_filtering", "tag_filtering_match_any", "enable_pre_call_checks", "cache")
_KNOWN = frozenset(
    {
        "routing_strategy",
        "routing_strategy_args",
        "num_retries",
        "retry_policy",
        "allowed_fails",
        "allowed_fails_policy",
        "cooldown_time",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "default_fallbacks",
        "max_fallbacks",
        "timeout",
        "stream_timeout",
        "redis_url",
        "redis_host",
        "redis_port",
        "redis_password",
        "cache_params",
        "cache_responses",
        *_FLAGS,
    }
)


def parse_router_settings(**settings: Any) -> RouterSettings:
    """Validate LiteLLM ``router_settings`` (invalid value → ConfigurationError naming the setting).

    Names tollway does not implement (LiteLLM's others, or names it does not know at all) are kept in
    ``ignored`` and reported in a single ``UserWarning``. ``cache_responses`` (LiteLLM's Router argument) is
    read as ``cache``.
    """
    ignored = sorted(name for name in settings if name not in _KNOWN)
    cache_params = settings.get("cache_params")
    if isinstance(cache_params, Mapping):
        ignored += sorted(f"cache_params.{key}" for key in cache_params if key not in _CACHE_KEYS)
    if ignored:
        unknown = [name for name in ignored if name not in _NOT_IMPLEMENTED and not name.startswith("cache_params.")]
        detail = f" (not LiteLLM router settings either: {', '.join(unknown)})" if unknown else ""
        warnings.warn(
            f"router settings not implemented by tollway, ignored: {', '.join(ignored)}{detail}", stacklevel=2
        )
    flags = {name: _flag(name, settings.get(name, False)) for name in _FLAGS}
    if "cache_responses" in settings:
        flags["cache"] = flags["cache"] or _flag("cache_responses", settings["cache_responses"])
    strategy, strategy_args = _strategy(settings.get("routing_strategy"), settings.get("routing_strategy_args"))
    num_retries = _count("num_retries", settings.get("num_retries"), 2)
    redis = _redis_settings(settings)
    cooldown_time = _number("router_settings.cooldown_time", settings.get("cooldown_time"))
    return RouterSettings(
        routing_strategy=strategy,
        routing_strategy_args=strategy_args,
        num_retries=num_retries,
        retry_policy=RouterRetryPolicy.parse(num_retries, _mapping("retry_policy", settings)),
        cooldown=CooldownPolicy.parse(
            cooldown_time=5.0 if cooldown_time is None else cooldown_time,
            allowed_fails=_count("allowed_fails", settings.get("allowed_fails"), 3),
            allowed_fails_policy=_mapping("allowed_fails_policy", settings),
            disable=flags["disable_cooldowns"],
        ),
        fallbacks=_fallback_map("fallbacks", settings.get("fallbacks")),
        context_window_fallbacks=_fallback_map("context_window_fallbacks", settings.get("context_window_fallbacks")),
        content_policy_fallbacks=_fallback_map("content_policy_fallbacks", settings.get("content_policy_fallbacks")),
        default_fallbacks=_names("default_fallbacks", settings.get("default_fallbacks")),
        max_fallbacks=_count("max_fallbacks", settings.get("max_fallbacks"), 5),
        timeout=_positive("timeout", settings.get("timeout")),
        stream_timeout=_positive("stream_timeout", settings.get("stream_timeout")),
        enable_tag_filtering=flags["enable_tag_filtering"],
        tag_filtering_match_any=flags["tag_filtering_match_any"],
        enable_pre_call_checks=flags["enable_pre_call_checks"],
        cache=flags["cache"],
        cache_params=_cache_settings(cache_params, redis),
        ignored=tuple(ignored),
        **redis,
    )


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"router_settings.{name}: expected true or false, got {_describe(value)}")
    return value


def _count(name: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"router_settings.{name}: expected a non-negative integer, got {_describe(value)}")
    return value


def _positive(name: str, value: Any) -> float | None:
    number = _number(f"router_settings.{name}", value)
    if number == 0:
        raise ConfigurationError(f"router_settings.{name}: expected a number of seconds > 0, got {value!r}")
    return number


def _mapping(name: str, settings: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = settings.get(name)
    if value is not None and not isinstance(value, Mapping):
        # LiteLLM users may pass its pydantic RetryPolicy / AllowedFailsPolicy; their fields are the same keys.
        dump = getattr(value, "model_dump", None)
        if dump is None:
            raise ConfigurationError(f"router_settings.{name}: expected an object, got {_describe(value)}")
        value = dump(exclude_none=True)
    return value


def _strategy(name: Any, args: Any) -> tuple[str, Mapping[str, Any]]:
    name = "simple-shuffle" if name is None else name
    if name not in STRATEGIES:
        valid = ", ".join(STRATEGIES)
        raise ConfigurationError(f"router_settings.routing_strategy: unknown strategy {name!r}; valid: {valid}")
    if args is None:
        return name, _EMPTY
    if not isinstance(args, Mapping):
        raise ConfigurationError(f"router_settings.routing_strategy_args: expected an object, got {_describe(args)}")
    checked = dict(args)
    for key in ("lowest_latency_buffer", "ttl"):
        if checked.get(key) is not None:
            checked[key] = _number(f"router_settings.routing_strategy_args.{key}", checked[key])
        else:
            checked.pop(key, None)
    return name, MappingProxyType(checked)


def _names(path: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)  # LiteLLM accepts a single group name where a list is expected
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(
            f"router_settings.{path}: expected a list of model group names, got {_describe(value)}"
        )
    return tuple(value)


def _fallback_map(name: str, value: Any) -> FallbackMap:
    """LiteLLM's ``[{"gpt-4o": ["claude-sonnet-4-5"]}, ...]`` (a plain mapping is accepted too)."""
    if value is None:
        return MappingProxyType({})
    entries = [value] if isinstance(value, Mapping) else value
    if not isinstance(entries, list | tuple):
        raise ConfigurationError(f"router_settings.{name}: expected a list of {{group: [fallbacks]}}, got {value!r}")
    merged: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(entries):
        path = f"{name}[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"router_settings.{path}: expected {{group: [fallbacks]}}, got {_describe(entry)}")
        for group, targets in entry.items():
            if not isinstance(group, str) or not group:
                raise ConfigurationError(f"router_settings.{path}: expected a model group name, got {group!r}")
            if group in merged:
                raise ConfigurationError(f"router_settings.{path}: {group!r} already has fallbacks")
            merged[group] = _names(f"{path}[{group!r}]", targets)
    return MappingProxyType(merged)


def _redis_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    port = settings.get("redis_port")
    if port is not None:
        port = _integer("router_settings.redis_port", port)
    found: dict[str, Any] = {"redis_port": port}
    for key in ("redis_url", "redis_host", "redis_password"):
        found[key] = _optional_str(f"router_settings.{key}", settings.get(key))
    return found


_CACHE_KEYS = frozenset({"type", "ttl", "namespace", "max_items", "url", "host", "port", "password"})


def _cache_settings(value: Any, redis: Mapping[str, Any]) -> CacheSettings:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"router_settings.cache_params: expected an object, got {_describe(value)}")
    kind = value.get("type", "local")
    if kind not in ("local", "redis"):
        raise ConfigurationError(
            f"router_settings.cache_params.type: {kind!r} is not supported; use 'local' or 'redis'"
        )
    max_items = _integer("router_settings.cache_params.max_items", value.get("max_items"))
    port = value.get("port")
    return CacheSettings(
        type=kind,
        ttl=_positive("cache_params.ttl", value.get("ttl")),
        namespace=_optional_str("router_settings.cache_params.namespace", value.get("namespace")),
        max_items=200 if max_items is None else max_items,
        redis_url=_optional_str("router_settings.cache_params.url", value.get("url")) or redis["redis_url"],
        redis_host=_optional_str("router_settings.cache_params.host", value.get("host")) or redis["redis_host"],
        redis_port=_integer("router_settings.cache_params.port", port) if port is not None else redis["redis_port"],
        redis_password=_optional_str("router_settings.cache_params.password", value.get("password"))
        or redis["redis_password"],
    )
