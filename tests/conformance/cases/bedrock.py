"""Bedrock (Converse / ConverseStream, SigV4 from env keys) against the Bedrock fake; embeddings via Cohere Embed."""

from conformance.harness import ProviderCase

_KEYS = {"AWS_ACCESS_KEY_ID": "AKIDFAKEBEDROCK", "AWS_SECRET_ACCESS_KEY": "fake-bedrock-secret"}

CASES = [
    ProviderCase(
        name="bedrock",
        model="bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        fake="bedrock_fake",
        environ=lambda fake: {**_KEYS, "AWS_REGION": "us-east-1", "AWS_BEDROCK_RUNTIME_ENDPOINT": fake.url},
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
        stream_route="converse_stream",
        chat_route="converse",
        embedding_model="bedrock/cohere.embed-english-v3",
        embedding_route="invoke",
    ),
]
