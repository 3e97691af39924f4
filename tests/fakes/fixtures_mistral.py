"""Fixtures for the Mistral fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.mistral import MistralFake

__all__ = ["mistral_fake", "mistral_server"]


@pytest.fixture(scope="session")
def mistral_server() -> Iterator[MistralFake]:
    """One fake Mistral server per session (per xdist worker); use `mistral_fake` in tests."""
    from fakes.mistral import MistralFake  # imported here: the SDKs it loads slow down runs that need no fake

    with MistralFake() as fake:
        yield fake


@pytest.fixture
def mistral_fake(mistral_server: MistralFake) -> Iterator[MistralFake]:
    """The fake Mistral upstream with no scripts and no recorded requests."""
    mistral_server.reset()
    yield mistral_server
    mistral_server.reset()
