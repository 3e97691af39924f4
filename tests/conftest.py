"""Shared fixtures: provider env vars cleared for every test, and the loopback fake upstreams."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes import AnthropicFake, OpenAIFake

# Every variable through which an SDK (or tollway) could pick up a real key or endpoint.
PROVIDER_ENVIRONMENT = frozenset(
    {
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_BASE",
        "ANTHROPIC_AUTH_TOKEN",
    }
)


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Run each test without provider credentials or endpoints, and restore the environment after it."""
    original = os.environ.copy()
    for name in PROVIDER_ENVIRONMENT:
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(original)


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIFake]:
    """One fake OpenAI server per session (per xdist worker); use `openai_fake` in tests."""
    from fakes import OpenAIFake  # imported here: the SDKs it loads slow down runs that need no fake

    with OpenAIFake() as fake:
        yield fake


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[AnthropicFake]:
    """One fake Anthropic server per session (per xdist worker); use `anthropic_fake` in tests."""
    from fakes import AnthropicFake

    with AnthropicFake() as fake:
        yield fake


@pytest.fixture
def openai_fake(openai_server: OpenAIFake) -> Iterator[OpenAIFake]:
    """The fake OpenAI upstream with no scripts and no recorded requests."""
    openai_server.reset()
    yield openai_server
    openai_server.reset()


@pytest.fixture
def anthropic_fake(anthropic_server: AnthropicFake) -> Iterator[AnthropicFake]:
    """The fake Anthropic upstream with no scripts and no recorded requests."""
    anthropic_server.reset()
    yield anthropic_server
    anthropic_server.reset()
