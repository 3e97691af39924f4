"""Reading gateway configuration files: a LiteLLM ``config.yaml`` loads unchanged into a ``GatewayConfig``.

``load_config(path, environ)`` reads the file with PyYAML's safe loader and ``config_from_mapping`` checks it:
``model_list`` entries (``model_name``, ``litellm_params.model``, numeric routing fields), ``router_settings``
(validated by the router's own ``parse_router_settings``), the ``litellm_settings`` and ``general_settings`` tollway
uses, and ``environment_variables``. LiteLLM also reads ``fallbacks``, ``num_retries``, ``request_timeout``, ``cache``
and ``cache_params`` from ``litellm_settings`` and applies them to its Router; they are moved into
``router_settings`` here unless ``router_settings`` sets them itself.

- Invalid values raise ``ConfigurationError`` whose message starts with the YAML path
  (``model_list[2].litellm_params.rpm: expected a number, got "fast"``).
- Keys tollway does not use (LiteLLM's callbacks, guardrails, ...) are collected as dotted paths into
  ``GatewayConfig.unknown`` and reported in one ``UserWarning``; they are never an error, so a LiteLLM file loads.
- ``os.environ/NAME`` references stay as written in ``model_list`` (the Router resolves them). The gateway's own
  values (``master_key``, ``database_url``, ``redis_url``), ``router_settings`` (the Router does not resolve those)
  and typed settings are resolved here, from ``environ`` overlaid with ``environment_variables`` (LiteLLM exports
  those before reading the rest). ``os.environ`` itself is never read nor written.
- Secrets never appear in messages: a value is quoted only when its key cannot name a secret, and messages from the
  router's validators are scrubbed of every secret value in the file. ``redacted(config)`` is the printable view.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from tollway.errors import ConfigurationError
from tollway.proxy.clientside import SETTING as CLIENTSIDE_SETTING
from tollway.proxy.clientside import parse_rules
from tollway.proxy.gateway_config import GatewayConfig
from tollway.router.config import parse_model_list, parse_router_settings

__all__ = ["MASK", "check_config", "config_from_mapping", "diagnose", "load_config", "redacted"]

MASK = "********"
_ENV_PREFIX = "os.environ/"
# A config is a few kilobytes; the cap keeps a mistaken path (a log file, a dump) from being read into memory.
_MAX_FILE_BYTES = 8 * 1024 * 1024
# YAML aliases let a small file expand exponentially ("billion laughs"); every walk over the tree (env references,
# redaction, the router's id hashing) would pay for the expansion, so the expanded size is capped once, at load.
_MAX_VALUES = 200_000

_SECTIONS = ("model_list", "router_settings", "litellm_settings", "general_settings", "environment_variables")
_ENTRY_KEYS = frozenset({"model_name", "litellm_params", "model_info"})
# litellm_params the router reads as numbers; checked at load so the error names the entry before serving.
_NUMERIC_PARAMS = ("rpm", "tpm", "max_parallel_requests", "order", "weight", "timeout", "stream_timeout")

# litellm_settings LiteLLM applies to its Router (``Router.__init__`` falls back to ``litellm.fallbacks`` etc.),
# mapped to tollway's router_settings names.
_LIFTED = {
    "fallbacks": "fallbacks",
    "context_window_fallbacks": "context_window_fallbacks",
    "content_policy_fallbacks": "content_policy_fallbacks",
    "default_fallbacks": "default_fallbacks",
    "num_retries": "num_retries",
    "request_timeout": "timeout",
    "cache": "cache",
    "cache_params": "cache_params",
}
# Settings tollway uses, by kind; they land in GatewayConfig.settings under their own names.
_LITELLM_SETTINGS = {
    "drop_params": "bool",
    "modify_params": "bool",
    "num_retries": "int",
    "request_timeout": "number",
    "set_verbose": "bool",
    "json_logs": "bool",
    "turn_off_message_logging": "bool",
}
_GENERAL_SETTINGS = {
    "max_request_size_mb": "number",
    "request_header_timeout": "number",
    "request_body_timeout": "number",
    "gc_tuning": "bool",
    "metrics_public": "bool",
    "max_response_size_mb": "number",
    "store_prompts_in_spend_logs": "bool",
    "disable_spend_logs": "bool",
    "database_connection_pool_limit": "int",
    "database_connection_timeout": "number",
    "allow_requests_on_db_unavailable": "bool",
    "background_health_checks": "bool",
    "health_check_interval": "number",
    "max_parallel_requests": "int",
    "global_max_parallel_requests": "int",
    "proxy_batch_write_at": "number",
    "user_api_key_cache_ttl": "number",
    "ui_sso": "mapping",  # the dashboard's single sign-on (tollway.dashboard.oidc checks its fields)
    # Governance (tollway.governance.settings checks the values further).
    "fail_closed_budget_enforcement": "bool",
    "maximum_spend_logs_retention_period": "text",
    "max_end_user_budget": "number",
    "spend_spool_dir": "text",
    "default_customer_limits": "mapping",
    "redis_prefix": "text",
    # Economics: alerts (tollway.economics.alerts_engine) and billing export (tollway.economics.export_settings).
    "alerts_interval": "number",
    "alert_delivery_timeout": "number",
    "alert_delivery_backoff": "number",
    "alert_delivery_attempts": "int",
    "alerts_smtp": "mapping",
    "billing_export": "mapping",
}
# general_settings values the gateway itself reads, resolved here, with the variable used when absent.
_GATEWAY_VALUES = {"master_key": "TOLLWAY_MASTER_KEY", "database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}

_SECRET_PARTS = frozenset({"token", "secret", "password", "passwd", "pwd", "credential", "credentials", "salt"})
_SECRET_PARTS |= frozenset({"authorization", "cookie", "signature", "sig"})
# Name parts that make a key a quantity or a price, never a secret (``max_tokens``, ``input_cost_per_token``).
_QUANTITY_PARTS = frozenset({"max", "cost", "per", "count", "limit", "tokens", "id"})
# environment_variables whose values are shown: endpoints and places, not credentials.
_PLAIN_ENV_SUFFIXES = ("_BASE", "_URL", "_ENDPOINT", "_REGION", "_REGION_NAME", "_VERSION", "_PROJECT", "_LOCATION")
_SECRET_QUERY = re.compile(r"([?&][^=&#]*(?:key|token|secret|password|sig)[^=&#]*=)[^&#]*", re.IGNORECASE)


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str]) -> GatewayConfig:
    """Read and check a config file (LiteLLM's ``config.yaml`` shape); ConfigurationError names what is wrong."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            raw = file.read(_MAX_FILE_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigurationError(f"{name}: cannot read the config file ({reason})") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise ConfigurationError(f"{name}: larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB; not a config file")
    data = _parse_yaml(name, raw)
    _check_expanded_size(name, data)
    return config_from_mapping(data, environ, source=name)


def _check_expanded_size(name: str, data: Any) -> None:
    pending, seen = [data], 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > _MAX_VALUES:
            raise ConfigurationError(f"{name}: expands to more than {_MAX_VALUES:,} values (through YAML aliases?)")
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _parse_yaml(name: str, raw: bytes) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.MarkedYAMLError as error:
        # The message is rebuilt from the problem and its position only: PyYAML's own text quotes the offending
        # line, which may hold a key.
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = error.problem or error.context or "syntax error"
        if error.context and error.context_mark and error.problem:
            start = error.context_mark
            problem += f" ({error.context} started at line {start.line + 1}, column {start.column + 1})"
        raise ConfigurationError(f"{name}: YAML syntax error at {where}: {problem}") from None
    except yaml.YAMLError as error:
        position = getattr(error, "position", None)
        where = f" at byte {position}" if isinstance(position, int) else ""
        raise ConfigurationError(
            f"{name}: not readable as YAML text{where} (invalid UTF-8 or control character)"
        ) from None


def config_from_mapping(data: object, environ: Mapping[str, str], *, source: str | None = None) -> GatewayConfig:
    """Check a parsed config (the mapping a YAML file holds) and build the ``GatewayConfig``.

    ``environ`` is the process environment to resolve ``os.environ/NAME`` references from; ``environment_variables``
    from the file take precedence over it. Unknown keys are reported in one ``UserWarning`` listing their paths.
    """
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else _describe("", data)
        raise ConfigurationError(f"top level: expected a mapping of sections ({', '.join(_SECTIONS)}), got {got}")
    unknown = [str(key) for key in data if key not in _SECTIONS]
    environment = _environment(data.get("environment_variables"))
    env: Mapping[str, str] = ChainMap(dict(environment), dict(environ))
    model_list = _model_list(data.get("model_list"), unknown)
    litellm = _section(data, "litellm_settings")
    general = _section(data, "general_settings")
    settings: dict[str, Any] = {}
    lifted = _litellm_settings(litellm, env, settings, unknown)
    groups = {str(entry["model_name"]) for entry in model_list}
    router_settings = _router_settings(_section(data, "router_settings"), lifted, env, unknown, groups)
    gateway = _gateway_values(general, env, settings, unknown)
    if "redis_url" not in general and not gateway["redis_url"]:
        gateway["redis_url"] = router_settings.get("redis_url") or _redis_url_from_parts(router_settings)
    if unknown:
        where = f"{source}: " if source else ""
        warnings.warn(f"{where}ignoring settings tollway does not use: {', '.join(unknown)}", UserWarning, stacklevel=2)
    return GatewayConfig(
        model_list=model_list,
        router_settings=router_settings,
        settings=settings,
        environment=environment,
        unknown=tuple(unknown),
        source=source,
        **gateway,
    )


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name}: expected a mapping of settings, got {_describe(name, value)}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigurationError(f"{name}: setting names must be strings, got {_describe('', key)}")
    return value


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"environment_variables: expected a mapping of NAME: value, got {_describe('', value)}"
        )
    found: dict[str, str] = {}
    for name, item in value.items():
        path = f"environment_variables.{name}"
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"environment_variables: variable names must be strings, got {name!r}")
        if isinstance(item, Mapping | list) or item is None:
            raise ConfigurationError(f"{path}: expected a string, got {_describe(name, item)}")
        # YAML reads `PORT: 8080` as a number and `DEBUG: true` as a bool; the environment holds their text.
        found[name] = ("true" if item else "false") if isinstance(item, bool) else str(item)
    return found


