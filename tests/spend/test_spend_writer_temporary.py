"""Temporary segment names in a shared spool directory: a writer starting up removes those a dead process left, but
not one that another writer has just created and not yet locked (two workers starting together)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from spend_helpers import FakeStore, event

from tollway.governance.spend_writer import SpendWriter


async def test_a_young_unlocked_temporary_segment_is_left_to_its_owner(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    young = spool / ".spend-999999999-1.jsonl.tmp"  # created an instant ago, its owner about to lock it
    old = spool / ".spend-999999998-1.jsonl.tmp"  # left by a process that died in that instant
    young.touch()
    old.touch()
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    store = FakeStore()
    writer = SpendWriter(store, spool, flush_interval=10)
    try:
        await writer.start()
        assert young.exists()
        assert not old.exists()
        writer.record(event(1))
        assert await writer.flush()
        assert len(store.ids) == 1
    finally:
        await writer.aclose()
