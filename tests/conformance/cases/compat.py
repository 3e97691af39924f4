"""A sample of the OpenAI-compatible vendor table, through the OpenAI adapter, against the OpenAI fake.

Each case points the vendor's ``<NAME>_API_BASE`` variable at the fake, so the vendor's row (key variable, quirks
such as Groq's rejected parameters or DeepSeek's ``max_tokens``) is what gets exercised. Features are the ones the
vendor documents and the fake can show (PROVIDERS.md §11).
"""

from collections.abc import Callable
from typing import Any

from conformance.harness import ProviderCase

_COMMON = frozenset({"text", "system", "tools", "parallel_tools", "json", "stream", "usage", "length", "errors"})
_STREAM_FAILURES = frozenset({"mid_stream_error", "truncated"})


def _environ(key_env: str, base_env: str) -> Callable[[Any], dict[str, str]]:
    return lambda fake: {key_env: "test-key", base_env: fake.url}


CASES = [
    ProviderCase(
        name="compat-groq",
        model="groq/llama-3.3-70b-versatile",
        fake="openai_fake",
        environ=_environ("GROQ_API_KEY", "GROQ_API_BASE"),
        supports=_COMMON | _STREAM_FAILURES | {"images"},
    ),
    ProviderCase(
        name="compat-deepseek",
        model="deepseek/deepseek-chat",
        fake="openai_fake",
        environ=_environ("DEEPSEEK_API_KEY", "DEEPSEEK_API_BASE"),
        supports=_COMMON | _STREAM_FAILURES,
    ),
    ProviderCase(
        name="compat-openrouter",
        model="openrouter/openai/gpt-4o-mini",
        fake="openai_fake",
        environ=_environ("OPENROUTER_API_KEY", "OPENROUTER_API_BASE"),
        supports=_COMMON | _STREAM_FAILURES | {"images", "cached"},
    ),
    ProviderCase(
        name="compat-together_ai",
        model="together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        fake="openai_fake",
        environ=_environ("TOGETHER_API_KEY", "TOGETHER_AI_API_BASE"),
        supports=_COMMON | _STREAM_FAILURES | {"images", "embeddings"},
        embedding_model="together_ai/BAAI/bge-base-en-v1.5",
        embedding_route="embeddings",
    ),
    ProviderCase(
        name="compat-xai",
        model="xai/grok-4",
        fake="openai_fake",
        environ=_environ("XAI_API_KEY", "XAI_API_BASE"),
        supports=_COMMON | _STREAM_FAILURES | {"images", "cached"},
    ),
    ProviderCase(
        name="compat-xai-reasoning",
        model="xai/grok-3-mini",
        fake="openai_fake",
        environ=_environ("XAI_API_KEY", "XAI_API_BASE"),
        supports=frozenset({"text", "stream", "usage", "reasoning"}),
    ),
]
