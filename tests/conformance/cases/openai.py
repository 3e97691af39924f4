"""OpenAI through the OpenAI adapter, against the OpenAI fake."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="openai",
        model="openai/gpt-4o-mini",
        fake="openai_fake",
        environ=lambda fake: {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url},
        supports=frozenset(
            {
                "text",
                "system",
                "tools",
                "parallel_tools",
                "images",
                "json",
                "stream",
                "usage",
                "cached",
                "length",
                "errors",
                "mid_stream_error",
                "truncated",
                "embeddings",
            }
        ),
        embedding_model="openai/text-embedding-3-small",
        embedding_route="embeddings",
    ),
    ProviderCase(
        name="openai-reasoning",
        model="openai/o4-mini",
        fake="openai_fake",
        environ=lambda fake: {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url},
        supports=frozenset({"text", "stream", "usage", "reasoning"}),
    ),
]
