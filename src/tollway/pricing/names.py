"""Which genai-prices provider and model refs price a tollway ``provider/model`` (data, pure).

Tollway's provider names are LiteLLM's (``tollway.registry``); genai-prices has its own ids
(https://github.com/pydantic/genai-prices/tree/main/prices/providers). A provider maps to the genai-prices ids to
try in order; a model maps to the refs to try in order: the upstream id as given first (genai-prices' own
matchers know most spellings, and a Bedrock prefix can change the price: AWS bills ``us.``/``eu.`` geo profiles
10% above ``global.``, https://aws.amazon.com/bedrock/pricing/), then normalised spellings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["GENAI_PROVIDERS", "MOCK_PROVIDER", "genai_provider_ids", "model_refs", "split_model"]

MOCK_PROVIDER = "mock"

GENAI_PROVIDERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "openai": ("openai",),
        "text-completion-openai": ("openai",),
        "anthropic": ("anthropic",),
        "gemini": ("google",),
        # Vertex serves Gemini and, as partner models, Claude: genai-prices' "google" lists both and falls back to
        # "anthropic" itself; "anthropic" is tried last for Claude ids google's list lacks.
        "vertex_ai": ("google", "anthropic"),
        "vertex_ai_beta": ("google", "anthropic"),
        "bedrock": ("aws",),
        # Azure deployment names are the customer's; genai-prices' "azure" falls back to openai and others, so a
        # deployment named after its model prices, and any other needs ``base_model`` (see overrides.py).
        "azure": ("azure",),
        "azure_ai": ("azure",),
        "cohere": ("cohere",),
        "cohere_chat": ("cohere",),
        "mistral": ("mistral",),
        "groq": ("groq",),
        "deepseek": ("deepseek",),
        "xai": ("x-ai",),
        "together_ai": ("together",),
        "fireworks_ai": ("fireworks",),
        "openrouter": ("openrouter",),
        "perplexity": ("perplexity",),
        "cerebras": ("cerebras",),
        "moonshot": ("moonshotai",),
        "zai": ("zai",),
        "minimax": ("minimax",),
        "novita": ("novita",),
        "voyage": ("voyageai",),
        "voyageai": ("voyageai",),
        "databricks": ("databricks",),
        "cloudflare": ("cloudflare",),
        "ovhcloud": ("ovhcloud",),
        "baseten": ("baseten",),
        "avian": ("avian",),
        "meta_llama": ("meta",),
    }
)

# Hugging Face's router names the serving provider after a colon: "meta-llama/Llama-3.1-8B-Instruct:cerebras"
# (https://huggingface.co/docs/inference-providers); genai-prices keeps one provider per backend.
_HF_BACKENDS = {"fireworks": "fireworks-ai", "fireworks-ai": "fireworks-ai"}

# Bedrock cross-region inference profile prefixes
# (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html).
_BEDROCK_REGION = re.compile(r"^(?:us|eu|apac|jp|au|ca|us-gov|global)\.")
# Bedrock model versions (":0", ":1:200k") and Vertex publisher versions ("@20250929", "@001").
_VERSION_SUFFIX = re.compile(r"(?::\d+(?::[0-9a-z]+)?|@[0-9a-z-]+)$")
# Path prefixes some callers keep: Bedrock's "converse/"/"invoke/" routes, ARNs, Gemini's "models/".
_PATH_PREFIX = re.compile(r"^(?:converse/|invoke/|arn:aws:bedrock:[^/]*/|models/|publishers/[^/]+/models/)")


def genai_provider_ids(provider: str, model: str) -> tuple[str, ...]:
    """genai-prices provider ids for a tollway provider; empty when tollway knows no mapping (unpriced)."""
    if provider == "huggingface":
        _, sep, backend = model.rpartition(":")
        return (f"huggingface_{_HF_BACKENDS.get(backend, backend)}",) if sep and backend else ()
    return GENAI_PROVIDERS.get(provider, ())


def model_refs(provider: str, model: str) -> tuple[str, ...]:
    """Model refs to look up, most specific first (duplicates removed)."""
    refs = [model]
    if provider == "huggingface":
        refs = [model.rpartition(":")[0] or model]
    bare = _PATH_PREFIX.sub("", refs[0])
    refs.append(bare)
    unversioned = _VERSION_SUFFIX.sub("", bare)
    refs.append(unversioned)
    refs.append(_BEDROCK_REGION.sub("", unversioned))
    return tuple(dict.fromkeys(ref for ref in refs if ref))


# Bare model names priced as LiteLLM resolves them (tollway.registry: a bare name is OpenAI's, ``claude-*``
# Anthropic's); ``gemini-*`` is Google AI Studio's here, since price and catalog lookups have no call to route.
_BARE: tuple[tuple[str, str], ...] = (("claude-", "anthropic"), ("gemini-", "gemini"))


def split_model(model: str) -> tuple[str, str]:
    """``"provider/model"`` → (tollway provider, upstream model id); a bare name gets its provider inferred."""
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        from tollway.registry import ALIASES, PROVIDERS

        name = ALIASES.get(prefix, prefix)
        if name in GENAI_PROVIDERS or name in PROVIDERS or name in ("huggingface", MOCK_PROVIDER):
            return name, rest
    for bare, provider in _BARE:
        if model.startswith(bare):
            return provider, model
    return "openai", model
