"""``SpendWriter``: record() spools synchronously; the flusher batches into the store and deletes spool files; an
outage keeps the files and retries with backoff, logging once; dead processes' segments are replayed (once), live
ones are left alone; a torn last line is skipped; unstorable rows are set aside; aclose() is bounded."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from spend_helpers import FakeStore, all_requests, event, many, segments, spooled_ids, stored_ids, until

from tollway.governance import spend_writer
from tollway.governance.spend_writer import SpendWriter
from tollway.storage.database import Database
from tollway.storage.spend_store import SpendStore

WARN_OUTAGE = "cannot write spend rows"
WARN_BACK = "reachable again"


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    """A spool directory of the test's own (the SQLite database file lives beside it, in tmp_path)."""
    return tmp_path / "spool"


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


async def test_rows_flow_to_the_database_in_batches(database: Database, spool: Path) -> None:
    writer = SpendWriter(SpendStore(database), spool, batch_size=10, flush_interval=0.05)
    await writer.start()
    events = many(35)
    for item in events:
        writer.record(item)
    assert writer.pending() == 35
    await until(lambda: writer.pending() == 0)
    assert sorted(await stored_ids(database)) == sorted(e.id for e in events)
    assert await all_requests(database) == 35
    assert segments(spool) == []  # written segments are deleted
    await writer.aclose()
    assert os.listdir(spool) == []


async def test_record_appends_a_line_at_once(spool: Path) -> None:
    store = FakeStore()
    writer = SpendWriter(store, spool)  # not started: nothing is flushed
    events = many(3)
    for item in events:
        writer.record(item)
    [segment] = segments(spool)
    assert segment.name.startswith(f"spend-{os.getpid()}-")
    assert segment.read_bytes() == b"".join(e.to_json() + b"\n" for e in events)
    assert (writer.pending(), writer.spooled(), store.ids) == (3, 0, [])
    assert await writer.flush()
    assert store.ids == [e.id for e in events]
    assert segments(spool) == []
    await writer.aclose()
    with pytest.raises(RuntimeError, match="after aclose"):
        writer.record(event())


