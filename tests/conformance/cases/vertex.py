"""Vertex AI through the Vertex adapter: Claude (Anthropic format, rawPredict) and Gemini (generateContent)."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="vertex_ai-claude",
        model="vertex_ai/claude-sonnet-4-5@20250929",
        fake="vertex_fake",
        environ=lambda fake: {"VERTEXAI_API_BASE": fake.url, "VERTEXAI_PROJECT": "tollway-test"},
        # A given access token wins over service-account files (the resolver's own tests cover those).
        call_kwargs=lambda fake: {"api_key": "ya29.conformance"},
        chat_route="raw_predict",
        stream_route="stream_raw_predict",
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
            }
        ),
    ),
    ProviderCase(
        name="vertex_ai-gemini",
        model="vertex_ai/gemini-2.5-flash",
        fake="vertex_gemini_fake",
        environ=lambda fake: {"VERTEXAI_API_BASE": fake.url, "VERTEXAI_PROJECT": "tollway-test"},
        call_kwargs=lambda fake: {"api_key": "ya29.conformance", "vertex_location": "europe-west4"},
        chat_route="generate",
        stream_route="stream",
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
            }
        ),
        embedding_model="vertex_ai/text-embedding-005",
        embedding_route="predict",
    ),
]
