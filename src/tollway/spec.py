"""``ProviderSpec``: everything tollway knows about reaching one provider, as data (no imports of ours)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProviderSpec"]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One addressable provider (a model-string prefix).

    - ``adapter``: import string (``module:Class``) of the wire-API adapter, loaded on first use.
    - ``api_base``: the default base URL as the provider documents it; it may hold ``{name}`` placeholders (e.g.
      ``{region}``) that the adapter fills from ``Endpoint.params``. None: the caller must give one.
    - ``api_key_env`` / ``api_base_env``: environment variables tried in order.
    - ``key_required``: whether a call without any key fails before sending (False for local servers, and for
      providers whose ``credentials`` resolver finds another kind of credential).
    - ``credentials``: import string of a ``tollway.credentials.CredentialResolver`` that completes the endpoint
      (cloud credentials, OAuth tokens, regions) before each call; None when a key is all it takes.
    - ``options``: call keyword arguments that configure this provider (``aws_region_name``, ``vertex_project``,
      ...); they are collected into ``Endpoint.params`` instead of being sent as request parameters.
    - ``quirks``: documented deviations from the wire API, read by the adapter (each adapter's docstring lists the
      quirks it knows). ``source`` cites the documentation the row's facts come from.
    """

    name: str
    adapter: str
    api_base: str | None
    api_key_env: tuple[str, ...] = ()
    api_base_env: tuple[str, ...] = ()
    key_required: bool = True
    offline: bool = False
    credentials: str | None = None
    options: tuple[str, ...] = ()
    quirks: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
