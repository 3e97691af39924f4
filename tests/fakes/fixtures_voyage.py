"""Fixtures for the VoyageFake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.voyage import VoyageFake

__all__ = ["voyage_fake", "voyage_server"]


@pytest.fixture(scope="session")
def voyage_server() -> Iterator[VoyageFake]:
    """One fake server per session (per xdist worker); use `voyage_fake` in tests."""
    from fakes.voyage import VoyageFake  # imported here: the SDK it loads slows down runs that need no fake

    with VoyageFake() as fake:
        yield fake


@pytest.fixture
def voyage_fake(voyage_server: VoyageFake) -> Iterator[VoyageFake]:
    """The fake upstream with no scripts and no recorded requests."""
    voyage_server.reset()
    yield voyage_server
    voyage_server.reset()
