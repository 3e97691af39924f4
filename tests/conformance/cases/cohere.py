"""Cohere v2 through the Cohere adapter, against the Cohere fake (chat, embed and rerank routes)."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="cohere",
        model="cohere/command-a-03-2025",
        fake="cohere_fake",
        environ=lambda fake: {"COHERE_API_KEY": "co-test", "COHERE_API_BASE": fake.url},
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
                "reasoning",
                "length",
                "errors",
                "mid_stream_error",
                "truncated",
                "embeddings",
                "rerank",
            }
        ),
        embedding_model="cohere/embed-v4.0",
        embedding_route="embed",
        rerank_model="cohere/rerank-v3.5",
        rerank_route="rerank",
    ),
]
