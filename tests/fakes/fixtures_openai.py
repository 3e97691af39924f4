"""Fixtures for the OpenAI fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.openai import OpenAIFake

__all__ = ["openai_fake", "openai_server"]


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIFake]:
    """One fake OpenAI server per session (per xdist worker); use `openai_fake` in tests."""
    from fakes.openai import OpenAIFake  # imported here: the SDKs it loads slow down runs that need no fake

    with OpenAIFake() as fake:
        yield fake


@pytest.fixture
def openai_fake(openai_server: OpenAIFake) -> Iterator[OpenAIFake]:
    """The fake OpenAI upstream with no scripts and no recorded requests."""
    openai_server.reset()
    yield openai_server
    openai_server.reset()