def _model_list(value: Any, unknown: list[str]) -> tuple[Mapping[str, Any], ...]:
    """Entries as written (``os.environ/`` references unresolved) after checking what the router needs."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigurationError(f"model_list: expected a list of deployments, got {_describe('', value)}")
    for index, entry in enumerate(value):
        path = f"model_list[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"{path}: expected a mapping with model_name and litellm_params, got {_describe('', entry)}"
            )
        name = entry.get("model_name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{path}.model_name: expected the public model name, got {_describe('', name)}")
        params = entry.get("litellm_params")
        if not isinstance(params, Mapping):
            raise ConfigurationError(f"{path}.litellm_params: expected a mapping, got {_describe('', params)}")
        model = params.get("model")
        if not isinstance(model, str) or not model.strip():
            got = _describe("", model)
            raise ConfigurationError(
                f"{path}.litellm_params.model: expected a model string such as 'openai/gpt-4o', got {got}"
            )
        info = entry.get("model_info")
        if info is not None and not isinstance(info, Mapping):
            raise ConfigurationError(f"{path}.model_info: expected a mapping, got {_describe('', info)}")
        for key in _NUMERIC_PARAMS:
            _check_number(f"{path}.litellm_params.{key}", params.get(key))
        _check_clientside(f"{path}.litellm_params.{CLIENTSIDE_SETTING}", params.get(CLIENTSIDE_SETTING))
        unknown.extend(f"{path}.{key}" for key in entry if key not in _ENTRY_KEYS)
    return tuple(value)


def _check_clientside(path: str, value: Any) -> None:
    """LiteLLM's per-deployment list of parameters a gateway client may set (``tollway.proxy.clientside``)."""
    if value is None:
        return
    if not isinstance(value, list):
        raise ConfigurationError(f"{path}: expected a list of parameter names, got {_describe('', value)}")
    parse_rules(path, value)


