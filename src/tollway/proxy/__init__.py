"""The HTTP gateway (``tollway serve``): OpenAI- and Anthropic-compatible routes over a Router."""
