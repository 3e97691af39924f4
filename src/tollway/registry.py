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
from types import MappingProxyType
from typing import TYPE_CHECKING

from tollway.adapters.compat import COMPATIBLE_PROVIDERS
from tollway.errors import UnknownProviderError
from tollway.spec import ProviderSpec

if TYPE_CHECKING:
    from tollway.adapters.base import Adapter

__all__ = ["PROVIDERS", "ProviderSpec", "load_adapter", "provider_list", "resolve_model", "wire_api"]


def _specs(*specs: ProviderSpec) -> Mapping[str, ProviderSpec]:
    table = {spec.name: spec for spec in specs}
    if len(table) != len(specs):
        raise RuntimeError("two provider rows share a name")  # a data error caught by the registry tests
    return MappingProxyType(table)


_NATIVE = (
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
        name="gemini",
        adapter="tollway.adapters.gemini:GeminiAdapter",
        api_base="https://generativelanguage.googleapis.com",
        api_key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        api_base_env=("GEMINI_API_BASE",),
        source="https://ai.google.dev/api/generate-content",
    ),
    ProviderSpec(
        name="vertex_ai",
        adapter="tollway.adapters.vertex:VertexAdapter",
        # {location}: "global" uses the host without a region prefix (the adapter decides, from Endpoint.params).
        api_base="https://{location}-aiplatform.googleapis.com",
        api_base_env=("VERTEXAI_API_BASE",),
        key_required=False,
        credentials="tollway.credentials.google:VertexCredentials",
        options=("vertex_project", "vertex_location", "vertex_credentials"),
        source="https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference",
    ),
    ProviderSpec(
        name="bedrock",
        adapter="tollway.adapters.bedrock:BedrockAdapter",
        api_base="https://bedrock-runtime.{region}.amazonaws.com",
        api_key_env=("AWS_BEARER_TOKEN_BEDROCK",),
        api_base_env=("AWS_BEDROCK_RUNTIME_ENDPOINT", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
        key_required=False,
        credentials="tollway.credentials.aws:BedrockCredentials",
        options=(
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_region_name",
            "aws_profile_name",
        ),
        source="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html",
    ),
    ProviderSpec(
        name="azure",
        adapter="tollway.adapters.azure:AzureAdapter",
        api_base=None,
        api_key_env=("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
        api_base_env=("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"),
        key_required=False,
        credentials="tollway.credentials.azure:AzureCredentials",
        options=("azure_ad_token", "azure_reasoning_model"),
        source="https://learn.microsoft.com/azure/ai-foundry/openai/reference",
    ),
    ProviderSpec(
        name="cohere",
        adapter="tollway.adapters.cohere:CohereAdapter",
        api_base="https://api.cohere.com",
        api_key_env=("COHERE_API_KEY", "CO_API_KEY"),
        api_base_env=("COHERE_API_BASE",),
        source="https://docs.cohere.com/reference/chat",
    ),
    ProviderSpec(
        name="mistral",
        adapter="tollway.adapters.mistral:MistralAdapter",
        api_base="https://api.mistral.ai/v1",
        api_key_env=("MISTRAL_API_KEY",),
        api_base_env=("MISTRAL_API_BASE",),
        source="https://docs.mistral.ai/api/",
    ),
    ProviderSpec(
        name="ollama",
        adapter="tollway.adapters.ollama:OllamaAdapter",
        api_base="http://localhost:11434",
        api_key_env=("OLLAMA_API_KEY",),
        api_base_env=("OLLAMA_API_BASE", "OLLAMA_HOST"),
        key_required=False,
        source="https://github.com/ollama/ollama/blob/main/docs/api.md",
    ),
    ProviderSpec(
        name="voyage",
        adapter="tollway.adapters.voyage:VoyageAdapter",
        api_base="https://api.voyageai.com/v1",
        api_key_env=("VOYAGE_API_KEY",),
        api_base_env=("VOYAGE_API_BASE",),
        source="https://docs.voyageai.com/reference/embeddings-api",
    ),
    ProviderSpec(
        name="jina_ai",
        adapter="tollway.adapters.jina:JinaAdapter",
        api_base="https://api.jina.ai/v1",
        api_key_env=("JINA_AI_API_KEY", "JINA_API_KEY"),
        api_base_env=("JINA_AI_API_BASE",),
        source="https://jina.ai/embeddings/ and https://jina.ai/reranker/",
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

PROVIDERS: Mapping[str, ProviderSpec] = _specs(*_NATIVE, *COMPATIBLE_PROVIDERS)

# Prefixes that are other names for a provider row.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "text-completion-openai": "openai",
        "ollama_chat": "ollama",  # LiteLLM's name for Ollama's /api/chat, which is what tollway's ollama/ uses
        "cohere_chat": "cohere",
        "vertex_ai_beta": "vertex_ai",
        "jina": "jina_ai",
        "voyageai": "voyage",
        "ai21_chat": "ai21",  # LiteLLM's chat prefix for AI21
        "venice": "veniceai",
        "nanogpt": "nano-gpt",
        "zhipu": "zhipuai",
        "kimi": "moonshot",
        "qwen": "dashscope",
        "nim": "nvidia_nim",
        "github_models": "github",
        "vercel": "vercel_ai_gateway",
    }
)

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
def wire_api(model: str, provider: str | None = None) -> str:
    """The wire API a model string is called with: the adapter module's name (``"anthropic"`` for Anthropic's
    Messages API, ``"openai"`` for OpenAI's and every OpenAI-compatible vendor, ``"gemini"``, ...)."""
    spec, _ = resolve_model(model, provider)
    return spec.adapter.partition(":")[0].rpartition(".")[2]


@functools.cache
def load_adapter(import_string: str) -> Adapter:
    """Import and instantiate an adapter class once (adapters are stateless, so one instance serves every call;
    importing and instantiating one on every call showed in the gateway's request profile, bench/RESULTS.md)."""
    module_name, _, class_name = import_string.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    adapter: Adapter = cls()
    return adapter