def _check_number(path: str, value: Any) -> None:
    if value is None or (isinstance(value, str) and value.startswith(_ENV_PREFIX)):
        return
    _coerce(path, "number", value)


def _litellm_settings(
    litellm: Mapping[str, Any], env: Mapping[str, str], settings: dict[str, Any], unknown: list[str]
) -> dict[str, tuple[str, Any]]:
    """Fill ``settings`` with the litellm_settings tollway uses; return the router ones as name → (path, value)."""
    lifted: dict[str, tuple[str, Any]] = {}
    for key, value in litellm.items():
        path = f"litellm_settings.{key}"
        if key in _LITELLM_SETTINGS:
            settings[key] = _typed(path, _LITELLM_SETTINGS[key], value, env)
        if key in _LIFTED:
            lifted[_LIFTED[key]] = (path, settings.get(key, value))
        elif key not in _LITELLM_SETTINGS:
            unknown.append(path)
    return lifted


def _router_settings(
    raw: Mapping[str, Any],
    lifted: Mapping[str, tuple[str, Any]],
    env: Mapping[str, str],
    unknown: list[str],
    groups: set[str],
) -> dict[str, Any]:
    """router_settings (plus lifted litellm_settings), env references resolved, validated by the router's parser
    (fallback targets against the model groups too, when the file has a model_list).

    Settings the router would ignore are removed and reported here, so the Router built from the result does not
    warn a second time.
    """
    origin = {name: path for name, (path, _) in lifted.items() if name not in raw}
    origin |= {name: f"router_settings.{name}" for name in raw}
    merged = {name: value for name, (_, value) in lifted.items() if name not in raw} | dict(raw)
    merged = {name: _resolve(origin[name], value, env) for name, value in merged.items()}
    with warnings.catch_warnings():
        # Ignored names are reported in this module's single warning instead of the router's.
        warnings.simplefilter("ignore")
        try:
            parsed = parse_router_settings(**merged)
            if groups:
                parsed.fallback_plan(groups)
        except ConfigurationError as error:
            message = _relocate(error.message, origin)
            raise ConfigurationError(_scrub(message, _secret_values(merged, env))) from None
    for name in parsed.ignored:
        head, _, sub = name.partition(".")
        nested = merged.get(head)
        if sub and isinstance(nested, Mapping):
            merged[head] = {key: value for key, value in nested.items() if key != sub}
            unknown.append(f"{origin.get(head, 'router_settings.' + head)}.{sub}")
        else:
            merged.pop(name, None)
            unknown.append(origin.get(name, f"router_settings.{name}"))
    return merged


