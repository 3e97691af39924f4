"""The model list served when ``tollway serve`` runs without a config file.

One wildcard group per provider whose key variable is set (``anthropic/*`` when ``ANTHROPIC_API_KEY`` is), the
built-in ``mock/*`` always (so a fresh machine can be called at once), and a catch-all ``*`` → ``openai/*`` when
``OPENAI_API_KEY`` is set, because a bare model name means OpenAI (LiteLLM's convention).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["default_model_list"]


def default_model_list(environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """LiteLLM-shaped ``model_list`` entries for every provider with a key in ``environ`` plus ``mock/*``."""
    from tollway.registry import PROVIDERS

    env = os.environ if environ is None else environ
    entries: list[dict[str, Any]] = []
    for name in sorted(PROVIDERS):
        spec = PROVIDERS[name]
        if name == "mock" or not spec.api_key_env:
            continue
        if any(env.get(variable) for variable in spec.api_key_env):
            entries.append(_wildcard(f"{name}/*", f"{name}/*"))
    entries.append(_wildcard("mock/*", "mock/*"))
    if "openai" in PROVIDERS and any(env.get(v) for v in PROVIDERS["openai"].api_key_env):
        # Last: the router tries wildcard groups in order, and "*" would otherwise shadow the prefixed ones.
        entries.append(_wildcard("*", "openai/*"))
    return entries


def _wildcard(group: str, model: str) -> dict[str, Any]:
    return {"model_name": group, "litellm_params": {"model": model}}