async def test_outage_spools_retries_with_backoff_and_logs_once(spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tollway.spend")
    store = FakeStore()
    store.down = True
    writer = SpendWriter(store, spool, batch_size=5, flush_interval=0.02, retry_initial=0.05, retry_max=0.2)
    await writer.start()
    events = many(12)
    for item in events[:7]:
        writer.record(item)  # never raises, never waits
    await until(lambda: len(store.attempts) >= 5)
    for item in events[7:]:
        writer.record(item)
    assert writer.outage
    assert writer.pending() == writer.spooled() == 12
    assert sorted(spooled_ids(spool)) == sorted(e.id for e in events)  # on disk, not only in memory
    gaps = [later - earlier for earlier, later in zip(store.attempts, store.attempts[1:], strict=False)]
    # Exponential backoff: 0.05, 0.1, 0.2, then capped at 0.2 (lower bounds only: a busy machine is slower).
    assert [gap >= floor for gap, floor in zip(gaps, (0.045, 0.095, 0.19, 0.19), strict=False)] == [True] * 4
    assert len(messages(caplog, WARN_OUTAGE)) == 1
    store.down = False
    # The outage ends when the drain does: after the last rows are written (pending() is 0 from then) the writer
    # still looks for more rows in the spilled file, and only then clears it.
    await until(lambda: writer.pending() == 0 and not writer.outage)
    assert sorted(store.ids) == sorted(e.id for e in events)
    assert len(messages(caplog, WARN_BACK)) == 1
    assert segments(spool) == []
    await writer.aclose()


def dead_segment(spool: Path, lines: list[bytes], pid: int = 999_999_999, seq: int = 1) -> Path:
    spool.mkdir(exist_ok=True)
    path = spool / f"spend-{pid}-{seq}.jsonl"
    path.write_bytes(b"".join(lines))
    return path


async def test_dead_process_segments_are_replayed_once(
    database: Database, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tollway.spend")
    store = SpendStore(database)
    first, second = many(4), many(6, start=100)
    await store.write_batch(first[:2])  # the dead process wrote these, then died before deleting its segment
    lines = [e.to_json() + b"\n" for e in first + second]
    older = dead_segment(spool, lines[:4], seq=1)
    newer = dead_segment(spool, [*lines[4:], lines[9][:25]], seq=2)  # killed in the middle of a line
    writer = SpendWriter(store, spool, batch_size=3, flush_interval=0.05)
    await writer.start()
    # A segment's file goes once the writer has read past its last row (the torn line included): after pending()
    # is 0 (every row counted in it is written), not with it.
    await until(lambda: writer.pending() == 0 and not older.exists() and not newer.exists())
    assert sorted(await stored_ids(database)) == sorted(e.id for e in first + second)  # each once
    assert await all_requests(database) == 10
    assert len(messages(caplog, "torn last line")) == 1
    await writer.aclose()


async def test_live_segments_are_left_to_their_owner(spool: Path) -> None:
    now = [1000.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    row = event(1)
    live = dead_segment(spool, [row.to_json() + b"\n"], seq=1)
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # its process is alive
    store = FakeStore()
    writer = SpendWriter(store, spool, clock=clock, rescan_interval=60, flush_interval=0.02)
    try:
        await writer.start()
        assert await writer.flush()
        assert store.ids == []
        assert live.exists()
        os.close(fd)  # ...and now it is gone; the next rescan takes its segment over
        fd = -1
        now[0] += 61
        assert await writer.flush()
        assert store.ids == [row.id]
        assert not live.exists()
    finally:
        if fd >= 0:
            os.close(fd)
        await writer.aclose()


async def test_two_writers_share_a_spool_dir(spool: Path) -> None:
    stores = FakeStore(), FakeStore()
    first, second = (SpendWriter(store, spool, flush_interval=10) for store in stores)
    first.record(event(1))
    await second.start()  # must not take the first writer's live segment
    second.record(event(2))
    assert len(segments(spool)) == 2
    assert await second.flush()
    assert await first.flush()
    assert ([len(s.ids) for s in stores], segments(spool)) == ([1, 1], [])
    await first.aclose()
    await second.aclose()


async def test_unstorable_rows_are_set_aside(database: Database, spool: Path) -> None:
    writer = SpendWriter(SpendStore(database), spool, batch_size=10)
    bad = event(id="x" * 40)
    good = many(3)
    for item in [good[0], bad, *good[1:]]:
        writer.record(item)
    assert await writer.flush()
    assert sorted(await stored_ids(database)) == sorted(e.id for e in good)
    assert writer.rejected == 1
    assert (spool / f"rejected-{os.getpid()}.jsonl").read_bytes() == bad.to_json() + b"\n"
    await writer.aclose()


async def test_aclose_is_bounded_and_leaves_the_rest_for_the_next_start(database: Database, spool: Path) -> None:
    stuck = FakeStore()
    stuck.hang = True  # a database that never answers
    writer = SpendWriter(stuck, spool, close_timeout=0.3, write_timeout=60)
    events = many(5)
    for item in events:
        writer.record(item)
    started = time.monotonic()
    await writer.aclose()
    assert time.monotonic() - started < 5
    assert sorted(spooled_ids(spool)) == sorted(e.id for e in events)
    successor = SpendWriter(SpendStore(database), spool)
    await successor.start()
    assert await successor.flush()
    assert sorted(await stored_ids(database)) == sorted(e.id for e in events)
    await successor.aclose()
    assert segments(spool) == []


async def test_rows_beyond_memory_rows_are_read_back_from_the_file(spool: Path) -> None:
    store = FakeStore()
    store.down = True
    writer = SpendWriter(store, spool, batch_size=4, memory_rows=5)
    events = many(12)
    for item in events:
        writer.record(item)
    assert not await writer.flush()
    store.down = False
    assert await writer.flush()
    assert store.ids == [e.id for e in events]
    await writer.aclose()


async def test_a_full_disk_keeps_rows_in_memory(
    spool: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = FakeStore()
    writer = SpendWriter(store, spool)

    def no_space(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spend_writer, "_write_all", no_space)
    events = many(3)
    for item in events:
        writer.record(item)
    assert writer.pending() == 3
    assert len(messages(caplog, "cannot append to the spend spool")) == 1
    monkeypatch.undo()
    assert await writer.flush()
    assert store.ids == [e.id for e in events]
    await writer.aclose()


async def test_rows_written_clear_an_outage_even_if_their_spool_file_cannot_be_closed(spool: Path) -> None:
    # The rows are in the database: a spool file that cannot be closed or removed afterwards is the spool's problem,
    # not the database's (its rows, if the file stays, are replayed once and recognised by id).
    store = FakeStore()
    writer = SpendWriter(store, spool, batch_size=100, flush_interval=60)
    await writer.start()
    store.down = True
    writer.record(many(1)[0])
    assert not await writer.flush()
    assert writer.outage
    store.down = False
    events = many(3, start=10)
    for item in events:
        writer.record(item)
    os.close(writer._backlog[0].fd)  # closed behind the writer's back (the fd is then reused, or EBADF)
    assert await writer.flush()
    assert len(store.ids) == 4
    assert not writer.outage
    await writer.aclose()
