"""Anthropic through the Anthropic adapter, against the Anthropic fake."""

from conformance.harness import ProviderCase

CASES = [
    ProviderCase(
        name="anthropic",
        model="anthropic/claude-sonnet-4-5",
        fake="anthropic_fake",
        environ=lambda fake: {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake.url},
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
]
