"""Fixtures for the Azure OpenAI fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.azure import AzureFake

__all__ = ["azure_fake", "azure_server"]


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzureFake]:
    """One fake Azure OpenAI resource per session (per xdist worker); use `azure_fake` in tests."""
    from fakes.azure import AzureFake  # imported here: the SDKs it loads slow down runs that need no fake

    with AzureFake() as fake:
        yield fake


@pytest.fixture
def azure_fake(azure_server: AzureFake) -> Iterator[AzureFake]:
    """The fake Azure OpenAI upstream with no scripts and no recorded requests."""
    azure_server.reset()
    yield azure_server
    azure_server.reset()