def _relocate(message: str, origin: Mapping[str, str]) -> str:
    """Prefix a router error with the path where the user wrote the setting (litellm_settings for lifted ones)."""
    match = re.match(r"(?:router_settings\.)?([A-Za-z_]+)", message)
    if match and match.group(1) in origin:
        return origin[match.group(1)] + message[match.end() :]
    return message


def _gateway_values(
    general: Mapping[str, Any], env: Mapping[str, str], settings: dict[str, Any], unknown: list[str]
) -> dict[str, str | None]:
    """master_key, database_url and redis_url (file first, then the environment); other general settings."""
    for key, value in general.items():
        path = f"general_settings.{key}"
        if key in _GENERAL_SETTINGS:
            settings[key] = _typed(path, _GENERAL_SETTINGS[key], value, env)
        elif key not in _GATEWAY_VALUES:
            unknown.append(path)
    values: dict[str, str | None] = {}
    for key, variable in _GATEWAY_VALUES.items():
        value = general.get(key)
        path = f"general_settings.{key}"
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{path}: expected a string, got {_describe(key, value)}")
        resolved = _resolve(path, value, env) if value else env.get(variable)
        values[key] = resolved or None
    return values


def _redis_url_from_parts(router_settings: Mapping[str, Any]) -> str | None:
    """LiteLLM configs usually give Redis as ``redis_host``/``redis_port``/``redis_password``; the gateway wants a
    URL."""
    host = router_settings.get("redis_host")
    if not isinstance(host, str) or not host:
        return None
    password = router_settings.get("redis_password")
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host}:{router_settings.get('redis_port') or 6379}"


