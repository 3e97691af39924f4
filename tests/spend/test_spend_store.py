"""``SpendStore`` on SQLite and PostgreSQL: rows round-trip, replays count once, rollups and counters equal the
sums of the rows (hand-computed Decimals), queries filter and page, retention prunes rows and keeps rollups."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from spend_helpers import T0, all_requests, counters, daily_rows, event, many, stored_ids

from tollway.governance.spend_event import SpendEvent
from tollway.storage.database import Database
from tollway.storage.spend_rollup import LOG_COLUMNS, log_values
from tollway.storage.spend_store import ReportRow, SpendStore

K1, K2 = "1" * 64, "2" * 64
D1, D2 = date(2025, 6, 1), date(2025, 6, 2)


def measures(**values: Any) -> dict[str, Any]:
    """A spend_daily row's measures: zeros unless given."""
    row: dict[str, Any] = dict.fromkeys(
        (
            "requests",
            "errors",
            "input_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
            "unpriced",
        ),
        0,
    )
    row["cost"] = Decimal(0)
    row.update(values)
    return row


def sample() -> list[SpendEvent]:
    """Five events over two UTC days, two keys, two model groups, tags, an error, an unpriced call."""
    return [
        event(
            1,
            key_hash=K1,
            user_id="u1",
            team_id="t1",
            customer_id="c1",
            feature="f1",
            model_group="m1",
            tags=["a", "b", "a"],
            cost=Decimal("0.1"),
            input_tokens=10,
            output_tokens=5,
            cached_tokens=2,
            cache_write_tokens=1,
            reasoning_tokens=3,
            counter_scopes=[(f"key:{K1}", "2025-06"), ("team:t1", "2025-06"), (f"key:{K1}", "2025-06")],
        ),
        event(
            2,
            key_hash=K1,
            user_id="u1",
            customer_id="c2",
            model_group="m1",
            tags=["a"],
            cost=Decimal("0.25"),
            status=500,
            input_tokens=7,
            output_tokens=0,
            counter_scopes=[(f"key:{K1}", "2025-06")],
        ),
        event(
            3,
            input_tokens=0,
            output_tokens=0,
            key_hash=K1,
            model_group="m2",
            cost=None,
            counter_scopes=[(f"key:{K1}", "2025-06")],
        ),
        event(
            4,
            input_tokens=0,
            ts=T0 + timedelta(seconds=3),  # the next UTC day
            key_hash=K2,
            team_id="t1",
            model_group="m1",
            cost=Decimal("0.000000000001"),
            output_tokens=9,
            counter_scopes=[(f"key:{K2}", "2025-06"), ("team:t1", "2025-06")],
        ),
        # 01:00 at UTC+2 is still June 1st in UTC: rollups use the UTC day.
        event(
            5,
            input_tokens=0,
            output_tokens=0,
            ts=datetime(2025, 6, 2, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            key_hash=None,
            key_name=None,
            model_group=None,
            cost=Decimal("2"),
            counter_scopes=[],
        ),
    ]


def expected_daily() -> dict[tuple[Any, ...], dict[str, Any]]:
    e1 = {"input_tokens": 10, "output_tokens": 5, "cached_tokens": 2, "cache_write_tokens": 1, "reasoning_tokens": 3}
    return {
        (D1, "key", K1, "m1"): measures(requests=2, errors=1, **{**e1, "input_tokens": 17}, cost=Decimal("0.35")),
        (D1, "key", K1, "m2"): measures(requests=1, unpriced=1),
        (D1, "user", "u1", "m1"): measures(requests=2, errors=1, **{**e1, "input_tokens": 17}, cost=Decimal("0.35")),
        (D1, "team", "t1", "m1"): measures(requests=1, **e1, cost=Decimal("0.1")),
        (D1, "customer", "c1", "m1"): measures(requests=1, **e1, cost=Decimal("0.1")),
        (D1, "customer", "c2", "m1"): measures(requests=1, errors=1, input_tokens=7, cost=Decimal("0.25")),
        (D1, "tag", "a", "m1"): measures(requests=2, errors=1, **{**e1, "input_tokens": 17}, cost=Decimal("0.35")),
        (D1, "tag", "b", "m1"): measures(requests=1, **e1, cost=Decimal("0.1")),
        (D1, "feature", "f1", "m1"): measures(requests=1, **e1, cost=Decimal("0.1")),
        (D1, "model", "m1", "m1"): measures(requests=2, errors=1, **{**e1, "input_tokens": 17}, cost=Decimal("0.35")),
        (D1, "model", "m2", "m2"): measures(requests=1, unpriced=1),
        (D1, "all", "", "m1"): measures(requests=2, errors=1, **{**e1, "input_tokens": 17}, cost=Decimal("0.35")),
        (D1, "all", "", "m2"): measures(requests=1, unpriced=1),
        (D1, "all", "", ""): measures(requests=1, cost=Decimal("2")),
        (D2, "key", K2, "m1"): measures(requests=1, output_tokens=9, cost=Decimal("0.000000000001")),
        (D2, "team", "t1", "m1"): measures(requests=1, output_tokens=9, cost=Decimal("0.000000000001")),
        (D2, "model", "m1", "m1"): measures(requests=1, output_tokens=9, cost=Decimal("0.000000000001")),
        (D2, "all", "", "m1"): measures(requests=1, output_tokens=9, cost=Decimal("0.000000000001")),
    }


EXPECTED_COUNTERS = {
    (f"key:{K1}", "2025-06"): Decimal("0.35"),  # the duplicate scope on event 1 counts once; unpriced adds 0
    ("team:t1", "2025-06"): Decimal("0.100000000001"),
    (f"key:{K2}", "2025-06"): Decimal("0.000000000001"),
}


async def test_rows_round_trip(database: Database) -> None:
    store = SpendStore(database)
    events = sample()
    assert await store.write_batch(events) == 5
    rows, total = await store.logs(page_size=10)
    assert total == 5
    # Stored in UTC, without the counter scopes (not a column); everything else exactly as recorded.
    expected = {e.id: dataclasses.replace(e, ts=e.ts.astimezone(UTC), counter_scopes=[]) for e in events}
    assert {row.id: row for row in rows} == expected
    assert all(row.ts.tzinfo is not None for row in rows)


async def test_nulls_and_falsy_values_round_trip_apart(database: Database) -> None:
    # SQLite gets NULLs as sentinels (0 for text, '' for a float): the values nearest to them stay themselves.
    store = SpendStore(database)
    falsy = event(
        1,
        **dict.fromkeys(("key_name", "user_id", "team_id", "customer_id", "feature", "provider", "error_class"), "0"),
        price_source="",
        cost=Decimal(0),
        ttft_ms=0.0,
        stream=True,
        cache_hit=True,
    )
    nulls = event(2, key_hash=None, key_name=None, model_group=None, provider=None, model=None, cost=None)
    assert await store.write_batch([falsy, nulls]) == 2
    rows, _ = await store.logs()
    stored = {row.id: row for row in rows}
    assert stored[falsy.id] == dataclasses.replace(falsy, counter_scopes=[])
    assert stored[nulls.id] == dataclasses.replace(nulls, counter_scopes=[])


def test_no_nullable_column_holds_integers() -> None:
    # The SQLite writer sends a NULL as 0 to a text or numeric column (NULLIF(?, 0), storage/spend_sqlite.py): 0 is
    # no value of those, but it would be one of an integer column, which then needs a sentinel of its own.
    from sqlalchemy import Integer

    from tollway.storage.schema import spend_logs

    nullable = [spend_logs.columns[name] for name in LOG_COLUMNS if spend_logs.columns[name].nullable]
    assert nullable  # the check below looks at something
    assert [column.name for column in nullable if isinstance(column.type, Integer)] == []


def test_log_values_are_in_column_order() -> None:
    values = {name: f"v-{name}" for name in LOG_COLUMNS if name not in {"ts", "cost"}}
    item = SpendEvent(ts=T0, cost=Decimal("1.5"), **values)  # type: ignore[arg-type]  # any value, to tell them apart
    assert log_values(item) == [getattr(item, name) for name in LOG_COLUMNS]


async def test_rollups_and_counters_equal_hand_computed_sums(database: Database) -> None:
    store = SpendStore(database)
    await store.write_batch(sample())
    assert await daily_rows(database) == expected_daily()
    assert await counters(database) == EXPECTED_COUNTERS
    assert await store.counter(f"key:{K1}", "2025-06") == Decimal("0.35")
    assert await store.counter(f"key:{K1}", "2025-07") == 0


async def test_replays_count_once(database: Database) -> None:
    store = SpendStore(database)
    events = sample()
    assert await store.write_batch(events[:3]) == 3
    assert await store.write_batch(events[:3]) == 0  # a whole batch replayed
    assert await store.write_batch([*events[1:], events[1]]) == 2  # half replayed, half new, one id twice
    assert sorted(await stored_ids(database)) == sorted(e.id for e in events)
    assert await daily_rows(database) == expected_daily()
    assert await counters(database) == EXPECTED_COUNTERS


async def test_batches_add_up(database: Database) -> None:
    store = SpendStore(database)
    for start in range(0, 30, 7):
        await store.write_batch(many(7, start)[: 30 - start])
    assert await all_requests(database) == 30
    spent = await store.counter("key:" + "k" * 64, "2025-06")
    assert spent == sum(Decimal(i) / 1_000_000 for i in range(30)) == Decimal("0.000435")


async def test_report(database: Database) -> None:
    store = SpendStore(database)
    await store.write_batch(sample())
    assert await store.report(D1, D2, "key") == [
        ReportRow(D1, K1, requests=3, errors=1, input_tokens=17, cached_tokens=2, cache_write_tokens=1,
                  output_tokens=5, reasoning_tokens=3, cost=Decimal("0.35"), unpriced=1),
        ReportRow(D2, K2, requests=1, output_tokens=9, cost=Decimal("0.000000000001")),
    ]  # fmt: skip
    days = await store.report(D1, D2)
    assert [(row.day, row.group, row.requests, row.cost, row.unpriced) for row in days] == [
        (D1, "", 4, Decimal("2.35"), 1),
        (D2, "", 1, Decimal("0.000000000001"), 0),
    ]
    assert [(r.group, r.requests) for r in await store.report(D1, D1, "tag")] == [("a", 2), ("b", 1)]
    assert [(r.group, r.cost) for r in await store.report(D1, D2, "model")] == [
        ("m1", Decimal("0.35")),
        ("m2", Decimal(0)),
        ("m1", Decimal("0.000000000001")),
    ]
    one = await store.report(D1, D2, "team", entity_id="t1")
    assert [(r.day, r.requests) for r in one] == [(D1, 1), (D2, 1)]
    assert await store.report(D2, D2, "customer") == []
    with pytest.raises(ValueError, match="group_by"):
        await store.report(D1, D2, "planet")  # type: ignore[arg-type]


async def test_logs_filter_and_page_newest_first(database: Database) -> None:
    store = SpendStore(database)
    events = [
        event(i, user_id=f"u{i % 3}", status=200 if i % 4 else 429, ts=T0 + timedelta(minutes=i)) for i in range(25)
    ]
    await store.write_batch(events)
    newest_first = [e.id for e in reversed(events)]
    pages = [await store.logs(page=page, page_size=10) for page in (1, 2, 3, 4)]
    assert [total for _, total in pages] == [25, 25, 25, 25]
    assert [row.id for rows, _ in pages for row in rows] == newest_first
    assert pages[3][0] == []
    rows, total = await store.logs(user_id="u1", status=200)
    assert {row.id for row in rows} == {e.id for e in events if e.user_id == "u1" and e.status == 200}
    assert total == len(rows) == 6
    rows, total = await store.logs(start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=8))
    assert [row.id for row in rows] == [events[7].id, events[6].id, events[5].id]  # start inclusive, end exclusive
    rows, total = await store.logs(key_hash="nobody")
    assert (rows, total) == ([], 0)
    with pytest.raises(ValueError, match="page_size"):
        await store.logs(page_size=1001)
    with pytest.raises(ValueError, match="page"):
        await store.logs(page=0)


