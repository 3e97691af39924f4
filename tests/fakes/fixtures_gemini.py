"""Fixtures for the Gemini fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.gemini import GeminiFake

__all__ = ["gemini_fake", "gemini_server"]


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[GeminiFake]:
    """One fake Gemini server per session (per xdist worker); use `gemini_fake` in tests."""
    from fakes.gemini import GeminiFake  # imported here: the SDKs it loads slow down runs that need no fake

    with GeminiFake() as fake:
        yield fake


@pytest.fixture
def gemini_fake(gemini_server: GeminiFake) -> Iterator[GeminiFake]:
    """The fake Gemini upstream with no scripts and no recorded requests."""
    gemini_server.reset()
    yield gemini_server
    gemini_server.reset()
