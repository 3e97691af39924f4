"""Gemini through the Gemini adapter, against the Gemini fake (Gemini 2.5 budgets; Gemini 3 levels and signatures)."""

from conformance.harness import ProviderCase


def _environ(fake: object) -> dict[str, str]:
    return {"GEMINI_API_KEY": "gemini-test-key", "GEMINI_API_BASE": fake.url}  # type: ignore[attr-defined]


CASES = [
    ProviderCase(
        name="gemini",
        model="gemini/gemini-2.5-flash",
        fake="gemini_fake",
        environ=_environ,
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
        chat_route="generate",
        stream_route="stream",
        embedding_model="gemini/gemini-embedding-001",
        embedding_route="embed",
    ),
    ProviderCase(
        # Gemini 3 rejects a history whose function call lost its thoughtSignature: the tool loop proves the
        # round trip.
        name="gemini-3",
        model="gemini/gemini-3-flash-preview",
        fake="gemini_fake",
        environ=_environ,
        supports=frozenset({"text", "tools", "parallel_tools", "stream", "usage", "reasoning"}),
        chat_route="generate",
        stream_route="stream",
    ),
]
