"""Provider adapters: pure translation between OpenAI shapes and each provider's wire API (see ``base``)."""
