"""Fixtures for the Vertex AI fakes and the Google OAuth token fake (collected by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fakes.vertex import GoogleTokenFake, VertexClaudeFake, VertexGeminiFake

__all__ = [
    "google_token_fake",
    "google_token_server",
    "vertex_fake",
    "vertex_gemini_fake",
    "vertex_gemini_server",
    "vertex_server",
]


@pytest.fixture(scope="session")
def vertex_server() -> Iterator[VertexClaudeFake]:
    """One fake Vertex AI (Claude publisher) server per session; use `vertex_fake` in tests."""
    from fakes.vertex import VertexClaudeFake  # imported here: the SDKs it loads slow down runs that need no fake

    with VertexClaudeFake() as fake:
        yield fake


@pytest.fixture
def vertex_fake(vertex_server: VertexClaudeFake) -> Iterator[VertexClaudeFake]:
    """The fake Vertex AI upstream for Claude models, with no scripts and no recorded requests."""
    vertex_server.reset()
    yield vertex_server
    vertex_server.reset()


@pytest.fixture(scope="session")
def vertex_gemini_server() -> Iterator[VertexGeminiFake]:
    """One fake Vertex AI (Google publisher: Gemini, embeddings) server per session; use `vertex_gemini_fake`."""
    from fakes.vertex import VertexGeminiFake

    with VertexGeminiFake() as fake:
        yield fake


@pytest.fixture
def vertex_gemini_fake(vertex_gemini_server: VertexGeminiFake) -> Iterator[VertexGeminiFake]:
    """The fake Vertex AI upstream for Gemini models, with no scripts and no recorded requests."""
    vertex_gemini_server.reset()
    yield vertex_gemini_server
    vertex_gemini_server.reset()


@pytest.fixture(scope="session")
def google_token_server() -> Iterator[GoogleTokenFake]:
    """One fake Google OAuth token endpoint per session; use `google_token_fake` in tests."""
    from fakes.vertex import GoogleTokenFake

    with GoogleTokenFake() as fake:
        yield fake


@pytest.fixture
def google_token_fake(google_token_server: GoogleTokenFake) -> Iterator[GoogleTokenFake]:
    """The fake token endpoint with no accounts, scripts or issued tokens."""
    google_token_server.reset()
    yield google_token_server
    google_token_server.reset()