async def test_prune_deletes_old_rows_in_batches_and_keeps_rollups(database: Database) -> None:
    store = SpendStore(database)
    old = [event(i, ts=T0 - timedelta(days=40, seconds=i)) for i in range(7)]
    recent = [event(100 + i) for i in range(3)]
    await store.write_batch(old + recent)
    before = await daily_rows(database)
    assert await store.prune(T0 - timedelta(days=30), batch=3) == 7
    assert sorted(await stored_ids(database)) == sorted(e.id for e in recent)
    assert await daily_rows(database) == before
    assert await store.prune(T0 - timedelta(days=30)) == 0


async def test_amounts_beyond_twelve_places_are_rounded_once_for_rows_and_sums(database: Database) -> None:
    store = SpendStore(database)
    events = [event(1, cost=Decimal("0.0000000000005")), event(2, cost=Decimal("0.1234567890125"))]
    await store.write_batch(events)
    rows, _ = await store.logs()
    assert sorted(row.cost for row in rows if row.cost is not None) == [
        Decimal("0.000000000001"),  # half away from zero, as PostgreSQL's NUMERIC rounds
        Decimal("0.123456789013"),
    ]
    [day] = await store.report(D1, D1)
    assert day.cost == Decimal("0.123456789014")


async def test_long_strings_are_truncated_not_refused(database: Database) -> None:
    store = SpendStore(database)
    await store.write_batch([event(error_class="E" * 100, key_name="sk-" + "x" * 50, tags=["t" * 300])])
    [row], _ = await store.logs()
    assert row.error_class == "E" * 64
    assert row.key_name == ("sk-" + "x" * 50)[:32]
    assert [r.group for r in await store.report(D1, D1, "tag")] == ["t" * 256]


async def test_unstorable_events_are_refused_before_the_database(database: Database) -> None:
    store = SpendStore(database)
    bad = [
        event(id="x" * 33),
        event(cost=Decimal("1e16")),
        event(cost=Decimal("NaN")),
        event(input_tokens=-1),
        event(counter_scopes=[("", "2025-06")]),
    ]
    for item in bad:
        assert store.check_event(item) is not None
        with pytest.raises(ValueError, match="cannot be stored"):
            await store.write_batch([event(), item])
    assert await stored_ids(database) == []
    assert store.check_event(event()) is None
    assert await store.write_batch([]) == 0
