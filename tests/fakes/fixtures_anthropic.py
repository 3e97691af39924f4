"""Fixtures for the Anthropic fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.anthropic import AnthropicFake

__all__ = ["anthropic_fake", "anthropic_server"]


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[AnthropicFake]:
    """One fake Anthropic server per session (per xdist worker); use `anthropic_fake` in tests."""
    from fakes.anthropic import AnthropicFake  # imported here: the SDKs it loads slow down runs that need no fake

    with AnthropicFake() as fake:
        yield fake


@pytest.fixture
def anthropic_fake(anthropic_server: AnthropicFake) -> Iterator[AnthropicFake]:
    """The fake Anthropic upstream with no scripts and no recorded requests."""
    anthropic_server.reset()
    yield anthropic_server
    anthropic_server.reset()
