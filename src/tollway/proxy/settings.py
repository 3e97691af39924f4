"""Runtime settings of one gateway process, derived once from a ``GatewayConfig`` and the environment.

Everything the request path needs is resolved here at start-up (master key, body limit, dev mode), so handlers
read plain attributes and never the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tollway.proxy.gateway_config import GatewayConfig
from tollway.transport import http_client

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_BODY_MB",
    "MIN_MASTER_KEY_LENGTH",
    "GatewaySettings",
    "StartupError",
]

DEFAULT_MAX_BODY_MB = 4.0
# Seconds a client may take to send its request headers, then its body (slow-loris clients; nginx's client_header_
# and client_body_timeout are 60 s each, but an API client sends a whole request at once).
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
# Shorter keys fall to guessing; LiteLLM accepts any non-empty key and users ship "sk-1234" to production.
MIN_MASTER_KEY_LENGTH = 16


class StartupError(Exception):
    """The gateway refuses to start with this configuration (the message says what to change)."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """What one gateway process runs with.

    - ``master_key``: the admin bearer key (None only in dev mode, where auth is off).
    - ``dev``: explicit development mode: no auth required, weak keys allowed.
    - ``max_body_bytes``: request bodies above this get 413 (``general_settings.max_request_size_mb``, 4 MiB).
    - ``redis_url``: checked by ``/health/readiness`` when set; shared counters and key-cache invalidation.
    - ``database_url``: the store of keys, teams, customers and spend; None runs without governance (the master
      key only). ``tollway serve`` defaults it to SQLite in the working directory.
    - ``header_timeout`` / ``body_timeout``: seconds a client may take to send its request headers (then the
      connection is closed) and its body (then 408): ``general_settings.request_header_timeout`` (10) and
      ``request_body_timeout`` (30).
    - ``gc_tuning``: ``tollway serve`` tunes the garbage collector once started (``tollway.proxy.gc_tuning``);
      ``general_settings.gc_tuning: false`` keeps Python's defaults.
    """

    master_key: str | None
    dev: bool = False
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    redis_url: str | None = None
    database_url: str | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    gc_tuning: bool = True

    @property
    def auth_enabled(self) -> bool:
        """Whether requests must carry the master key."""
        return self.master_key is not None

    @classmethod
    def from_config(
        cls, config: GatewayConfig, *, dev: bool = False, environ: Mapping[str, str] | None = None
    ) -> GatewaySettings:
        """Resolve the settings, or raise ``StartupError`` for a missing or weak master key outside dev mode."""
        env = os.environ if environ is None else environ
        dev = dev or _truthy(env.get("TOLLWAY_DEV"))
        key = config.master_key or env.get("TOLLWAY_MASTER_KEY") or None
        if key is None and not dev:
            raise StartupError(
                "no master key: set TOLLWAY_MASTER_KEY (or general_settings.master_key), or run with --dev "
                "to serve without authentication on a development machine"
            )
        if key is not None and len(key) < MIN_MASTER_KEY_LENGTH and not dev:
            raise StartupError(
                f"the master key is too short ({len(key)} characters; at least {MIN_MASTER_KEY_LENGTH} required): "
                "generate one with: python -c \"import secrets; print('sk-' + secrets.token_urlsafe(32))\""
            )
        try:
            http_client(env)  # a typo here would otherwise fail every model call, not the start
        except ValueError as error:
            raise StartupError(str(error)) from None
        return cls(
            master_key=key,
            dev=dev,
            max_body_bytes=_max_body(config.settings.get("max_request_size_mb")),
            redis_url=config.redis_url or env.get("REDIS_URL") or None,
            database_url=config.database_url or env.get("DATABASE_URL") or None,
            header_timeout=_seconds(config.settings, "request_header_timeout", DEFAULT_HEADER_TIMEOUT),
            body_timeout=_seconds(config.settings, "request_body_timeout", DEFAULT_BODY_TIMEOUT),
            gc_tuning=_flag(config.settings, "gc_tuning", default=True),
        )


def _max_body(value: object) -> int:
    if value is None:
        return int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise StartupError("general_settings.max_request_size_mb must be a positive number")
    try:
        megabytes = float(value)
    except ValueError:
        raise StartupError("general_settings.max_request_size_mb must be a positive number") from None
    if not megabytes > 0:
        raise StartupError("general_settings.max_request_size_mb must be a positive number")
    return int(megabytes * 1024 * 1024)


def _seconds(settings: Mapping[str, object], name: str, default: float) -> float:
    value = settings.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise StartupError(f"general_settings.{name} must be a positive number of seconds")
    try:
        seconds = float(value)
    except ValueError:
        raise StartupError(f"general_settings.{name} must be a positive number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise StartupError(f"general_settings.{name} must be a positive number of seconds")
    return seconds


def _flag(settings: Mapping[str, object], name: str, *, default: bool) -> bool:
    value = settings.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise StartupError(f"general_settings.{name} must be true or false")
    return value


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")
