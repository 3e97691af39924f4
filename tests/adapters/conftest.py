"""Shared fixtures of the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine


@pytest.fixture
def still_clock() -> Iterator[None]:
    """Time stands still: a stream decoder stamps ``created`` with the second it was made, so two decodings compared
    with ``==`` differed when they fell on either side of a second's boundary (a flaky failure seen in a full run)."""
    with time_machine.travel(1_790_000_000, tick=False):
        yield
