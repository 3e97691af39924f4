"""Azure OpenAI through the Azure adapter, against the Azure fake: classic deployment URLs with an API key, the
v1 URL form with an Entra ID token, and a reasoning deployment."""

from conformance.harness import ProviderCase

_ALL_OPENAI_FEATURES = frozenset(
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
        "reasoning",
        "length",
        "errors",
        "mid_stream_error",
        "truncated",
        "embeddings",
    }
)

CASES = [
    ProviderCase(
        name="azure",
        model="azure/my-gpt-4o",
        fake="azure_fake",
        environ=lambda fake: {
            "AZURE_API_KEY": "azure-test-key",
            "AZURE_API_BASE": fake.url,
            "AZURE_API_VERSION": "2024-10-21",
        },
        supports=_ALL_OPENAI_FEATURES,
        embedding_model="azure/text-embedding-3-small",
        embedding_route="embeddings",
    ),
    ProviderCase(
        name="azure-v1-entra",
        model="azure/my-gpt-4o",
        fake="azure_fake",
        environ=lambda fake: {"AZURE_OPENAI_ENDPOINT": fake.v1_url, "AZURE_AD_TOKEN": "entra-test-token"},
        supports=_ALL_OPENAI_FEATURES,
        embedding_model="azure/text-embedding-3-small",
        embedding_route="embeddings",
    ),
    ProviderCase(
        name="azure-reasoning",
        model="azure/o_series/my-reasoner",
        fake="azure_fake",
        environ=lambda fake: {"AZURE_OPENAI_API_KEY": "azure-test-key", "AZURE_OPENAI_ENDPOINT": fake.url},
        supports=frozenset({"text", "stream", "usage", "reasoning", "length"}),
    ),
]
