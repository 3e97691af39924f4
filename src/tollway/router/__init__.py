"""The Router: load balancing, retries, cooldowns, fallbacks and caching across deployments (LiteLLM's shape)."""

from tollway.router.router import Router

__all__ = ["Router"]
