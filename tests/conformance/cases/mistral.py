"""Mistral through the Mistral adapter, against the Mistral fake."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="mistral",
        model="mistral/mistral-large-latest",
        fake="mistral_fake",
        environ=lambda fake: {"MISTRAL_API_KEY": "mistral-test", "MISTRAL_API_BASE": fake.url},
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
                "reasoning",
                "length",
                "errors",
                "mid_stream_error",
                "truncated",
                "embeddings",
            }
        ),
        embedding_model="mistral/mistral-embed",
        embedding_route="embeddings",
    ),
]
