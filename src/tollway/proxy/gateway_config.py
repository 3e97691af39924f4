"""What a gateway configuration file says, once loaded (values only; ``tollway.proxy.config`` reads the files).

A LiteLLM ``config.yaml`` and tollway's own format both load into ``GatewayConfig``. Secrets stay in the values
(``os.environ/NAME`` references are resolved when the router is built) and are never printed: ``redacted()`` is
what logs and ``tollway config check`` show.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GatewayConfig"]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """A loaded configuration.

    - ``model_list``: LiteLLM's deployments (``model_name`` + ``litellm_params`` + ``model_info``), for ``Router``.
    - ``router_settings``: keyword arguments for ``Router`` (LiteLLM's names).
    - ``master_key``: the admin key (``general_settings.master_key``, else ``TOLLWAY_MASTER_KEY``), or None.
    - ``database_url`` / ``redis_url``: from ``general_settings`` or ``DATABASE_URL`` / ``REDIS_URL``.
    - ``settings``: every other recognised setting (``litellm_settings`` such as ``drop_params``,
      ``request_timeout``, ``num_retries``; ``general_settings`` such as ``max_request_size_mb``), by name.
    - ``environment``: ``environment_variables`` to set before the router is built.
    - ``unknown``: dotted paths of keys tollway does not know (reported once as a warning, never an error).
    - ``source``: the file it came from (None for the no-config default).
    """

    model_list: tuple[Mapping[str, Any], ...] = ()
    router_settings: Mapping[str, Any] = field(default_factory=dict)
    master_key: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()
    source: str | None = None

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment the gateway resolves its settings in: ``base`` (default ``os.environ``) with the
        config's ``environment_variables`` over it."""
        return {**(os.environ if base is None else base), **self.environment}
