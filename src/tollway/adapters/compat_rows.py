"""Building blocks of the OpenAI-compatible vendor table (``compat.py`` hosted vendors, ``compat_local.py``
local servers): one ``ProviderSpec`` per vendor, all served by the OpenAI adapter, each reading
``<NAME>_API_BASE`` for a base-URL override. Rows built with the ``*_unconfirmed`` helpers carry "unconfirmed" in
their source: their facts were not re-read against the cited page.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from tollway.spec import ProviderSpec

__all__ = ["OPEN_SAMPLING", "VLLM_PARAMS", "hosted", "hosted_unconfirmed", "local", "local_unconfirmed"]

# Parameter sets several vendors document beside OpenAI's (hosted vendors and local servers alike).
OPEN_SAMPLING = ("top_k", "min_p", "repetition_penalty")
VLLM_PARAMS = (*OPEN_SAMPLING, "chat_template_kwargs", "guided_json", "guided_regex", "guided_choice")

_ADAPTER = "tollway.adapters.openai:OpenAIAdapter"
_UNCONFIRMED = " (unconfirmed: not re-read against this page when the row was written)"


def _spec(
    name: str, api_base: str | None, keys: tuple[str, ...], source: str, *, local: bool, quirks: Any
) -> ProviderSpec:
    env_name = name.upper().replace("-", "_")
    return ProviderSpec(
        name=name,
        adapter=_ADAPTER,
        api_base=api_base,
        api_key_env=keys,
        api_base_env=(f"{env_name}_API_BASE",),
        key_required=not local,
        quirks=MappingProxyType(dict(quirks)),
        source=source,
    )


def hosted(name: str, api_base: str | None, keys: tuple[str, ...], source: str, **quirks: Any) -> ProviderSpec:
    """A hosted vendor whose facts were checked against ``source``."""
    return _spec(name, api_base, keys, source, local=False, quirks=quirks)


def hosted_unconfirmed(
    name: str, api_base: str | None, keys: tuple[str, ...], source: str, **quirks: Any
) -> ProviderSpec:
    """A hosted vendor whose facts were not re-checked against ``source``."""
    return _spec(name, api_base, keys, source + _UNCONFIRMED, local=False, quirks=quirks)


def local(name: str, api_base: str, keys: tuple[str, ...], source: str, **quirks: Any) -> ProviderSpec:
    """A server on the caller's machine or network (no key needed; documented default port), checked."""
    return _spec(name, api_base, keys, source, local=True, quirks=quirks)


def local_unconfirmed(name: str, api_base: str, keys: tuple[str, ...], source: str, **quirks: Any) -> ProviderSpec:
    """A server on the caller's machine or network (no key needed; documented default port), not re-checked."""
    return _spec(name, api_base, keys, source + _UNCONFIRMED, local=True, quirks=quirks)
