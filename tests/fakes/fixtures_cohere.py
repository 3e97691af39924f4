"""Fixtures for the CohereFake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.cohere import CohereFake

__all__ = ["cohere_fake", "cohere_server"]


@pytest.fixture(scope="session")
def cohere_server() -> Iterator[CohereFake]:
    """One fake server per session (per xdist worker); use `cohere_fake` in tests."""
    from fakes.cohere import CohereFake  # imported here: the SDK it loads slows down runs that need no fake

    with CohereFake() as fake:
        yield fake


@pytest.fixture
def cohere_fake(cohere_server: CohereFake) -> Iterator[CohereFake]:
    """The fake upstream with no scripts and no recorded requests."""
    cohere_server.reset()
    yield cohere_server
    cohere_server.reset()
