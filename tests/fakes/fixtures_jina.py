"""Fixtures for the JinaFake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.jina import JinaFake

__all__ = ["jina_fake", "jina_server"]


@pytest.fixture(scope="session")
def jina_server() -> Iterator[JinaFake]:
    """One fake server per session (per xdist worker); use `jina_fake` in tests."""
    from fakes.jina import JinaFake  # imported here: the SDK it loads slows down runs that need no fake

    with JinaFake() as fake:
        yield fake


@pytest.fixture
def jina_fake(jina_server: JinaFake) -> Iterator[JinaFake]:
    """The fake upstream with no scripts and no recorded requests."""
    jina_server.reset()
    yield jina_server
    jina_server.reset()
