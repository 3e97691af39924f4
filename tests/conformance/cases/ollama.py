"""Ollama (``/api/chat``) through the Ollama adapter, against the Ollama fake.

Not claimed: "tools" (its scenarios force a call with ``tool_choice="required"``, which Ollama cannot do; the
adapter raises UnsupportedParamsError, tests/adapters/test_ollama_request.py), "cached" (Ollama reports no cached
tokens).
"""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="ollama",
        model="ollama/llama3.2",
        fake="ollama_fake",
        environ=lambda fake: {"OLLAMA_API_BASE": fake.url},
        supports=frozenset(
            {
                "text",
                "system",
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
        embedding_model="ollama/all-minilm",
        embedding_route="embed",
    ),
]
