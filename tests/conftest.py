"""Shared fixtures: provider env vars cleared for every test, and the loopback fake upstreams."""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

# Store fixtures (database_url over SQLite and PostgreSQL, a migrated database) and Redis fixtures (redis_url,
# redis_prefix): tests/dbfixtures.py and tests/redisfixtures.py.
pytest_plugins = ["dbfixtures", "pricefixtures", "redisfixtures"]

# Prefixes of variables through which an SDK or a credential chain could reach a real account.
CLOUD_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_", "VERTEXAI_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "OLLAMA_")


def provider_environment() -> set[str]:
    """Every key and base-URL variable named by the registry, plus the cloud credential variables present."""
    from tollway.registry import PROVIDERS

    names = {name for spec in PROVIDERS.values() for name in (*spec.api_key_env, *spec.api_base_env)}
    return names | {name for name in os.environ if name.startswith(CLOUD_PREFIXES)}


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Run each test without provider credentials or endpoints, and restore the environment after it."""
    original = os.environ.copy()
    for name in provider_environment():
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(original)


def _provider_fixtures() -> dict[str, Any]:
    """Fixtures of every ``tests/fakes/fixtures_<provider>.py`` module, so each provider adds its own file."""
    import fakes

    found: dict[str, Any] = {}
    for module in pkgutil.iter_modules(fakes.__path__):
        if module.name.startswith("fixtures_"):
            loaded = importlib.import_module(f"fakes.{module.name}")
            found.update({name: getattr(loaded, name) for name in getattr(loaded, "__all__", ())})
    return found


globals().update(_provider_fixtures())
