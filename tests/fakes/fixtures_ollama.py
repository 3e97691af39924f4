"""Fixtures for the Ollama fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.ollama import OllamaFake

__all__ = ["ollama_fake", "ollama_server"]


@pytest.fixture(scope="session")
def ollama_server() -> Iterator[OllamaFake]:
    """One fake Ollama server per session (per xdist worker); use `ollama_fake` in tests."""
    from fakes.ollama import OllamaFake  # imported here: keeps collection fast for runs that need no fake

    with OllamaFake() as fake:
        yield fake


@pytest.fixture
def ollama_fake(ollama_server: OllamaFake) -> Iterator[OllamaFake]:
    """The fake Ollama upstream with no scripts and no recorded requests."""
    ollama_server.reset()
    yield ollama_server
    ollama_server.reset()
