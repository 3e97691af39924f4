"""Which providers exist, how to reach each, and which adapter speaks its wire API: data, loaded lazily.

A model string is ``provider/model`` with LiteLLM's prefixes; a bare name is OpenAI's (``claude-*`` is
Anthropic's, as LiteLLM infers). Every provider is a ``ProviderSpec`` row: adding an OpenAI-compatible vendor is a
row, not code. This is the only module that knows providers by name; everything else reads the spec it returns.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tollway.errors import UnknownProviderError

if TYPE_CHECKING:
    from tollway.adapters.base import Adapter

__all__ = ["PROVIDERS", "ProviderSpec", "load_adapter", "provider_list", "resolve_model"]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One addressable provider.

    ``adapter`` is an import string (``module:Class``) loaded on first use. ``api_key_env`` and ``api_base_env``
    list environment variables in the order they are tried. ``quirks`` holds documented deviations the adapter
    reads (see each adapter's module docstring for the quirks it knows). ``source`` cites where the facts come from.
    """

    name: str
    adapter: str
    api_base: str | None
    api_key_env: tuple[str, ...] = ()
    api_base_env: tuple[str, ...] = ()
    key_required: bool = True
    offline: bool = False
    quirks: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


def _specs(*specs: ProviderSpec) -> Mapping[str, ProviderSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


PROVIDERS: Mapping[str, ProviderSpec] = _specs(
    ProviderSpec(
        name="openai",
        adapter="tollway.adapters.openai:OpenAIAdapter",
        api_base="https://api.openai.com/v1",
        api_key_env=("OPENAI_API_KEY",),
        api_base_env=("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        source="https://platform.openai.com/docs/api-reference/chat",
    ),
    ProviderSpec(
        name="anthropic",
        adapter="tollway.adapters.anthropic:AnthropicAdapter",
        api_base="https://api.anthropic.com",
        api_key_env=("ANTHROPIC_API_KEY",),
        api_base_env=("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"),
        source="https://docs.anthropic.com/en/api/messages",
    ),
    ProviderSpec(
        name="mock",
        # Answers in-process in OpenAI's wire format (tollway.transport.mock), so the OpenAI adapter reads it;
        # permissive: a mock accepts any parameter, whatever provider the caller is rehearsing for.
        adapter="tollway.adapters.openai:OpenAIAdapter",
        api_base="mock://tollway",
        key_required=False,
        offline=True,
        quirks=MappingProxyType({"permissive": True}),
        source="tollway's built-in mock provider (answers in-process; responses are marked tollway-mock)",
    ),
)

# Prefixes that are other names for a provider row.
ALIASES: Mapping[str, str] = MappingProxyType({"text-completion-openai": "openai"})

# Bare model names that are not OpenAI's, recognised as LiteLLM recognises them.
_BARE_PREFIXES: tuple[tuple[str, str], ...] = (("claude-", "anthropic"),)


def provider_list() -> list[str]:
    """Sorted names of every addressable provider prefix (aliases included)."""
    return sorted({*PROVIDERS, *ALIASES})


def resolve_model(model: str, provider: str | None = None) -> tuple[ProviderSpec, str]:
    """Split ``provider/model`` into the provider's spec and the upstream model id.

    ``provider`` (LiteLLM's ``custom_llm_provider``) forces the provider and leaves ``model`` whole.
    """
    if provider is not None:
        return _spec(provider, model), model
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        name = ALIASES.get(prefix, prefix)
        if name in PROVIDERS:
            return PROVIDERS[name], rest
        return _spec(prefix, model), rest
    for bare_prefix, name in _BARE_PREFIXES:
        if model.startswith(bare_prefix):
            return PROVIDERS[name], model
    return PROVIDERS["openai"], model


def _spec(name: str, model: str) -> ProviderSpec:
    name = ALIASES.get(name, name)
    spec = PROVIDERS.get(name)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(name, provider_list(), n=3)
    hint = f" Did you mean {', '.join(repr(c + '/') for c in close)}?" if close else ""
    raise UnknownProviderError(
        f"unknown provider {name!r} in model {model!r}.{hint} Known providers are listed in tollway.provider_list.",
        model=model,
        param="model",
    )


@functools.cache
def load_adapter(import_string: str) -> Adapter:
    """Import and instantiate an adapter class once (adapters are stateless)."""
    module_name, _, class_name = import_string.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    adapter: Adapter = cls()
    return adapter
