"""Fixtures for the Bedrock fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.bedrock import BedrockFake

__all__ = ["bedrock_fake", "bedrock_server"]


@pytest.fixture(scope="session")
def bedrock_server() -> Iterator[BedrockFake]:
    """One fake Bedrock Runtime per session (per xdist worker); use `bedrock_fake` in tests."""
    from fakes.bedrock import BedrockFake  # imported here: botocore loads slowly

    with BedrockFake() as fake:
        yield fake


@pytest.fixture
def bedrock_fake(bedrock_server: BedrockFake) -> Iterator[BedrockFake]:
    """The fake Bedrock upstream with no scripts and no recorded requests."""
    bedrock_server.reset()
    yield bedrock_server
    bedrock_server.reset()
