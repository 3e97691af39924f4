"""Voyage AI (embeddings and rerank only) through the Voyage adapter, against the Voyage fake."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="voyage",
        model="voyage/voyage-3.5",
        fake="voyage_fake",
        environ=lambda fake: {"VOYAGE_API_KEY": "pa-test", "VOYAGE_API_BASE": fake.url},
        supports=frozenset({"embeddings", "rerank"}),
        embedding_model="voyage/voyage-3.5",
        embedding_route="embeddings",
        rerank_model="voyage/rerank-2.5",
        rerank_route="rerank",
    ),
]
