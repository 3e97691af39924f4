"""Jina AI (embeddings and rerank only) through the Jina adapter, against the Jina fake."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="jina_ai",
        model="jina_ai/jina-embeddings-v3",
        fake="jina_fake",
        environ=lambda fake: {"JINA_AI_API_KEY": "jina-test", "JINA_AI_API_BASE": fake.url},
        supports=frozenset({"embeddings", "rerank"}),
        embedding_model="jina_ai/jina-embeddings-v3",
        embedding_route="embeddings",
        rerank_model="jina_ai/jina-reranker-v2-base-multilingual",
        rerank_route="rerank",
    ),
]