def _resolve(path: str, value: Any, env: Mapping[str, str]) -> Any:
    """``os.environ/NAME`` → the variable's value, at any depth; a missing variable names the YAML path."""
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX) :]
        if name not in env:
            raise ConfigurationError(f"{path}: environment variable {name} (from {value}) is not set")
        return env[name]
    if isinstance(value, Mapping):
        return {key: _resolve(f"{path}.{key}", item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(f"{path}[{index}]", item, env) for index, item in enumerate(value)]
    return value


def _typed(path: str, kind: str, value: Any, env: Mapping[str, str]) -> Any:
    """A setting of a known kind; ``os.environ/`` references are resolved and read from their text."""
    if kind == "mapping":  # resolved at any depth; the feature that reads it checks its fields
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{path}: expected a mapping, got {_describe(path, value)}")
        return _resolve(path, value, env)
    if kind == "text":  # a string (or a number, e.g. a duration in seconds) its reader parses further
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigurationError(f"{path}: expected a string, got {_describe(path, value)}")
        return _resolve(path, value, env)
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        text = str(_resolve(path, value, env)).strip()
        if kind == "bool" and text.lower() in ("true", "false", "1", "0", "yes", "no"):
            return text.lower() in ("true", "1", "yes")
        value = text
    return _coerce(path, kind, value)


def _coerce(path: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigurationError(f"{path}: expected true or false, got {_describe(path, value)}")
        return value
    number: float | None = None
    if not isinstance(value, bool) and isinstance(value, int | float | str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise ConfigurationError(f"{path}: expected a number, got {_describe(path, value)}")
    if kind == "int":
        if not number.is_integer():
            raise ConfigurationError(f"{path}: expected a whole number, got {_describe(path, value)}")
        return int(number)
    return int(number) if isinstance(value, int) else number


# --- secrets -------------------------------------------------------------------------------------------------------


def _is_secret_name(name: object) -> bool:
    """Whether a key can hold a secret: ``api_key``, ``aws_secret_access_key``, ``vertex_credentials``,
    ``master_key``, ``Authorization``... but not quantities such as ``max_tokens`` or ``input_cost_per_token``."""
    parts = [part for part in re.split(r"[^a-z0-9]+", str(name).lower()) if part]
    if any(part in _QUANTITY_PARTS for part in parts):
        return False
    return any(part.endswith("key") or part in _SECRET_PARTS for part in parts)


def _last_name(path: str) -> str:
    return re.split(r"[.\[]", path)[-1] if path else ""


def _describe(path: str, value: object) -> str:
    """A value for an error message; its kind only when ``path`` could name a secret."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    kind = "a mapping" if isinstance(value, Mapping) else "a list" if isinstance(value, list) else None
    if kind:
        return kind
    if _is_secret_name(_last_name(path)):
        return f"a {type(value).__name__} (value hidden)"
    if isinstance(value, str):
        return json.dumps(value[:60] + ("..." if len(value) > 60 else ""))
    return repr(value)[:60]


def _secret_values(tree: Any, env: Mapping[str, str], secret: bool = False) -> set[str]:
    """Every secret in a config tree (resolving ``os.environ/`` references), to scrub foreign error messages."""
    found: set[str] = set()
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            found |= _secret_values(value, env, secret or _is_secret_name(key))
    elif isinstance(tree, list | tuple):
        for item in tree:
            found |= _secret_values(item, env, secret)
    elif secret and tree is not None and not isinstance(tree, bool):
        text = str(tree)
        found.add(env.get(text[len(_ENV_PREFIX) :], "") if text.startswith(_ENV_PREFIX) else text)
    elif isinstance(tree, str) and "://" in tree:
        password = urlsplit(tree).password if "@" in tree else None
        found |= {password} if password else set()
    # Very short values would scrub ordinary words out of a message; they are not guessable secrets anyway.
    return {value for value in found if len(value) >= 4}


def _scrub(message: str, secrets: set[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        message = message.replace(value, MASK)
    return message


def _mask_text(text: str) -> str:
    """A string that may carry a secret inside: a password in a URL, or a key in its query."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        if parts.password:
            netloc = parts.netloc.rsplit("@", 1)
            user = netloc[0].split(":", 1)[0]
            text = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{netloc[1]}"))
    except ValueError:
        return MASK  # unparseable URL-like text: show nothing rather than guess
    return _SECRET_QUERY.sub(lambda match: match.group(1) + MASK, text)


def _masked(value: Any, secret: bool = False) -> Any:
    if secret and value is not None and not isinstance(value, bool):
        is_reference = isinstance(value, str) and value.startswith(_ENV_PREFIX)
        return value if is_reference else MASK  # a reference names a variable; it is not the secret
    if isinstance(value, Mapping):
        return {str(key): _masked(item, _is_secret_name(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return _mask_text(value) if isinstance(value, str) else value


def _masked_environment(environment: Mapping[str, str]) -> dict[str, str]:
    # Variables hold credentials under any name, so only names that say "endpoint or place" are shown.
    return {
        name: _mask_text(value) if name.upper().endswith(_PLAIN_ENV_SUFFIXES) and not _is_secret_name(name) else MASK
        for name, value in environment.items()
    }


def redacted(config: GatewayConfig) -> dict[str, Any]:
    """A printable view of ``config`` with every secret replaced by ``MASK``: keys, passwords, tokens, credentials
    (service-account JSON included), URL passwords and the master key. ``os.environ/NAME`` references are shown:
    they name a variable, not its value."""
    return {
        "source": config.source,
        "model_list": [_masked(entry) for entry in config.model_list],
        "router_settings": _masked(config.router_settings),
        "master_key": MASK if config.master_key else None,
        "database_url": _mask_text(config.database_url) if config.database_url else None,
        "redis_url": _mask_text(config.redis_url) if config.redis_url else None,
        "settings": _masked(config.settings),
        "environment": _masked_environment(config.environment),
        "unknown": list(config.unknown),
    }


# --- checking ------------------------------------------------------------------------------------------------------


def diagnose(path: str | os.PathLike[str], environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` for a config file: problems make it unusable; notes list the keys tollway ignores.

    Beyond ``load_config`` this builds what the router would (deployments with their ``os.environ/`` references
    resolved, provider prefixes, duplicate ids, fallback targets), so a file that passes starts a gateway.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            config = load_config(path, environ)
        except ConfigurationError as error:
            return [error.message], []
    notes = [f"ignored (not used by tollway): {', '.join(config.unknown)}"] if config.unknown else []
    env: Mapping[str, str] = ChainMap(dict(config.environment), dict(environ))
    secrets = _secret_values(config.model_list, env) | _secret_values(config.router_settings, env)
    return [_scrub(problem, secrets) for problem in _router_problems(config, env)], notes


def _router_problems(config: GatewayConfig, env: Mapping[str, str]) -> Iterator[str]:
    if not config.model_list:
        return  # no deployments: the gateway serves the providers found in the environment
    try:
        parse_model_list(list(config.model_list), env)
    except ConfigurationError as error:
        yield error.message


def check_config(path: str | os.PathLike[str], environ: Mapping[str, str]) -> list[str]:
    """Human-readable problems of a config file (each naming its YAML path); empty when the file is valid."""
    return diagnose(path, environ)[0]
